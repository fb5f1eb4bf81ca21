import Foundation
import Imaging
import NeuralNet
import Testing
import Training

/// The whole loop learns: a tiny U-Net on a synthetic task goes from chance to well above it.
@Suite struct LearningTests {
    /// Bright disks ("kidneys", label 1) on a noisy background, each with a darker disk inside
    /// ("tumours", label 2), at random places and sizes.
    static func syntheticBatch(_ count: Int, size: Int, generator: inout SeededGenerator) -> TrainingBatch {
        var pixels: [Float] = []
        var labels: [UInt8] = []
        for _ in 0..<count {
            let radius = Float.random(in: 7...11, using: &generator)
            let center = (Float.random(in: radius...(Float(size) - radius), using: &generator), Float.random(in: radius...(Float(size) - radius), using: &generator))
            let inner = Float.random(in: 3...5, using: &generator)
            let offset = (Float.random(in: -2...2, using: &generator), Float.random(in: -2...2, using: &generator))
            for y in 0..<size {
                for x in 0..<size {
                    let d = ((Float(x) - center.0) * (Float(x) - center.0) + (Float(y) - center.1) * (Float(y) - center.1)).squareRoot()
                    let t = ((Float(x) - center.0 - offset.0) * (Float(x) - center.0 - offset.0) + (Float(y) - center.1 - offset.1) * (Float(y) - center.1 - offset.1)).squareRoot()
                    let label: UInt8 = t < inner ? 2 : d < radius ? 1 : 0
                    labels.append(label)
                    pixels.append([0.2, 0.75, 0.45][Int(label)] + Float.random(in: -0.1...0.1, using: &generator))
                }
            }
        }
        return TrainingBatch(images: Tensor(batch: count, channels: 1, height: size, width: size, data: pixels), labels: labels)
    }

    @Test func aTinyUNetLearnsKidneysAndTumours() {
        var generator = SeededGenerator(seed: 11)
        let validation = [Self.syntheticBatch(8, size: 48, generator: &generator)]
        let architecture = UNetArchitecture(encoder: .resnet18, encoderWidth: 1.0 / 8, decoderChannels: [16, 16, 8, 8, 8])
        let trainer = Trainer(network: TrainableUNet(architecture: architecture, seed: 3), optimizer: Adam(learningRate: 3e-3),
                              loss: SegmentationLoss(kind: .diceCrossEntropy))
        let before = trainer.validate(validation).map { $0.dice ?? 0 }
        for _ in 0..<120 { trainer.train(on: Self.syntheticBatch(8, size: 48, generator: &generator)) }
        let after = trainer.validate(validation).map { $0.dice ?? 0 }
        #expect(before.allSatisfy { $0 < 0.5 }, "untrained Dice \(before)")
        #expect(after[0] > 0.85 && after[1] > 0.6, "Dice after training: kidney \(after[0]), tumour \(after[1]) (before: \(before))")
    }
}
