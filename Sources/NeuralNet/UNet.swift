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

/// An encoder returns smp's feature list: features[0] at the input's size (the input itself, or
/// vgg's first full-resolution map), then five maps at falling resolution.
protocol UNetEncoder: Sendable {
    /// Channels of each of the six features.
    var outChannels: [Int] { get }
    func features(_ input: Tensor) -> [Tensor]
    /// Every conv, for counting work.
    var convolutions: [Conv2d] { get }
}

/// smp's `UnetDecoder`: each block resizes (nearest) to the next feature's size, concatenates
/// that feature as a skip (upsampled map first), then applies two 3x3 conv-BN-ReLU layers.
struct UNetDecoder: Sendable {
    struct Block: Sendable {
        var conv1: Conv2d
        var conv2: Conv2d
    }

    /// vgg's two extra 3x3 conv-BN-ReLU layers on the deepest feature; empty for other encoders.
    var center: [Conv2d]
    var blocks: [Block]

    init(weights: WeightLoader, encoderChannels: [Int], decoderChannels: [Int], hasCenter: Bool) {
        let deepestFirst = Array(encoderChannels.dropFirst().reversed())
        let head = deepestFirst[0]
        center = hasCenter ? (0..<2).map {
            weights.convBN(conv: "decoder.center.\($0).0", bn: "decoder.center.\($0).1", in: head, out: head, kernel: (3, 3), padding: (1, 1))
        } : []
        let inputs = [head] + decoderChannels.dropLast()
        let skips = Array(deepestFirst.dropFirst()) + [0]
        blocks = decoderChannels.indices.map { index in
            let name = "decoder.blocks.\(index)"
            let out = decoderChannels[index]
            return Block(
                conv1: weights.convBN(conv: "\(name).conv1.0", bn: "\(name).conv1.1", in: inputs[index] + skips[index], out: out,
                                      kernel: (3, 3), padding: (1, 1)),
                conv2: weights.convBN(conv: "\(name).conv2.0", bn: "\(name).conv2.1", in: out, out: out, kernel: (3, 3), padding: (1, 1))
            )
        }
    }

    func callAsFunction(_ features: [Tensor]) -> Tensor {
        let deepestFirst = Array(features.dropFirst().reversed())
        let targetSizes = features.reversed().dropFirst().map { ($0.height, $0.width) }
        var x = center.reduce(deepestFirst[0]) { $1($0) }
        for (index, block) in blocks.enumerated() {
            x = resizeNearest(x, height: targetSizes[index].0, width: targetSizes[index].1)
            if index + 1 < deepestFirst.count { x = concatenateChannels([x, deepestFirst[index + 1]]) }
            x = block.conv2(block.conv1(x))
        }
        return x
    }

    var convolutions: [Conv2d] { center + blocks.flatMap { [$0.conv1, $0.conv2] } }
}

/// segmentation_models_pytorch's `Unet`: encoder, decoder and a 3x3 segmentation head giving
/// logits at the input's size.
public struct UNet: Sendable {
    public let architecture: UNetArchitecture
    let encoder: any UNetEncoder
    let decoder: UNetDecoder
    let head: Conv2d

    /// Builds the network from PyTorch state-dict tensors; every tensor is checked by name and shape.
    public init(architecture: UNetArchitecture, weights file: SafeTensorsFile) throws {
        let weights = WeightLoader(file: file)
        self.init(architecture: architecture, loader: weights)
        try weights.finish()
    }

    private init(architecture: UNetArchitecture, loader weights: WeightLoader) {
        self.architecture = architecture
        switch architecture.encoder {
        case .resnet18, .resnet34, .resnet50, .resnet101: encoder = ResNetEncoder(architecture: architecture, weights: weights)
        case .vgg16bn: encoder = VGGEncoder(architecture: architecture, weights: weights)
        case .inceptionV3: encoder = InceptionV3Encoder(architecture: architecture, weights: weights)
        }
        decoder = UNetDecoder(weights: weights, encoderChannels: encoder.outChannels, decoderChannels: architecture.decoderChannels,
                              hasCenter: architecture.encoder == .vgg16bn)
        head = weights.conv("segmentation_head.0", in: architecture.decoderChannels.last!, out: architecture.classes,
                            kernel: (3, 3), padding: (1, 1), bias: true)
    }

    /// The state-dict names and shapes an architecture's weights file must hold (BatchNorm's
    /// `num_batches_tracked` counters aside), in build order.
    public static func parameterShapes(of architecture: UNetArchitecture) -> [(name: String, shape: [Int])] {
        let empty = try! SafeTensorsFile(data: SafeTensorsFile.encode([]))
        let loader = WeightLoader(file: empty)
        _ = UNet(architecture: architecture, loader: loader)
        return loader.requested
    }

    /// Raw class scores, batch × classes × height × width. Height and width must be multiples of 32.
    public func logits(_ input: Tensor) -> Tensor {
        precondition(input.channels == architecture.inChannels, "the model takes \(architecture.inChannels) input channels")
        return head(decoder(encoder.features(input)))
    }

    /// Class probabilities: softmax over the logits.
    public func probabilities(_ input: Tensor) -> Tensor { softmaxChannels(logits(input)) }

    /// Every conv of the network in no particular order, for counting its work.
    public var convolutions: [Conv2d] { encoder.convolutions + decoder.convolutions + [head] }
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
