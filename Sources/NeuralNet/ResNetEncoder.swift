/// torchvision's ResNet as smp's encoder: features are the input, relu(bn1(conv1)) at 1/2, and
/// layer1 to layer4 at 1/4 to 1/32 (layer1 after the 3x3 stride-2 max pool).
enum ResNetEncoder {
    static func stages(_ architecture: UNetArchitecture) -> [Layer] {
        let (depths, bottleneck): ([Int], Bool) = switch architecture.encoder {
        case .resnet18: ([2, 2, 2, 2], false)
        case .resnet34: ([3, 4, 6, 3], false)
        case .resnet101: ([3, 4, 23, 3], true)
        default: ([3, 4, 6, 3], true)
        }
        let expansion = bottleneck ? 4 : 1
        let stemChannels = architecture.scaled(64)
        let stem = ConvSpec("encoder.conv1", batchNorm: "encoder.bn1", in: architecture.inChannels, out: stemChannels,
                            kernel: (7, 7), stride: (2, 2), padding: (3, 3))
        var inChannels = stemChannels
        var layers: [[Layer]] = []
        for (stage, depth) in depths.enumerated() {
            let planes = architecture.scaled(64 << stage)
            let out = planes * expansion
            layers.append((0..<depth).map { index in
                let name = "encoder.layer\(stage + 1).\(index)"
                let stride = index == 0 && stage > 0 ? 2 : 1
                // A Bottleneck (1x1, 3x3 with the stride, 1x1 expanding 4x) or a BasicBlock (two 3x3).
                let main: [ConvSpec] = bottleneck ? [
                    ConvSpec("\(name).conv1", batchNorm: "\(name).bn1", in: inChannels, out: planes, kernel: (1, 1)),
                    ConvSpec("\(name).conv2", batchNorm: "\(name).bn2", in: planes, out: planes, kernel: (3, 3), stride: (stride, stride), padding: (1, 1)),
                    ConvSpec("\(name).conv3", batchNorm: "\(name).bn3", in: planes, out: out, kernel: (1, 1), relu: false),
                ] : [
                    ConvSpec("\(name).conv1", batchNorm: "\(name).bn1", in: inChannels, out: planes, kernel: (3, 3), stride: (stride, stride), padding: (1, 1)),
                    ConvSpec("\(name).conv2", batchNorm: "\(name).bn2", in: planes, out: out, kernel: (3, 3), padding: (1, 1), relu: false),
                ]
                let downsample = stride != 1 || inChannels != out
                    ? ConvSpec("\(name).downsample.0", batchNorm: "\(name).downsample.1", in: inChannels, out: out, kernel: (1, 1),
                               stride: (stride, stride), relu: false)
                    : nil
                inChannels = out
                return .residual(main: main.map(Layer.conv), shortcut: downsample)
            })
        }
        return [.chain([]), .conv(stem), .chain([.maxPool(kernel: 3, stride: 2, padding: 1)] + layers[0])] + layers.dropFirst().map(Layer.chain)
    }
}
