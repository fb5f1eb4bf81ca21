/// timm's inception_v3 as smp's `tu-inception_v3` encoder. Every conv is a timm ConvNormAct
/// (conv without bias, BatchNorm with eps 1e-3, ReLU). The stem's convs and pools have no
/// padding, so the taps are not exact powers of two (125, 60, 29, 14 and 6 at 256x256).
struct InceptionV3Encoder: UNetEncoder {
    enum Layer: Sendable {
        case conv(Conv2d)
        /// 3x3, stride 1, padding 1, counting the padding.
        case averagePool
        /// 3x3, stride 2, no padding.
        case maxPool

        func callAsFunction(_ input: Tensor) -> Tensor {
            switch self {
            case let .conv(conv): conv(input)
            case .averagePool: averagePool3x3(input)
            case .maxPool: maxPool2d(input, kernel: 3, stride: 2)
            }
        }
    }

    /// A chain of layers, optionally ending in parallel convs whose outputs are concatenated
    /// (InceptionE's 1x3 / 3x1 pairs).
    struct Branch: Sendable {
        var trunk: [Layer]
        var split: [Conv2d] = []

        func callAsFunction(_ input: Tensor) -> Tensor {
            let x = trunk.reduce(input) { $1($0) }
            return split.isEmpty ? x : concatenateChannels(split.map { $0(x) })
        }
    }

    /// One Mixed block: its branches run on the same input and are concatenated in order.
    struct Block: Sendable {
        var branches: [Branch]
        var outChannels: Int

        func callAsFunction(_ input: Tensor) -> Tensor { concatenateChannels(branches.map { $0(input) }) }
    }

    let stem1: [Layer]
    let stem2: [Layer]
    let mixed5: [Block]
    let mixed6: [Block]
    let mixed7: [Block]
    let outChannels: [Int]

    init(architecture: UNetArchitecture, weights: WeightLoader) {
        let builder = Builder(weights: weights, architecture: architecture)
        let c = architecture.scaled
        stem1 = [
            .conv(builder.conv("Conv2d_1a_3x3", in: architecture.inChannels, out: c(32), kernel: (3, 3), stride: 2)),
            .conv(builder.conv("Conv2d_2a_3x3", in: c(32), out: c(32), kernel: (3, 3))),
            .conv(builder.conv("Conv2d_2b_3x3", in: c(32), out: c(64), kernel: (3, 3), padding: (1, 1))),
        ]
        stem2 = [
            .maxPool,
            .conv(builder.conv("Conv2d_3b_1x1", in: c(64), out: c(80), kernel: (1, 1))),
            .conv(builder.conv("Conv2d_4a_3x3", in: c(80), out: c(192), kernel: (3, 3))),
        ]
        let mixed5b = builder.inceptionA("Mixed_5b", in: c(192), poolFeatures: c(32))
        let mixed5c = builder.inceptionA("Mixed_5c", in: mixed5b.outChannels, poolFeatures: c(64))
        let mixed5d = builder.inceptionA("Mixed_5d", in: mixed5c.outChannels, poolFeatures: c(64))
        mixed5 = [mixed5b, mixed5c, mixed5d]
        let mixed6a = builder.inceptionB("Mixed_6a", in: mixed5d.outChannels)
        var sixes = [mixed6a]
        for (name, c7) in [("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)] {
            sixes.append(builder.inceptionC(name, in: sixes.last!.outChannels, channels7x7: c(c7)))
        }
        mixed6 = sixes
        let mixed7a = builder.inceptionD("Mixed_7a", in: sixes.last!.outChannels)
        let mixed7b = builder.inceptionE("Mixed_7b", in: mixed7a.outChannels)
        let mixed7c = builder.inceptionE("Mixed_7c", in: mixed7b.outChannels)
        mixed7 = [mixed7a, mixed7b, mixed7c]
        outChannels = [architecture.inChannels, c(64), c(192), mixed5d.outChannels, sixes.last!.outChannels, mixed7c.outChannels]
    }

    func features(_ input: Tensor) -> [Tensor] {
        let tap1 = stem1.reduce(input) { $1($0) }
        let tap2 = stem2.reduce(tap1) { $1($0) }
        let tap3 = mixed5.reduce(maxPool2d(tap2, kernel: 3, stride: 2)) { $1($0) }
        let tap4 = mixed6.reduce(tap3) { $1($0) }
        let tap5 = mixed7.reduce(tap4) { $1($0) }
        return [input, tap1, tap2, tap3, tap4, tap5]
    }

    var convolutions: [Conv2d] {
        let layers = stem1 + stem2 + (mixed5 + mixed6 + mixed7).flatMap { $0.branches.flatMap(\.trunk) }
        let splits = (mixed5 + mixed6 + mixed7).flatMap { $0.branches.flatMap(\.split) }
        return layers.compactMap { if case let .conv(conv) = $0 { conv } else { nil } } + splits
    }

    /// Names and channel counts of timm's Inception blocks (timm/models/inception_v3.py).
    private struct Builder {
        let weights: WeightLoader
        let architecture: UNetArchitecture

        func conv(_ name: String, in inChannels: Int, out: Int, kernel: (Int, Int), stride: Int = 1, padding: (Int, Int) = (0, 0)) -> Conv2d {
            weights.convBN(conv: "encoder.model.\(name).conv", bn: "encoder.model.\(name).bn", in: inChannels, out: out,
                           kernel: kernel, stride: (stride, stride), padding: padding, epsilon: 1e-3)
        }

        func block(_ name: String, _ branches: [Branch]) -> Block {
            let out = branches.reduce(0) { total, branch in
                if !branch.split.isEmpty { return total + branch.split.reduce(0) { $0 + $1.outChannels } }
                guard case let .conv(last)? = branch.trunk.last(where: { if case .conv = $0 { true } else { false } }) else { return total }
                return total + last.outChannels
            }
            return Block(branches: branches, outChannels: out)
        }

        func inceptionA(_ name: String, in inChannels: Int, poolFeatures: Int) -> Block {
            let c = architecture.scaled
            return block(name, [
                Branch(trunk: [.conv(conv("\(name).branch1x1", in: inChannels, out: c(64), kernel: (1, 1)))]),
                Branch(trunk: [.conv(conv("\(name).branch5x5_1", in: inChannels, out: c(48), kernel: (1, 1))),
                               .conv(conv("\(name).branch5x5_2", in: c(48), out: c(64), kernel: (5, 5), padding: (2, 2)))]),
                Branch(trunk: [.conv(conv("\(name).branch3x3dbl_1", in: inChannels, out: c(64), kernel: (1, 1))),
                               .conv(conv("\(name).branch3x3dbl_2", in: c(64), out: c(96), kernel: (3, 3), padding: (1, 1))),
                               .conv(conv("\(name).branch3x3dbl_3", in: c(96), out: c(96), kernel: (3, 3), padding: (1, 1)))]),
                Branch(trunk: [.averagePool, .conv(conv("\(name).branch_pool", in: inChannels, out: poolFeatures, kernel: (1, 1)))]),
            ])
        }

        func inceptionB(_ name: String, in inChannels: Int) -> Block {
            let c = architecture.scaled
            var result = block(name, [
                Branch(trunk: [.conv(conv("\(name).branch3x3", in: inChannels, out: c(384), kernel: (3, 3), stride: 2))]),
                Branch(trunk: [.conv(conv("\(name).branch3x3dbl_1", in: inChannels, out: c(64), kernel: (1, 1))),
                               .conv(conv("\(name).branch3x3dbl_2", in: c(64), out: c(96), kernel: (3, 3), padding: (1, 1))),
                               .conv(conv("\(name).branch3x3dbl_3", in: c(96), out: c(96), kernel: (3, 3), stride: 2))]),
                Branch(trunk: [.maxPool]),
            ])
            result.outChannels += inChannels  // the pooled branch passes its input's channels through
            return result
        }

        func inceptionC(_ name: String, in inChannels: Int, channels7x7 c7: Int) -> Block {
            let c = architecture.scaled
            return block(name, [
                Branch(trunk: [.conv(conv("\(name).branch1x1", in: inChannels, out: c(192), kernel: (1, 1)))]),
                Branch(trunk: [.conv(conv("\(name).branch7x7_1", in: inChannels, out: c7, kernel: (1, 1))),
                               .conv(conv("\(name).branch7x7_2", in: c7, out: c7, kernel: (1, 7), padding: (0, 3))),
                               .conv(conv("\(name).branch7x7_3", in: c7, out: c(192), kernel: (7, 1), padding: (3, 0)))]),
                Branch(trunk: [.conv(conv("\(name).branch7x7dbl_1", in: inChannels, out: c7, kernel: (1, 1))),
                               .conv(conv("\(name).branch7x7dbl_2", in: c7, out: c7, kernel: (7, 1), padding: (3, 0))),
                               .conv(conv("\(name).branch7x7dbl_3", in: c7, out: c7, kernel: (1, 7), padding: (0, 3))),
                               .conv(conv("\(name).branch7x7dbl_4", in: c7, out: c7, kernel: (7, 1), padding: (3, 0))),
                               .conv(conv("\(name).branch7x7dbl_5", in: c7, out: c(192), kernel: (1, 7), padding: (0, 3)))]),
                Branch(trunk: [.averagePool, .conv(conv("\(name).branch_pool", in: inChannels, out: c(192), kernel: (1, 1)))]),
            ])
        }

        func inceptionD(_ name: String, in inChannels: Int) -> Block {
            let c = architecture.scaled
            var result = block(name, [
                Branch(trunk: [.conv(conv("\(name).branch3x3_1", in: inChannels, out: c(192), kernel: (1, 1))),
                               .conv(conv("\(name).branch3x3_2", in: c(192), out: c(320), kernel: (3, 3), stride: 2))]),
                Branch(trunk: [.conv(conv("\(name).branch7x7x3_1", in: inChannels, out: c(192), kernel: (1, 1))),
                               .conv(conv("\(name).branch7x7x3_2", in: c(192), out: c(192), kernel: (1, 7), padding: (0, 3))),
                               .conv(conv("\(name).branch7x7x3_3", in: c(192), out: c(192), kernel: (7, 1), padding: (3, 0))),
                               .conv(conv("\(name).branch7x7x3_4", in: c(192), out: c(192), kernel: (3, 3), stride: 2))]),
                Branch(trunk: [.maxPool]),
            ])
            result.outChannels += inChannels
            return result
        }

        func inceptionE(_ name: String, in inChannels: Int) -> Block {
            let c = architecture.scaled
            return block(name, [
                Branch(trunk: [.conv(conv("\(name).branch1x1", in: inChannels, out: c(320), kernel: (1, 1)))]),
                Branch(trunk: [.conv(conv("\(name).branch3x3_1", in: inChannels, out: c(384), kernel: (1, 1)))],
                       split: [conv("\(name).branch3x3_2a", in: c(384), out: c(384), kernel: (1, 3), padding: (0, 1)),
                               conv("\(name).branch3x3_2b", in: c(384), out: c(384), kernel: (3, 1), padding: (1, 0))]),
                Branch(trunk: [.conv(conv("\(name).branch3x3dbl_1", in: inChannels, out: c(448), kernel: (1, 1))),
                               .conv(conv("\(name).branch3x3dbl_2", in: c(448), out: c(384), kernel: (3, 3), padding: (1, 1)))],
                       split: [conv("\(name).branch3x3dbl_3a", in: c(384), out: c(384), kernel: (1, 3), padding: (0, 1)),
                               conv("\(name).branch3x3dbl_3b", in: c(384), out: c(384), kernel: (3, 1), padding: (1, 0))]),
                Branch(trunk: [.averagePool, .conv(conv("\(name).branch_pool", in: inChannels, out: c(192), kernel: (1, 1)))]),
            ])
        }
    }
}
