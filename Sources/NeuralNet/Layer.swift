/// One conv of a network, named as in the PyTorch state dict (`<name>.weight`, `<name>.bias`),
/// optionally followed by BatchNorm (`<batchNorm>.weight`, `.bias`, `.running_mean`,
/// `.running_var`) and ReLU. Inference folds the BatchNorm into the conv; training keeps it apart.
public struct ConvSpec: Sendable {
    public var name: String
    public var batchNorm: String?
    public var epsilon: Double
    public var inChannels: Int
    public var outChannels: Int
    public var kernel: (height: Int, width: Int)
    public var stride: (height: Int, width: Int)
    public var padding: (height: Int, width: Int)
    public var bias: Bool
    public var relu: Bool

    public init(_ name: String, batchNorm: String?, epsilon: Double = 1e-5, in inChannels: Int, out outChannels: Int, kernel: (Int, Int),
                stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0), bias: Bool = false, relu: Bool = true) {
        self.name = name
        self.batchNorm = batchNorm
        self.epsilon = epsilon
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.bias = bias
        self.relu = relu
    }
}

/// A network as data: what runs, in what order, with which named weights. The inference engine
/// and the trainer both interpret the same layers, so an architecture is written down once.
public indirect enum Layer: Sendable {
    case conv(ConvSpec)
    /// PyTorch's floor rule for the output size; padding never wins the max.
    case maxPool(kernel: Int, stride: Int, padding: Int)
    /// 3x3, stride 1, padding 1, counting the padding.
    case averagePool3x3
    /// Each layer's output is the next one's input; an empty chain passes its input through.
    case chain([Layer])
    /// ReLU(main(x) + shortcut(x)), where a missing shortcut is x itself: a ResNet block.
    case residual(main: [Layer], shortcut: ConvSpec?)
    /// Every branch runs on the same input; their outputs are concatenated along channels.
    case branches([Layer])

    /// Every conv, in the order the layers run them.
    public var convolutions: [ConvSpec] {
        switch self {
        case let .conv(spec): [spec]
        case .maxPool, .averagePool3x3: []
        case let .chain(layers), let .branches(layers): layers.flatMap(\.convolutions)
        case let .residual(main, shortcut): main.flatMap(\.convolutions) + (shortcut.map { [$0] } ?? [])
        }
    }

    /// Channels out for `input` channels in.
    public func outChannels(input: Int) -> Int {
        switch self {
        case let .conv(spec): spec.outChannels
        case .maxPool, .averagePool3x3: input
        case let .chain(layers): layers.reduce(input) { $1.outChannels(input: $0) }
        case let .residual(main, _): Layer.chain(main).outChannels(input: input)
        case let .branches(layers): layers.reduce(0) { $0 + $1.outChannels(input: input) }
        }
    }
}

/// segmentation_models_pytorch's `Unet` as layers.
///
/// - The encoder's six stages give smp's feature list: stage 0 turns the input into feature 0
///   (the input itself, or vgg's first full-resolution map), and stage i turns feature i-1 into
///   feature i, at falling resolution.
/// - The decoder takes the deepest feature through `center` (vgg only), then each block resizes
///   (nearest) to the next shallower feature's size, concatenates that feature as a skip
///   (upsampled map first; none after the shallowest), and applies two conv-BN-ReLU layers.
/// - A 3x3 conv head gives the logits.
public struct UNetGraph: Sendable {
    public struct DecoderBlock: Sendable {
        public var conv1: ConvSpec
        public var conv2: ConvSpec
    }

    public var stages: [Layer]
    public var center: [Layer]
    public var blocks: [DecoderBlock]
    public var head: ConvSpec

    public init(_ architecture: UNetArchitecture) {
        stages = switch architecture.encoder {
        case .resnet18, .resnet34, .resnet50, .resnet101: ResNetEncoder.stages(architecture)
        case .vgg16bn: VGGEncoder.stages(architecture)
        case .inceptionV3: InceptionV3Encoder.stages(architecture)
        }
        var channels: [Int] = []
        for stage in stages { channels.append(stage.outChannels(input: channels.last ?? architecture.inChannels)) }
        let deepestFirst = Array(channels.dropFirst().reversed())
        let head = deepestFirst[0]
        center = architecture.encoder == .vgg16bn ? (0..<2).map {
            .conv(ConvSpec("decoder.center.\($0).0", batchNorm: "decoder.center.\($0).1", in: head, out: head, kernel: (3, 3), padding: (1, 1)))
        } : []
        let decoderChannels = architecture.decoderChannels
        let inputs = [head] + decoderChannels.dropLast()
        let skips = Array(deepestFirst.dropFirst()) + [0]
        blocks = decoderChannels.indices.map { index in
            let name = "decoder.blocks.\(index)"
            let out = decoderChannels[index]
            return DecoderBlock(
                conv1: ConvSpec("\(name).conv1.0", batchNorm: "\(name).conv1.1", in: inputs[index] + skips[index], out: out, kernel: (3, 3), padding: (1, 1)),
                conv2: ConvSpec("\(name).conv2.0", batchNorm: "\(name).conv2.1", in: out, out: out, kernel: (3, 3), padding: (1, 1)))
        }
        self.head = ConvSpec("segmentation_head.0", batchNorm: nil, in: decoderChannels.last!, out: architecture.classes,
                             kernel: (3, 3), padding: (1, 1), bias: true, relu: false)
    }

    /// Every conv in the order the network runs them.
    public var convolutions: [ConvSpec] {
        stages.flatMap(\.convolutions) + center.flatMap(\.convolutions) + blocks.flatMap { [$0.conv1, $0.conv2] } + [head]
    }

    /// The (height, width) each decoder block resizes to, from the features' sizes shallowest first.
    public static func decoderSizes(features: [(height: Int, width: Int)]) -> [(height: Int, width: Int)] {
        Array(features.reversed().dropFirst())
    }
}
