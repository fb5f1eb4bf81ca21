import Foundation
import NeuralNet

/// An smp U-Net as the trainer holds it: the same `UNetGraph` the inference engine runs, with
/// every conv and BatchNorm kept apart and learnable. Its state dict uses smp's names, so what
/// it writes loads in the engine (which folds the BatchNorms) and in PyTorch.
public final class TrainableUNet {
    public let architecture: UNetArchitecture
    let graph: UNetGraph
    /// Every learnable tensor, in state-dict order.
    public let parameters: [Parameter]
    private let weights: [String: Parameter]
    private let biases: [String: Parameter]
    private let norms: [String: BatchNormState]
    /// Encoder stages before this one (1 = the stem at 1/2, … 5 = the deepest) keep their weights
    /// and BatchNorm statistics; 0 trains everything, as the U-Net paper found best.
    public var firstTrainedStage = 0 {
        didSet { updateTrainability() }
    }

    /// A network with He-initialised convs (Xavier for the head), BatchNorm at identity, and
    /// `seed` deciding every value.
    public init(architecture: UNetArchitecture, seed: UInt64) {
        self.architecture = architecture
        graph = UNetGraph(architecture)
        var generator = SeededGenerator(seed: seed)
        var parameters: [Parameter] = []
        var weights: [String: Parameter] = [:]
        var biases: [String: Parameter] = [:]
        var norms: [String: BatchNormState] = [:]
        for spec in graph.convolutions {
            let fanIn = spec.inChannels * spec.kernel.height * spec.kernel.width
            let isHead = spec.name == graph.head.name
            let deviation = isHead ? (2 / Float(fanIn + spec.outChannels)).squareRoot() : (2 / Float(fanIn)).squareRoot()
            let shape = [spec.outChannels, spec.inChannels, spec.kernel.height, spec.kernel.width]
            let weight = Parameter(name: "\(spec.name).weight", shape: shape,
                                   values: (0..<shape.reduce(1, *)).map { _ in generator.normal() * deviation })
            weights[spec.name] = weight
            parameters.append(weight)
            if spec.bias {
                let bias = Parameter(name: "\(spec.name).bias", shape: [spec.outChannels], values: [Float](repeating: 0, count: spec.outChannels))
                biases[spec.name] = bias
                parameters.append(bias)
            }
            if let norm = spec.batchNorm {
                let state = BatchNormState(name: norm, channels: spec.outChannels, epsilon: spec.epsilon)
                norms[spec.name] = state
                parameters += [state.weight, state.bias]
            }
        }
        self.parameters = parameters
        self.weights = weights
        self.biases = biases
        self.norms = norms
    }

    private func updateTrainability() {
        let frozen = Set(graph.stages.prefix(firstTrainedStage).flatMap(\.convolutions).map(\.name))
        for spec in graph.convolutions {
            let trainable = !frozen.contains(spec.name)
            for parameter in [weights[spec.name], biases[spec.name], norms[spec.name]?.weight, norms[spec.name]?.bias].compactMap({ $0 }) {
                parameter.isTrainable = trainable
            }
        }
    }

    // MARK: - Forward and backward

    /// Runs the network on a batch. Returns the logits and a function that takes the loss's
    /// gradient with respect to them and adds every trainable parameter's gradient to it.
    /// With `training`, BatchNorm uses batch statistics (frozen stages excepted).
    public func forward(_ input: Tensor, training: Bool) -> (logits: Tensor, backward: (Tensor) -> Void) {
        var features: [Tensor] = []
        var stageBackwards: [Backward] = []
        for (index, stage) in graph.stages.enumerated() {
            let (output, backward) = run(stage, features.last ?? input, training: training && index >= firstTrainedStage)
            features.append(output)
            stageBackwards.append(backward)
        }
        let sizes = UNetGraph.decoderSizes(features: features.map { ($0.height, $0.width) })
        var (x, centerBackward) = run(.chain(graph.center), features.last!, training: training)
        var blockBackwards: [(resize: Backward, skip: Int, channels: Int, convs: Backward)] = []
        for (index, block) in graph.blocks.enumerated() {
            let resizing = resize(x, height: sizes[index].height, width: sizes[index].width)
            x = resizing.0
            let channels = x.channels
            let skip = features.count - 2 - index
            if skip > 0 { x = concatenateChannels([x, features[skip]]) }
            let convs = run(.chain([.conv(block.conv1), .conv(block.conv2)]), x, training: training)
            x = convs.0
            blockBackwards.append((resizing.1, skip, channels, convs.1))
        }
        let (logits, headBackward) = run(.conv(graph.head), x, training: training)

        return (logits, { [firstTrainedStage] logitsGradient in
            var featureGradients = [Tensor?](repeating: nil, count: features.count)
            func addGradient(_ gradient: Tensor, to feature: Int) {
                featureGradients[feature] = featureGradients[feature].map { sum($0, gradient) } ?? gradient
            }
            var gradient = headBackward(logitsGradient)
            for block in blockBackwards.reversed() {
                gradient = block.convs(gradient)
                if block.skip > 0 {
                    let parts = splitChannels(gradient, [block.channels, gradient.channels - block.channels])
                    addGradient(parts[1], to: block.skip)
                    gradient = parts[0]
                }
                gradient = block.resize(gradient)
            }
            addGradient(centerBackward(gradient), to: features.count - 1)
            for index in stride(from: features.count - 1, through: max(firstTrainedStage, 0), by: -1) {
                guard let gradient = featureGradients[index] else { continue }
                let inputGradient = stageBackwards[index](gradient)
                if index > 0 { addGradient(inputGradient, to: index - 1) }
            }
        })
    }

    private func run(_ layer: Layer, _ x: Tensor, training: Bool) -> (Tensor, Backward) {
        switch layer {
        case let .conv(spec):
            let (convolved, convBackward) = convolution(x, spec, weight: weights[spec.name]!, bias: biases[spec.name])
            guard let norm = norms[spec.name] else {
                guard spec.relu else { return (convolved, convBackward) }
                let output = Tensor(batch: convolved.batch, channels: convolved.channels, height: convolved.height, width: convolved.width,
                                    data: convolved.data.map { max($0, 0) })
                return (output, { gradient in convBackward(maskedByPositive(gradient, output)) })
            }
            let (normalised, normBackward) = batchNorm(convolved, norm, training: training, relu: spec.relu)
            return (normalised, { convBackward(normBackward($0)) })
        case let .maxPool(kernel, stride, padding):
            return maxPool(x, kernel: kernel, stride: stride, padding: padding)
        case .averagePool3x3:
            return averagePool(x)
        case let .chain(layers):
            var output = x
            var backwards: [Backward] = []
            for layer in layers {
                let (next, backward) = run(layer, output, training: training)
                output = next
                backwards.append(backward)
            }
            return (output, { gradient in backwards.reversed().reduce(gradient) { $1($0) } })
        case let .residual(main, shortcut):
            let (branch, branchBackward) = run(.chain(main), x, training: training)
            let (skipped, skipBackward) = shortcut.map { run(.conv($0), x, training: training) } ?? (x, { $0 })
            let output = add(branch, skipped, relu: true)
            return (output, { gradient in
                let masked = maskedByPositive(gradient, output)
                return sum(branchBackward(masked), skipBackward(masked))
            })
        case let .branches(layers):
            let results = layers.map { run($0, x, training: training) }
            let outputs = results.map(\.0)
            return (concatenateChannels(outputs), { gradient in
                let gradients = zip(splitChannels(gradient, outputs.map(\.channels)), results).map { $1.1($0) }
                return gradients.dropFirst().reduce(gradients[0]) { sum($0, $1) }
            })
        }
    }

    // MARK: - State dict

    /// One state-dict tensor: its name and shape, and how to read and replace its values.
    private struct StateTensor {
        var name: String
        var shape: [Int]
        var values: () -> [Float]
        var replace: ([Float]) -> Void
    }

    /// The state dict's tensors, each readable and replaceable: what `stateDict()` writes and
    /// `load(_:)` reads back.
    private var stateTensors: [StateTensor] {
        graph.convolutions.flatMap { spec -> [StateTensor] in
            var tensors = ([weights[spec.name]] + [biases[spec.name]]).compactMap { $0 }.map { parameter in
                StateTensor(name: parameter.name, shape: parameter.shape, values: { parameter.values }, replace: { parameter.values = $0 })
            }
            if let norm = norms[spec.name], let name = spec.batchNorm {
                let channels = [spec.outChannels]
                tensors += [StateTensor(name: "\(name).weight", shape: channels, values: { norm.weight.values }, replace: { norm.weight.values = $0 }),
                            StateTensor(name: "\(name).bias", shape: channels, values: { norm.bias.values }, replace: { norm.bias.values = $0 }),
                            StateTensor(name: "\(name).running_mean", shape: channels, values: { norm.runningMean }, replace: { norm.runningMean = $0 }),
                            StateTensor(name: "\(name).running_var", shape: channels, values: { norm.runningVariance }, replace: { norm.runningVariance = $0 })]
            }
            return tensors
        }
    }

    /// Every tensor under smp's state-dict names, BatchNorm running statistics included, in the
    /// order `UNet.parameterShapes` lists them.
    public func stateDict() -> [SafeTensorsFile.Tensor32] {
        stateTensors.map { SafeTensorsFile.Tensor32(name: $0.name, shape: $0.shape, values: $0.values()) }
    }

    /// Copies every tensor of `file` whose name this network has: a previous model, or
    /// pretrained encoder weights. Returns how many it copied; a tensor of the right name and the
    /// wrong shape, or a file that matches nothing, is an error.
    @discardableResult
    public func load(_ file: SafeTensorsFile) throws -> Int {
        var copied = 0
        var problems: [String] = []
        for tensor in stateTensors {
            guard let entry = file.entries[tensor.name] else { continue }
            if entry.shape.count == 4, tensor.shape.count == 4, entry.shape[1] == 1, tensor.shape[1] > 1,
               entry.shape[0] == tensor.shape[0], entry.shape[2...] == tensor.shape[2...] {
                // A 2-D model's first convolution into a 2.5-D one: its weights on the middle
                // channel (the slice itself) and zeros on the neighbours, so training starts
                // from exactly the 2-D model's output.
                tensor.replace(Self.onMiddleChannel(try file.floats(tensor.name), shape: tensor.shape))
                copied += 1
                continue
            }
            guard entry.shape.reduce(1, *) == tensor.shape.reduce(1, *) else {
                problems.append("\(tensor.name) has shape \(entry.shape)")
                continue
            }
            tensor.replace(try file.floats(tensor.name))
            copied += 1
        }
        guard problems.isEmpty, copied > 0 else {
            throw ModelError.weightsDoNotMatch(problems.isEmpty ? ["no tensor in the file has a name this network uses"] : problems)
        }
        return copied
    }
}

extension TrainableUNet {
    /// [out][1][kh][kw] weights spread to [out][channels][kh][kw], zero but for the middle channel.
    static func onMiddleChannel(_ weights: [Float], shape: [Int]) -> [Float] {
        let (channels, kernel) = (shape[1], shape[2] * shape[3])
        var spread = [Float](repeating: 0, count: shape.reduce(1, *))
        for out in 0..<shape[0] {
            let target = (out * channels + channels / 2) * kernel
            spread.replaceSubrange(target..<(target + kernel), with: weights[(out * kernel)..<((out + 1) * kernel)])
        }
        return spread
    }
}

/// The gradient where `output` is positive, zero elsewhere: ReLU's backward.
func maskedByPositive(_ gradient: Tensor, _ output: Tensor) -> Tensor {
    var masked = gradient
    for index in masked.data.indices where output.data[index] <= 0 { masked.data[index] = 0 }
    return masked
}
