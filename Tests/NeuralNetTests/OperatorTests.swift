import Foundation
import NeuralNet
import Testing

/// Each BLAS-backed op against a direct Swift reference on odd shapes, and each simple op against
/// closed-form values.
@Suite struct OperatorTests {
    /// Deterministic pseudo-random values in [-1, 1).
    func values(_ count: Int, seed: UInt64) -> [Float] {
        var state = seed &* 6364136223846793005 &+ 1442695040888963407
        return (0..<count).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(state >> 40) / Float(1 << 23) - 1
        }
    }

    /// The textbook seven-loop convolution.
    func referenceConv(_ conv: Conv2d, _ input: Tensor) -> Tensor {
        let (outHeight, outWidth) = conv.outputSize(height: input.height, width: input.width)
        var output = Tensor(zeros: input.batch, channels: conv.outChannels, height: outHeight, width: outWidth)
        for n in 0..<input.batch {
            for o in 0..<conv.outChannels {
                for y in 0..<outHeight {
                    for x in 0..<outWidth {
                        var sum = Double(conv.bias[o])
                        for c in 0..<conv.inChannels {
                            for ky in 0..<conv.kernel.height {
                                for kx in 0..<conv.kernel.width {
                                    let iy = y * conv.stride.height - conv.padding.height + ky
                                    let ix = x * conv.stride.width - conv.padding.width + kx
                                    guard iy >= 0, iy < input.height, ix >= 0, ix < input.width else { continue }
                                    let weight = conv.weights[((o * conv.inChannels + c) * conv.kernel.height + ky) * conv.kernel.width + kx]
                                    sum += Double(weight) * Double(input.data[((n * input.channels + c) * input.height + iy) * input.width + ix])
                                }
                            }
                        }
                        output.data[((n * conv.outChannels + o) * outHeight + y) * outWidth + x] = conv.relu ? Float(max(sum, 0)) : Float(sum)
                    }
                }
            }
        }
        return output
    }

    /// kernel, stride, padding: every shape the three encoders and the decoder use.
    static let shapes: [((Int, Int), (Int, Int), (Int, Int))] = [
        ((1, 1), (1, 1), (0, 0)), ((1, 1), (2, 2), (0, 0)), ((3, 3), (1, 1), (1, 1)), ((3, 3), (2, 2), (0, 0)),
        ((3, 3), (2, 2), (1, 1)), ((5, 5), (1, 1), (2, 2)), ((7, 7), (2, 2), (3, 3)), ((1, 7), (1, 1), (0, 3)),
        ((7, 1), (1, 1), (3, 0)), ((1, 3), (1, 1), (0, 1)), ((3, 1), (1, 1), (1, 0)),
        ((3, 3), (1, 1), (2, 2)),  // the training's transposed conv of an unpadded 3x3
    ]

    /// Each shape with few input channels (im2col) and with enough for Winograd at 3x3 stride 1,
    /// on odd images, one wide enough for Winograd by rows of tiles, and images smaller than the
    /// kernel's reach.
    @Test(arguments: shapes)
    func convolutionMatchesTheDirectSum(kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int)) {
        for (channels, relu) in [(5, false), (5, true), (9, true)] {
            for (height, width) in [(13, 11), (6, 37), (1, 2), (2, 1)] where height + 2 * padding.0 >= kernel.0 && width + 2 * padding.1 >= kernel.1 {
                let conv = Conv2d(inChannels: channels, outChannels: 7, kernel: kernel, stride: stride, padding: padding,
                                  weights: values(7 * channels * kernel.0 * kernel.1, seed: 1), bias: values(7, seed: 2), relu: relu)
                let input = Tensor(batch: 2, channels: channels, height: height, width: width, data: values(2 * channels * height * width, seed: 3))
                let expected = referenceConv(conv, input)
                let output = conv(input)
                #expect(output.shape == expected.shape)
                // Winograd's transforms round a little more than a direct sum.
                let method = conv.method(width: width)
                let tolerance: Float = method.hasPrefix("winograd") ? 1e-4 : 1e-5
                #expect(zip(output.data, expected.data).allSatisfy { abs($0 - $1) <= tolerance * max(1, abs($1)) },
                        "\(method) at \(height)x\(width)")
            }
        }
    }

    /// Every way a conv runs, on small images (one GEMM for the batch) and a large one (a GEMM
    /// per image), adds the shortcut before its ReLU exactly as a separate sum would.
    @Test func residualConvAddsTheShortcutThenAppliesReLU() {
        let shapes: [(channels: Int, kernel: (Int, Int), padding: (Int, Int))] = [(5, (1, 1), (0, 0)), (5, (3, 3), (1, 1)), (9, (3, 3), (1, 1))]
        for shape in shapes {
            for (height, width) in [(5, 7), (64, 66)] {
                let conv = Conv2d(inChannels: shape.channels, outChannels: 4, kernel: shape.kernel, padding: shape.padding,
                                  weights: values(4 * shape.channels * shape.kernel.0 * shape.kernel.1, seed: 4), bias: values(4, seed: 5))
                let input = Tensor(batch: 2, channels: shape.channels, height: height, width: width,
                                   data: values(2 * shape.channels * height * width, seed: 6))
                let shortcut = Tensor(batch: 2, channels: 4, height: height, width: width, data: values(2 * 4 * height * width, seed: 7))
                let expected = add(conv(input), shortcut, relu: true)
                let fused = conv.residual(input, adding: shortcut)
                #expect(zip(fused.data, expected.data).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) }, "\(conv.method(width: width)) at \(height)x\(width)")
                #expect(fused.data.contains(0) && fused.data.contains { $0 > 0 })
            }
        }
    }

    @Test func winogradRunsByRowsOfTilesOnlyWhereTheRowsAreLong() {
        let conv = Conv2d(inChannels: 9, outChannels: 7, kernel: (3, 3), padding: (1, 1), weights: values(7 * 9 * 9, seed: 1))
        #expect(conv.method(width: 11) == "winograd")
        #expect(conv.method(width: 37) == "winograd by rows")
        #expect(Conv2d(inChannels: 5, outChannels: 7, kernel: (3, 3), padding: (1, 1), weights: values(7 * 5 * 9, seed: 1)).method(width: 37) == "im2col")
    }

    @Test func foldedBatchNormEqualsConvThenNorm() {
        let conv = Conv2d(inChannels: 3, outChannels: 2, kernel: (3, 3), padding: (1, 1), weights: values(54, seed: 4), bias: [0.5, -0.25])
        let norm = BatchNorm(weight: [1.5, 0.75], bias: [0.1, -0.2], runningMean: [0.3, -0.4], runningVariance: [2, 0.5], epsilon: 1e-3)
        let input = Tensor(batch: 1, channels: 3, height: 5, width: 6, data: values(90, seed: 5))
        let plain = conv(input)
        let folded = conv.folding(norm)(input)
        for channel in 0..<2 {
            for pixel in 0..<30 {
                let x = plain.data[channel * 30 + pixel]
                let expected = (x - norm.runningMean[channel]) / (norm.runningVariance[channel] + 1e-3).squareRoot()
                    * norm.weight[channel] + norm.bias[channel]
                #expect(abs(folded.data[channel * 30 + pixel] - expected) < 1e-5)
            }
        }
    }

    @Test func maxPoolFloorsAndIgnoresPadding() {
        let input = Tensor(batch: 1, channels: 1, height: 4, width: 4, data: (1...16).map { -Float($0) })
        // 3x3 windows at stride 2, padding 1, over -1 ... -16: the largest is the top-left of each window.
        #expect(maxPool2d(input, kernel: 3, stride: 2, padding: 1).data == [-1, -2, -5, -6])
        let odd = Tensor(batch: 1, channels: 1, height: 5, width: 5, data: (0..<25).map(Float.init))
        #expect(maxPool2d(odd, kernel: 2, stride: 2).data == [6, 8, 16, 18])  // floor(5 / 2) = 2
        #expect(maxPool2d(odd, kernel: 3, stride: 2).data == [12, 14, 22, 24])
    }

    @Test func averagePoolCountsThePadding() {
        let ones = Tensor(batch: 1, channels: 1, height: 3, width: 3, data: [Float](repeating: 1, count: 9))
        let pooled = averagePool3x3(ones)
        #expect(pooled.data[0] == Float(4) / 9)
        #expect(pooled.data[1] == Float(6) / 9)
        #expect(pooled.data[4] == 1)
    }

    @Test func nearestResizeFollowsPyTorchsIndexRule() {
        let input = Tensor(batch: 1, channels: 1, height: 1, width: 6, data: (0..<6).map(Float.init))
        #expect(resizeNearest(input, height: 1, width: 14).data == [0, 0, 0, 1, 1, 2, 2, 3, 3, 3, 4, 4, 5, 5])
        let doubled = resizeNearest(Tensor(batch: 1, channels: 1, height: 2, width: 2, data: [1, 2, 3, 4]), height: 4, width: 4)
        #expect(doubled.data == [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4])
    }

    @Test func concatenatesFirstTensorFirstPerBatchItem() {
        let a = Tensor(batch: 2, channels: 1, height: 1, width: 2, data: [1, 2, 3, 4])
        let b = Tensor(batch: 2, channels: 2, height: 1, width: 2, data: [5, 6, 7, 8, 9, 10, 11, 12])
        #expect(concatenateChannels([a, b]).data == [1, 2, 5, 6, 7, 8, 3, 4, 9, 10, 11, 12])
    }

    @Test func addsWithAnOptionalReLU() {
        let a = Tensor(batch: 1, channels: 1, height: 1, width: 3, data: [1, -5, 2])
        let b = Tensor(batch: 1, channels: 1, height: 1, width: 3, data: [1, 2, -3])
        #expect(add(a, b).data == [2, -3, -1])
        #expect(add(a, b, relu: true).data == [2, 0, 0])
    }

    @Test func softmaxNormalisesOverChannels() {
        // Logits 0, ln 2, ln 5 give 1/8, 2/8, 5/8.
        let logits = Tensor(batch: 1, channels: 3, height: 1, width: 1, data: [0, Float(log(2.0)), Float(log(5.0))])
        let probabilities = softmaxChannels(logits).data
        #expect(zip(probabilities, [0.125, 0.25, 0.625] as [Float]).allSatisfy { abs($0 - $1) < 1e-6 })
        let large = softmaxChannels(Tensor(batch: 1, channels: 2, height: 1, width: 1, data: [1000, 1000]))
        #expect(large.data == [0.5, 0.5])
    }
}

@Suite struct ComputeThreadsTests {
    @Test func computeThreadsFlushDenormalsToZero() {
        ComputeThreads.configure()
        #expect(ComputeThreads.flushesDenormalsToZero)
        // 1e-39 is denormal: with denormals-are-zero it reads as 0 in arithmetic.
        let values: [Float] = [1e-39, 2]
        #expect(values[0] * values[1] == 0)
    }

    @Test func splitsWorkIntoDisjointChunksCoveringTheRange() {
        let seen = ComputeThreads.$threads.withValue(3) { () -> [Int] in
            var marks = [Int](repeating: 0, count: 100)
            marks.withUnsafeMutableBufferPointer { marks in
                ComputeThreads.parallelFor(100) { range in for index in range { marks[index] += 1 } }
            }
            return marks
        }
        #expect(seen == [Int](repeating: 1, count: 100))
    }
}
