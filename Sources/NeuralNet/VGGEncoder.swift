/// torchvision's vgg16_bn as smp's encoder. `features.N` indices follow torchvision's Sequential:
/// each conv is followed by BatchNorm and ReLU (three indices), each max pool takes one. The taps
/// are the maps just before each pool, plus the last pool's output.
struct VGGEncoder: UNetEncoder {
    /// nil is a 2x2 max pool.
    static let configuration: [Int?] = [64, 64, nil, 128, 128, nil, 256, 256, 256, nil, 512, 512, 512, nil, 512, 512, 512, nil]

    let layers: [Conv2d?]
    let outChannels: [Int]

    init(architecture: UNetArchitecture, weights: WeightLoader) {
        var index = 0
        var inChannels = architecture.inChannels
        var taps: [Int] = []
        layers = Self.configuration.map { channels in
            guard let channels else {
                taps.append(inChannels)
                index += 1
                return nil
            }
            let out = architecture.scaled(channels)
            let conv = weights.convBN(conv: "encoder.features.\(index)", bn: "encoder.features.\(index + 1)", in: inChannels, out: out,
                                      kernel: (3, 3), padding: (1, 1), bias: true)
            inChannels = out
            index += 3
            return conv
        }
        outChannels = taps + [inChannels]
    }

    func features(_ input: Tensor) -> [Tensor] {
        var features: [Tensor] = []
        var x = input
        for layer in layers {
            if let conv = layer {
                x = conv(x)
            } else {
                features.append(x)
                x = maxPool2d(x, kernel: 2, stride: 2)
            }
        }
        return features + [x]
    }

    var convolutions: [Conv2d] { layers.compactMap { $0 } }
}
