/// torchvision's ResNet as smp's encoder: features are the input, relu(bn1(conv1)) at 1/2, and
/// layer1 to layer4 at 1/4 to 1/32 (layer1 after the 3x3 stride-2 max pool).
struct ResNetEncoder: UNetEncoder {
    /// A BasicBlock (two 3x3 convs) or a Bottleneck (1x1, 3x3 with the stride, 1x1 expanding 4x).
    struct Block: Sendable {
        var convs: [Conv2d]
        var downsample: Conv2d?

        func callAsFunction(_ input: Tensor) -> Tensor {
            let residual = convs.reduce(input) { $1($0) }
            return add(residual, downsample.map { $0(input) } ?? input, relu: true)
        }
    }

    let stem: Conv2d
    let stages: [[Block]]
    let outChannels: [Int]

    init(architecture: UNetArchitecture, weights: WeightLoader) {
        let (depths, bottleneck): ([Int], Bool) = switch architecture.encoder {
        case .resnet18: ([2, 2, 2, 2], false)
        case .resnet34: ([3, 4, 6, 3], false)
        case .resnet101: ([3, 4, 23, 3], true)
        default: ([3, 4, 6, 3], true)
        }
        let expansion = bottleneck ? 4 : 1
        let stemChannels = architecture.scaled(64)
        stem = weights.convBN(conv: "encoder.conv1", bn: "encoder.bn1", in: architecture.inChannels, out: stemChannels,
                              kernel: (7, 7), stride: (2, 2), padding: (3, 3))
        var inChannels = stemChannels
        var stages: [[Block]] = []
        for (stage, depth) in depths.enumerated() {
            let planes = architecture.scaled(64 << stage)
            let out = planes * expansion
            stages.append((0..<depth).map { index in
                let name = "encoder.layer\(stage + 1).\(index)"
                let stride = index == 0 && stage > 0 ? 2 : 1
                let convs: [Conv2d] = bottleneck ? [
                    weights.convBN(conv: "\(name).conv1", bn: "\(name).bn1", in: inChannels, out: planes, kernel: (1, 1)),
                    weights.convBN(conv: "\(name).conv2", bn: "\(name).bn2", in: planes, out: planes, kernel: (3, 3),
                                   stride: (stride, stride), padding: (1, 1)),
                    weights.convBN(conv: "\(name).conv3", bn: "\(name).bn3", in: planes, out: out, kernel: (1, 1), relu: false),
                ] : [
                    weights.convBN(conv: "\(name).conv1", bn: "\(name).bn1", in: inChannels, out: planes, kernel: (3, 3),
                                   stride: (stride, stride), padding: (1, 1)),
                    weights.convBN(conv: "\(name).conv2", bn: "\(name).bn2", in: planes, out: out, kernel: (3, 3), padding: (1, 1), relu: false),
                ]
                let downsample = stride != 1 || inChannels != out
                    ? weights.convBN(conv: "\(name).downsample.0", bn: "\(name).downsample.1", in: inChannels, out: out,
                                     kernel: (1, 1), stride: (stride, stride), relu: false)
                    : nil
                inChannels = out
                return Block(convs: convs, downsample: downsample)
            })
        }
        self.stages = stages
        outChannels = [architecture.inChannels, stemChannels] + (0..<4).map { architecture.scaled(64 << $0) * expansion }
    }

    func features(_ input: Tensor) -> [Tensor] {
        var features = [input, stem(input)]
        var x = maxPool2d(features[1], kernel: 3, stride: 2, padding: 1)
        for stage in stages {
            x = stage.reduce(x) { $1($0) }
            features.append(x)
        }
        return features
    }

    var convolutions: [Conv2d] { [stem] + stages.flatMap { $0.flatMap { $0.convs + ($0.downsample.map { [$0] } ?? []) } } }
}
