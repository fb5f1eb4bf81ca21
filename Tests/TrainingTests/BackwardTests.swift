import Foundation
import NeuralNet
import Testing
import Training

/// Every op's backward pass against finite differences, on small odd shapes.
@Suite struct BackwardTests {
    struct ConvCase: CustomStringConvertible, Sendable {
        var inChannels: Int, outChannels: Int, kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int), bias: Bool
        var description: String { "\(inChannels)→\(outChannels) k\(kernel) s\(stride) p\(padding)\(bias ? " bias" : "")" }
    }

    static let convCases: [ConvCase] = [
        ConvCase(inChannels: 3, outChannels: 4, kernel: (3, 3), stride: (1, 1), padding: (1, 1), bias: true),
        ConvCase(inChannels: 8, outChannels: 5, kernel: (3, 3), stride: (1, 1), padding: (1, 1), bias: false),  // Winograd forward
        ConvCase(inChannels: 3, outChannels: 4, kernel: (1, 1), stride: (1, 1), padding: (0, 0), bias: false),
        ConvCase(inChannels: 2, outChannels: 3, kernel: (7, 7), stride: (2, 2), padding: (3, 3), bias: false),
        ConvCase(inChannels: 3, outChannels: 2, kernel: (1, 7), stride: (1, 1), padding: (0, 3), bias: false),
        ConvCase(inChannels: 3, outChannels: 2, kernel: (7, 1), stride: (1, 1), padding: (3, 0), bias: false),
        ConvCase(inChannels: 4, outChannels: 3, kernel: (3, 3), stride: (2, 2), padding: (0, 0), bias: true),
        ConvCase(inChannels: 4, outChannels: 6, kernel: (1, 1), stride: (2, 2), padding: (0, 0), bias: false),
        ConvCase(inChannels: 3, outChannels: 2, kernel: (5, 5), stride: (1, 1), padding: (2, 2), bias: false),
    ]

    @Test(arguments: convCases)
    func convolutionGradients(_ shape: ConvCase) {
        var check = GradientCheck()
        let spec = ConvSpec("conv", batchNorm: nil, in: shape.inChannels, out: shape.outChannels, kernel: shape.kernel,
                            stride: shape.stride, padding: shape.padding, bias: shape.bias, relu: false)
        let weightShape = [shape.outChannels, shape.inChannels, shape.kernel.0, shape.kernel.1]
        let weight = Parameter(name: "w", shape: weightShape, values: check.random([1, 1, 1, weightShape.reduce(1, *)]).data)
        let bias = shape.bias ? Parameter(name: "b", shape: [shape.outChannels], values: check.random([1, 1, 1, shape.outChannels]).data) : nil
        let x = check.random([2, shape.inChannels, 9, 8])
        let error = check.worstError({ Training.convolution($0, spec, weight: weight, bias: bias) }, at: x, parameters: [weight] + (bias.map { [$0] } ?? []))
        #expect(error < 1e-2, "\(shape): relative error \(error)")
    }

    @Test(arguments: [(true, false), (true, true), (false, false), (false, true)])
    func batchNormGradients(training: Bool, relu: Bool) {
        var check = GradientCheck()
        let state = BatchNormState(name: "bn", channels: 3, epsilon: 1e-5)
        state.weight.values = [0.5, 1.5, -1]
        state.bias.values = [0.1, -0.2, 0.3]
        state.runningMean = [0.1, 0, -0.1]
        state.runningVariance = [0.8, 1.2, 0.5]
        let x = check.random([2, 3, 5, 4])
        let error = check.worstError({ Training.batchNorm($0, state, training: training, relu: relu) }, at: x, parameters: [state.weight, state.bias])
        #expect(error < 1e-2, "training \(training) relu \(relu): relative error \(error)")
    }

    @Test func batchNormMovesTheRunningStatisticsTowardsTheBatch() {
        let state = BatchNormState(name: "bn", channels: 1, epsilon: 1e-5)
        let x = Tensor(batch: 1, channels: 1, height: 1, width: 4, data: [1, 2, 3, 6])
        _ = Training.batchNorm(x, state, training: true, relu: false)
        #expect(abs(state.runningMean[0] - 0.3) < 1e-6)  // 0.9 · 0 + 0.1 · 3
        #expect(abs(state.runningVariance[0] - (0.9 + 0.1 * 14 / 3)) < 1e-5)  // the batch's unbiased variance is 14 / 3
    }

    @Test(arguments: [(3, 2, 1), (2, 2, 0), (3, 2, 0)])
    func maxPoolGradients(kernel: Int, stride: Int, padding: Int) {
        var check = GradientCheck()
        // Distinct values far apart compared with epsilon, so no perturbation changes a window's winner.
        let values = (0..<252).map { Float($0) / 126 - 1 }.shuffled(using: &check.generator)
        let x = Tensor(batch: 2, channels: 2, height: 9, width: 7, data: values)
        let error = check.worstError({ Training.maxPool($0, kernel: kernel, stride: stride, padding: padding) }, at: x)
        #expect(error < 1e-2, "relative error \(error)")
    }

    @Test func averagePoolGradients() {
        var check = GradientCheck()
        let error = check.worstError({ Training.averagePool($0) }, at: check.random([2, 2, 6, 5]))
        #expect(error < 1e-2, "relative error \(error)")
    }

    @Test(arguments: [(5, 9), (8, 4), (7, 7)])
    func resizeGradients(from: Int, to: Int) {
        var check = GradientCheck()
        let error = check.worstError({ Training.resize($0, height: to, width: to + 1) }, at: check.random([2, 2, from, from + 2]))
        #expect(error < 1e-2, "relative error \(error)")
    }
}
