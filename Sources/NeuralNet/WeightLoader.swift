/// Takes a model's tensors from a safetensors file by their PyTorch state-dict names, checking
/// each shape. Problems are collected rather than thrown one at a time, so a wrong file is
/// reported with every missing, unexpected and mis-shaped name at once.
final class WeightLoader {
    private let file: SafeTensorsFile
    private var used: Set<String> = []
    private var problems: [String] = []
    /// Every tensor the model asked for, in order: the architecture's full parameter list.
    private(set) var requested: [(name: String, shape: [Int])] = []

    init(file: SafeTensorsFile) { self.file = file }

    /// The tensor's values, or zeros (with a problem recorded) when it is missing or mis-shaped.
    func tensor(_ name: String, shape: [Int]) -> [Float] {
        requested.append((name, shape))
        let count = shape.reduce(1, *)
        guard let entry = file.entries[name] else {
            problems.append("missing \(name) \(shape)")
            return [Float](repeating: 0, count: count)
        }
        used.insert(name)
        guard entry.shape == shape else {
            problems.append("\(name) has shape \(entry.shape), expected \(shape)")
            return [Float](repeating: 0, count: count)
        }
        do { return try file.floats(name) } catch {
            problems.append("\(error)")
            return [Float](repeating: 0, count: count)
        }
    }

    /// A conv as `spec` names it, with its BatchNorm (if any) folded in and ReLU fused when asked.
    func foldedConv(_ spec: ConvSpec) -> Conv2d {
        let conv = Conv2d(inChannels: spec.inChannels, outChannels: spec.outChannels, kernel: spec.kernel, stride: spec.stride,
                          padding: spec.padding,
                          weights: tensor("\(spec.name).weight", shape: [spec.outChannels, spec.inChannels, spec.kernel.height, spec.kernel.width]),
                          bias: spec.bias ? tensor("\(spec.name).bias", shape: [spec.outChannels]) : nil, relu: spec.relu)
        guard let norm = spec.batchNorm else { return conv }
        return conv.folding(batchNorm(norm, channels: spec.outChannels, epsilon: spec.epsilon))
    }

    func batchNorm(_ name: String, channels: Int, epsilon: Double) -> BatchNorm {
        used.insert("\(name).num_batches_tracked")  // a training counter, unused at inference
        return BatchNorm(weight: tensor("\(name).weight", shape: [channels]), bias: tensor("\(name).bias", shape: [channels]),
                         runningMean: tensor("\(name).running_mean", shape: [channels]),
                         runningVariance: tensor("\(name).running_var", shape: [channels]), epsilon: epsilon)
    }

    /// Throws when anything was missing or mis-shaped, or when the file holds tensors the model
    /// does not use.
    func finish() throws {
        let unexpected = Set(file.entries.keys).subtracting(used).sorted()
        let all = problems + unexpected.map { "unexpected \($0)" }
        guard all.isEmpty else { throw ModelError.weightsDoNotMatch(all) }
    }
}
