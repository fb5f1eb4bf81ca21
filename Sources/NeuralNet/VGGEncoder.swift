/// torchvision's vgg16_bn as smp's encoder. `features.N` indices follow torchvision's Sequential:
/// each conv is followed by BatchNorm and ReLU (three indices), each max pool takes one. The
/// features are the maps just before each pool, plus the last pool's output.
enum VGGEncoder {
    /// nil is a 2x2 max pool.
    static let configuration: [Int?] = [64, 64, nil, 128, 128, nil, 256, 256, 256, nil, 512, 512, 512, nil, 512, 512, 512, nil]

    static func stages(_ architecture: UNetArchitecture) -> [Layer] {
        var index = 0
        var inChannels = architecture.inChannels
        var stages: [[Layer]] = [[]]
        for channels in configuration {
            guard let channels else {
                stages.append([.maxPool(kernel: 2, stride: 2, padding: 0)])
                index += 1
                continue
            }
            let out = architecture.scaled(channels)
            stages[stages.count - 1].append(.conv(ConvSpec("encoder.features.\(index)", batchNorm: "encoder.features.\(index + 1)",
                                                           in: inChannels, out: out, kernel: (3, 3), padding: (1, 1), bias: true)))
            inChannels = out
            index += 3
        }
        return stages.map(Layer.chain)
    }
}
