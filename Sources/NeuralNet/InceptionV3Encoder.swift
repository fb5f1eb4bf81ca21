/// timm's inception_v3 as smp's `tu-inception_v3` encoder. Every conv is a timm ConvNormAct
/// (conv without bias, BatchNorm with eps 1e-3, ReLU). The stem's convs and pools have no
/// padding, so the features are not exact powers of two (125, 60, 29, 14 and 6 at 256x256).
enum InceptionV3Encoder {
    static func stages(_ architecture: UNetArchitecture) -> [Layer] {
        let builder = Builder(architecture: architecture)
        let c = architecture.scaled
        let stem1: [Layer] = [
            builder.conv("Conv2d_1a_3x3", in: architecture.inChannels, out: c(32), kernel: (3, 3), stride: 2),
            builder.conv("Conv2d_2a_3x3", in: c(32), out: c(32), kernel: (3, 3)),
            builder.conv("Conv2d_2b_3x3", in: c(32), out: c(64), kernel: (3, 3), padding: (1, 1)),
        ]
        let stem2: [Layer] = [
            .maxPool(kernel: 3, stride: 2, padding: 0),
            builder.conv("Conv2d_3b_1x1", in: c(64), out: c(80), kernel: (1, 1)),
            builder.conv("Conv2d_4a_3x3", in: c(80), out: c(192), kernel: (3, 3)),
        ]
        var channels = c(192)
        /// Appends a block made for the current channel count, then moves the count on.
        func next(_ make: (Int) -> Layer) -> Layer {
            let block = make(channels)
            channels = block.outChannels(input: channels)
            return block
        }
        let mixed5 = [next { builder.inceptionA("Mixed_5b", in: $0, poolFeatures: c(32)) },
                      next { builder.inceptionA("Mixed_5c", in: $0, poolFeatures: c(64)) },
                      next { builder.inceptionA("Mixed_5d", in: $0, poolFeatures: c(64)) }]
        let mixed6 = [next { builder.inceptionB("Mixed_6a", in: $0) }]
            + [("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)].map { name, c7 in
                next { builder.inceptionC(name, in: $0, channels7x7: c(c7)) }
            }
        let mixed7 = [next { builder.inceptionD("Mixed_7a", in: $0) },
                      next { builder.inceptionE("Mixed_7b", in: $0) },
                      next { builder.inceptionE("Mixed_7c", in: $0) }]
        return [.chain([]), .chain(stem1), .chain(stem2), .chain([.maxPool(kernel: 3, stride: 2, padding: 0)] + mixed5), .chain(mixed6), .chain(mixed7)]
    }

    /// Names and channel counts of timm's Inception blocks (timm/models/inception_v3.py). Each
    /// block's branches run on its input and are concatenated in order.
    private struct Builder {
        let architecture: UNetArchitecture

        func conv(_ name: String, in inChannels: Int, out: Int, kernel: (Int, Int), stride: Int = 1, padding: (Int, Int) = (0, 0)) -> Layer {
            .conv(ConvSpec("encoder.model.\(name).conv", batchNorm: "encoder.model.\(name).bn", epsilon: 1e-3, in: inChannels, out: out,
                           kernel: kernel, stride: (stride, stride), padding: padding))
        }

        func inceptionA(_ name: String, in inChannels: Int, poolFeatures: Int) -> Layer {
            let c = architecture.scaled
            return .branches([
                conv("\(name).branch1x1", in: inChannels, out: c(64), kernel: (1, 1)),
                .chain([conv("\(name).branch5x5_1", in: inChannels, out: c(48), kernel: (1, 1)),
                        conv("\(name).branch5x5_2", in: c(48), out: c(64), kernel: (5, 5), padding: (2, 2))]),
                .chain([conv("\(name).branch3x3dbl_1", in: inChannels, out: c(64), kernel: (1, 1)),
                        conv("\(name).branch3x3dbl_2", in: c(64), out: c(96), kernel: (3, 3), padding: (1, 1)),
                        conv("\(name).branch3x3dbl_3", in: c(96), out: c(96), kernel: (3, 3), padding: (1, 1))]),
                .chain([.averagePool3x3, conv("\(name).branch_pool", in: inChannels, out: poolFeatures, kernel: (1, 1))]),
            ])
        }

        func inceptionB(_ name: String, in inChannels: Int) -> Layer {
            let c = architecture.scaled
            return .branches([
                conv("\(name).branch3x3", in: inChannels, out: c(384), kernel: (3, 3), stride: 2),
                .chain([conv("\(name).branch3x3dbl_1", in: inChannels, out: c(64), kernel: (1, 1)),
                        conv("\(name).branch3x3dbl_2", in: c(64), out: c(96), kernel: (3, 3), padding: (1, 1)),
                        conv("\(name).branch3x3dbl_3", in: c(96), out: c(96), kernel: (3, 3), stride: 2)]),
                .maxPool(kernel: 3, stride: 2, padding: 0),
            ])
        }

        func inceptionC(_ name: String, in inChannels: Int, channels7x7 c7: Int) -> Layer {
            let c = architecture.scaled
            return .branches([
                conv("\(name).branch1x1", in: inChannels, out: c(192), kernel: (1, 1)),
                .chain([conv("\(name).branch7x7_1", in: inChannels, out: c7, kernel: (1, 1)),
                        conv("\(name).branch7x7_2", in: c7, out: c7, kernel: (1, 7), padding: (0, 3)),
                        conv("\(name).branch7x7_3", in: c7, out: c(192), kernel: (7, 1), padding: (3, 0))]),
                .chain([conv("\(name).branch7x7dbl_1", in: inChannels, out: c7, kernel: (1, 1)),
                        conv("\(name).branch7x7dbl_2", in: c7, out: c7, kernel: (7, 1), padding: (3, 0)),
                        conv("\(name).branch7x7dbl_3", in: c7, out: c7, kernel: (1, 7), padding: (0, 3)),
                        conv("\(name).branch7x7dbl_4", in: c7, out: c7, kernel: (7, 1), padding: (3, 0)),
                        conv("\(name).branch7x7dbl_5", in: c7, out: c(192), kernel: (1, 7), padding: (0, 3))]),
                .chain([.averagePool3x3, conv("\(name).branch_pool", in: inChannels, out: c(192), kernel: (1, 1))]),
            ])
        }

        func inceptionD(_ name: String, in inChannels: Int) -> Layer {
            let c = architecture.scaled
            return .branches([
                .chain([conv("\(name).branch3x3_1", in: inChannels, out: c(192), kernel: (1, 1)),
                        conv("\(name).branch3x3_2", in: c(192), out: c(320), kernel: (3, 3), stride: 2)]),
                .chain([conv("\(name).branch7x7x3_1", in: inChannels, out: c(192), kernel: (1, 1)),
                        conv("\(name).branch7x7x3_2", in: c(192), out: c(192), kernel: (1, 7), padding: (0, 3)),
                        conv("\(name).branch7x7x3_3", in: c(192), out: c(192), kernel: (7, 1), padding: (3, 0)),
                        conv("\(name).branch7x7x3_4", in: c(192), out: c(192), kernel: (3, 3), stride: 2)]),
                .maxPool(kernel: 3, stride: 2, padding: 0),
            ])
        }

        /// The 1x3 / 3x1 pairs split a branch in two, side by side.
        func inceptionE(_ name: String, in inChannels: Int) -> Layer {
            let c = architecture.scaled
            return .branches([
                conv("\(name).branch1x1", in: inChannels, out: c(320), kernel: (1, 1)),
                .chain([conv("\(name).branch3x3_1", in: inChannels, out: c(384), kernel: (1, 1)),
                        .branches([conv("\(name).branch3x3_2a", in: c(384), out: c(384), kernel: (1, 3), padding: (0, 1)),
                                   conv("\(name).branch3x3_2b", in: c(384), out: c(384), kernel: (3, 1), padding: (1, 0))])]),
                .chain([conv("\(name).branch3x3dbl_1", in: inChannels, out: c(448), kernel: (1, 1)),
                        conv("\(name).branch3x3dbl_2", in: c(448), out: c(384), kernel: (3, 3), padding: (1, 1)),
                        .branches([conv("\(name).branch3x3dbl_3a", in: c(384), out: c(384), kernel: (1, 3), padding: (0, 1)),
                                   conv("\(name).branch3x3dbl_3b", in: c(384), out: c(384), kernel: (3, 1), padding: (1, 0))])]),
                .chain([.averagePool3x3, conv("\(name).branch_pool", in: inChannels, out: c(192), kernel: (1, 1))]),
            ])
        }
    }
}
