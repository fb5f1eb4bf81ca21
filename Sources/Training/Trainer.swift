import Foundation
import Imaging
import NeuralNet
import SegmentationMetrics

/// Images (batch × 1 × height × width, already windowed to [0, 1]), their labels (batch ×
/// height × width) and one weight per image.
public struct TrainingBatch: Sendable {
    public var images: Tensor
    public var labels: [UInt8]
    public var weights: [Float]

    public init(images: Tensor, labels: [UInt8], weights: [Float]? = nil) {
        precondition(labels.count == images.batch * images.planeSize, "labels do not fit the images")
        self.images = images
        self.labels = labels
        self.weights = weights ?? [Float](repeating: 1, count: images.batch)
    }
}

/// One optimisation loop: forward, loss, backward, and an optimiser step every `accumulation`
/// batches.
public final class Trainer {
    public let network: TrainableUNet
    public var optimizer: Adam
    public let loss: SegmentationLoss
    public let accumulation: Int
    private var pending = 0

    public init(network: TrainableUNet, optimizer: Adam, loss: SegmentationLoss, accumulation: Int = 1) {
        self.network = network
        self.optimizer = optimizer
        self.loss = loss
        self.accumulation = max(1, accumulation)
    }

    /// Trains on one batch and returns its loss.
    @discardableResult
    public func train(on batch: TrainingBatch) -> Float {
        let (logits, backward) = network.forward(batch.images, training: true)
        let (value, gradient) = loss.evaluate(logits: logits, labels: batch.labels, imageWeights: batch.weights)
        backward(gradient)
        pending += 1
        if pending == accumulation {
            optimizer.step(network.parameters, accumulation: accumulation)
            pending = 0
        }
        return value
    }

    /// Per-class Dice, recall and precision of the network's argmax over `batches`, counted over
    /// all their pixels together, with BatchNorm on its running statistics as at inference.
    public func validate(_ batches: [TrainingBatch], classes: [SegmentationLabel] = SegmentationLabel.foreground) -> [ClassMetrics] {
        var predicted: [UInt8] = []
        var reference: [UInt8] = []
        for batch in batches {
            predicted += argmaxChannels(network.forward(batch.images, training: false).logits)
            reference += batch.labels
        }
        return evaluate(prediction: predicted, reference: reference, voxelMillilitres: 0.001, classes: classes)
    }
}

/// The class with the highest score at every pixel, image by image.
func argmaxChannels(_ scores: Tensor) -> [UInt8] {
    var labels = [UInt8](repeating: 0, count: scores.batch * scores.planeSize)
    for item in 0..<scores.batch {
        for pixel in 0..<scores.planeSize {
            var best = 0
            for channel in 1..<scores.channels where scores.data[item * scores.itemSize + channel * scores.planeSize + pixel]
                > scores.data[item * scores.itemSize + best * scores.planeSize + pixel] {
                best = channel
            }
            labels[item * scores.planeSize + pixel] = UInt8(best)
        }
    }
    return labels
}
