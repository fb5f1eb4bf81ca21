import Foundation
import NeuralNet
import Testing
import Training

@Suite struct LossTests {
    static let labels: [UInt8] = (0..<40).map { (index: Int) -> UInt8 in UInt8((index * 7 + index / 9) % 3) }

    /// The loss as a one-value tensor of the logits, for the gradient check.
    func asOperation(_ loss: SegmentationLoss, weights: [Float]) -> (Tensor) -> (Tensor, Backward) {
        { logits in
            let (value, gradient) = loss.evaluate(logits: logits, labels: Self.labels, imageWeights: weights)
            return (Tensor(batch: 1, channels: 1, height: 1, width: 1, data: [value]), { outer in
                var scaled = gradient
                for index in scaled.data.indices { scaled.data[index] *= outer.data[0] }
                return scaled
            })
        }
    }

    @Test(arguments: LossKind.allCases)
    func gradients(kind: LossKind) {
        var check = GradientCheck()
        let loss = SegmentationLoss(kind: kind, gamma: 0.5, classWeights: [0.5, 1, 3])
        let logits = check.random([2, 3, 5, 4])
        let error = check.worstError(asOperation(loss, weights: [1, 0.25]), at: logits)
        #expect(error < 2e-2, "\(kind): relative error \(error)")
    }

    @Test func crossEntropyOfUniformLogitsIsLogOfTheClassCount() {
        let logits = Tensor(zeros: 2, channels: 3, height: 5, width: 4)
        let (value, _) = SegmentationLoss(kind: .crossEntropy).evaluate(logits: logits, labels: Self.labels, imageWeights: [1, 1])
        #expect(abs(value - log(3)) < 1e-5)
    }

    @Test func confidentCorrectLogitsScoreNearZeroDiceLoss() {
        var logits = Tensor(zeros: 2, channels: 3, height: 5, width: 4)
        for (pixel, label) in Self.labels.enumerated() {
            logits.data[(pixel / 20) * 60 + Int(label) * 20 + pixel % 20] = 30
        }
        for kind in [LossKind.dice, .focalDice, .diceCrossEntropy] {
            let (value, _) = SegmentationLoss(kind: kind).evaluate(logits: logits, labels: Self.labels, imageWeights: [1, 1])
            #expect(value < 5e-3, "\(kind): \(value)")  // focal Dice floors each class's miss at 1e-6, so its √ at 1e-3
        }
    }

    @Test func medianFrequencyWeightsFavourRareClasses() {
        // Frequencies 0.8, 0.15 and 0.05 (tumour only counted in the images that have it).
        let weights = SegmentationLoss.medianFrequencyWeights(pixels: [800, 150, 10], imagePixels: [1000, 1000, 200])
        #expect(weights.map { ($0 * 1000).rounded() / 1000 } == [0.188, 1, 3])
    }
}

@Suite struct OptimizerTests {
    @Test func adamFindsTheMinimumOfAQuadratic() {
        let parameter = Parameter(name: "x", shape: [2], values: [3, -2])
        var adam = Adam(learningRate: 0.1)
        for _ in 0..<300 {
            // L = (x0 − 1)² + 4 (x1 + 0.5)²
            parameter.gradient = [2 * (parameter.values[0] - 1), 8 * (parameter.values[1] + 0.5)]
            adam.step([parameter])
        }
        #expect(abs(parameter.values[0] - 1) < 1e-2 && abs(parameter.values[1] + 0.5) < 1e-2)
        #expect(parameter.gradient == [0, 0])
    }

    @Test func adamWShrinksWeightsWithoutAGradient() {
        let parameter = Parameter(name: "w", shape: [1], values: [2])
        var adamW = Adam(learningRate: 0.1, weightDecay: 0.5, decoupledWeightDecay: true)
        adamW.step([parameter])
        #expect(abs(parameter.values[0] - 1.9) < 1e-6)  // 2 − 0.1 · 0.5 · 2; Adam's own update is 0 for a zero gradient
    }

    @Test func frozenParametersDoNotMove() {
        let parameter = Parameter(name: "w", shape: [1], values: [2])
        parameter.isTrainable = false
        parameter.gradient = [1]
        var adam = Adam(learningRate: 0.1)
        adam.step([parameter])
        #expect(parameter.values == [2])
    }

    @Test func schedules() {
        #expect(LearningRateSchedule.constant.rate(base: 1e-3, step: 500) == 1e-3)
        #expect(LearningRateSchedule.step(every: 10, factor: 0.5).rate(base: 1, step: 25) == 0.25)
        let cosine = LearningRateSchedule.cosine(steps: 100, minimum: 0)
        #expect(cosine.rate(base: 1, step: 0) == 1)
        #expect(abs(cosine.rate(base: 1, step: 50) - 0.5) < 1e-6)
        #expect(abs(cosine.rate(base: 1, step: 100)) < 1e-6)
    }
}
