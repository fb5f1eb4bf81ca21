/// The encoders of segmentation_models_pytorch 0.6.0 that kidneyseg implements, by smp's names.
public enum EncoderName: String, Codable, Sendable, CaseIterable {
    case resnet18, resnet34, resnet50, resnet101
    case vgg16bn = "vgg16_bn"
    case inceptionV3 = "tu-inception_v3"
}

/// What an smp `Unet` is built from. With `encoderWidth` 1 and the default decoder channels, the
/// network is exactly smp's; smaller widths make the compact models kidneyseg trains itself.
public struct UNetArchitecture: Codable, Equatable, Sendable {
    public var encoder: EncoderName
    public var inChannels: Int
    public var classes: Int
    /// Multiplies every encoder channel count (rounded, at least 1).
    public var encoderWidth: Double
    public var decoderChannels: [Int]

    public init(encoder: EncoderName, inChannels: Int = 1, classes: Int = 3, encoderWidth: Double = 1,
                decoderChannels: [Int] = [256, 128, 64, 32, 16]) {
        self.encoder = encoder
        self.inChannels = inChannels
        self.classes = classes
        self.encoderWidth = encoderWidth
        self.decoderChannels = decoderChannels
    }

    enum CodingKeys: String, CodingKey {
        case encoder, classes
        case inChannels = "in_channels"
        case encoderWidth = "encoder_width"
        case decoderChannels = "decoder_channels"
    }

    /// A channel count of the full-size encoder, scaled by `encoderWidth`.
    func scaled(_ channels: Int) -> Int { max(1, Int((Double(channels) * encoderWidth).rounded())) }
}

/// segmentation_models_pytorch's `Unet` for inference: its `UNetGraph` run with every conv's
/// BatchNorm folded in, giving logits at the input's size.
public struct UNet: Sendable {
    public let architecture: UNetArchitecture
    let graph: UNetGraph
    /// The folded convs by state-dict name.
    let convs: [String: Conv2d]

    /// Builds the network from PyTorch state-dict tensors; every tensor is checked by name and shape.
    public init(architecture: UNetArchitecture, weights file: SafeTensorsFile) throws {
        let weights = WeightLoader(file: file)
        self.init(architecture: architecture, loader: weights)
        try weights.finish()
    }

    private init(architecture: UNetArchitecture, loader weights: WeightLoader) {
        self.architecture = architecture
        graph = UNetGraph(architecture)
        convs = Dictionary(uniqueKeysWithValues: graph.convolutions.map { ($0.name, weights.foldedConv($0)) })
    }

    /// The state-dict names and shapes an architecture's weights file must hold (BatchNorm's
    /// `num_batches_tracked` counters aside), in the order the network runs them.
    public static func parameterShapes(of architecture: UNetArchitecture) -> [(name: String, shape: [Int])] {
        let empty = try! SafeTensorsFile(data: SafeTensorsFile.encode([]))
        let loader = WeightLoader(file: empty)
        _ = UNet(architecture: architecture, loader: loader)
        return loader.requested
    }

    /// Raw class scores, batch × classes × height × width. Height and width must be multiples of 32.
    public func logits(_ input: Tensor) -> Tensor {
        precondition(input.channels == architecture.inChannels, "the model takes \(architecture.inChannels) input channels")
        var features: [Tensor] = []
        for stage in graph.stages { features.append(run(stage, features.last ?? input)) }
        let sizes = UNetGraph.decoderSizes(features: features.map { ($0.height, $0.width) })
        var x = run(.chain(graph.center), features.last!)
        for (index, block) in graph.blocks.enumerated() {
            x = LayerProfile.measure("resize \(x.channels) to \(sizes[index].height)x\(sizes[index].width)", method: "resize") {
                resizeNearest(x, height: sizes[index].height, width: sizes[index].width)
            }
            let skip = features.count - 2 - index
            if skip > 0 { x = concatenated([x, features[skip]]) }
            x = run(.conv(block.conv2), run(.conv(block.conv1), x))
        }
        return run(.conv(graph.head), x)
    }

    /// Class probabilities: softmax over the logits.
    public func probabilities(_ input: Tensor) -> Tensor { softmaxChannels(logits(input)) }

    private func run(_ layer: Layer, _ x: Tensor) -> Tensor {
        switch layer {
        case let .conv(spec): return convs[spec.name]!(x)
        case let .maxPool(kernel, stride, padding):
            return LayerProfile.measure("max pool \(kernel)/\(stride) \(x.channels) \(x.height)x\(x.width)", method: "pool") {
                maxPool2d(x, kernel: kernel, stride: stride, padding: padding)
            }
        case .averagePool3x3:
            return LayerProfile.measure("avg pool 3x3 \(x.channels) \(x.height)x\(x.width)", method: "pool") { averagePool3x3(x) }
        case let .chain(layers): return layers.reduce(x) { run($1, $0) }
        case let .residual(main, shortcut):
            // The block's last conv adds the shortcut and applies the ReLU as it finishes.
            let identity = shortcut.map { convs[$0.name]!(x) } ?? x
            guard case let .conv(last)? = main.last else { return add(run(.chain(main), x), identity, relu: true) }
            return convs[last.name]!.residual(run(.chain(main.dropLast()), x), adding: identity)
        case let .branches(layers): return concatenated(layers.map { run($0, x) })
        }
    }

    private func concatenated(_ tensors: [Tensor]) -> Tensor {
        LayerProfile.measure("concat \(tensors.map { String($0.channels) }.joined(separator: "+")) \(tensors[0].height)x\(tensors[0].width)",
                             method: "concat") { concatenateChannels(tensors) }
    }
}

public enum ModelError: Error, Equatable, Sendable, CustomStringConvertible {
    case weightsDoNotMatch([String])
    case invalidManifest(name: String, reason: String)
    case unreadable(path: String, reason: String)

    public var description: String {
        switch self {
        case let .weightsDoNotMatch(problems):
            "the weights do not fit the architecture: " + problems.prefix(20).joined(separator: "; ")
                + (problems.count > 20 ? "; and \(problems.count - 20) more" : "")
        case let .invalidManifest(name, reason):
            "invalid manifest for model \(name): \(reason)"
        case let .unreadable(path, reason):
            "cannot read \(path): \(reason)"
        }
    }
}
