import Foundation
import NeuralNet

/// The losses of the two papers, on logits (batch × classes × height × width) against integer
/// labels, with one weight per image (the U-Net paper weights each slice by 1 / the slices of its
/// patient).
public enum LossKind: String, Codable, Sendable, CaseIterable {
    /// Mean over classes of 1 − soft Dice.
    case dice
    /// Σ over classes of (1 − soft Dice)^γ (the U-Net paper; γ = 1/2 was best).
    case focalDice = "focal-dice"
    case crossEntropy = "cross-entropy"
    /// Cross-entropy with a weight per class, e.g. median-frequency weights.
    case weightedCrossEntropy = "weighted-cross-entropy"
    /// Dice + cross-entropy (the ensemble paper).
    case diceCrossEntropy = "dice-cross-entropy"
}

public struct SegmentationLoss: Sendable {
    public var kind: LossKind
    /// The focal Dice exponent.
    public var gamma: Float
    /// Per-class weights for weighted cross-entropy; ones otherwise.
    public var classWeights: [Float]?
    /// Added to the numerator and denominator of soft Dice, so a class absent from both the
    /// prediction and the labels scores 1 rather than 0/0.
    public var smoothing: Float = 1

    public init(kind: LossKind, gamma: Float = 0.5, classWeights: [Float]? = nil) {
        self.kind = kind
        self.gamma = gamma
        self.classWeights = classWeights
    }

    /// The loss and its gradient with respect to the logits.
    public func evaluate(logits: Tensor, labels: [UInt8], imageWeights: [Float]) -> (loss: Float, gradient: Tensor) {
        precondition(labels.count == logits.batch * logits.planeSize && imageWeights.count == logits.batch, "labels or weights do not fit the logits")
        let probabilities = softmaxChannels(logits)
        var probabilityGradient = Tensor(zeros: logits.batch, channels: logits.channels, height: logits.height, width: logits.width)
        var loss: Float = 0
        var logitGradient = Tensor(zeros: logits.batch, channels: logits.channels, height: logits.height, width: logits.width)
        if [.dice, .focalDice, .diceCrossEntropy].contains(kind) {
            loss += softDice(probabilities, labels: labels, imageWeights: imageWeights, into: &probabilityGradient)
            logitGradient = throughSoftmax(probabilityGradient, probabilities)
        }
        if [.crossEntropy, .weightedCrossEntropy, .diceCrossEntropy].contains(kind) {
            let weights = kind == .weightedCrossEntropy ? classWeights ?? [] : []
            loss += crossEntropy(probabilities, labels: labels, imageWeights: imageWeights, classWeights: weights, into: &logitGradient)
        }
        return (loss, logitGradient)
    }

    /// Soft Dice per class over the whole batch, pixels weighted by their image's weight. Adds
    /// the gradient with respect to the probabilities.
    private func softDice(_ probabilities: Tensor, labels: [UInt8], imageWeights: [Float], into gradient: inout Tensor) -> Float {
        let (classes, plane) = (probabilities.channels, probabilities.planeSize)
        var intersection = [Float](repeating: 0, count: classes)
        var predicted = [Float](repeating: 0, count: classes)
        var actual = [Float](repeating: 0, count: classes)
        for item in 0..<probabilities.batch {
            let weight = imageWeights[item]
            for pixel in 0..<plane {
                let label = Int(labels[item * plane + pixel])
                for c in 0..<classes {
                    let p = probabilities.data[item * probabilities.itemSize + c * plane + pixel]
                    predicted[c] += weight * p
                    if label == c {
                        intersection[c] += weight * p
                        actual[c] += weight
                    }
                }
            }
        }
        var loss: Float = 0
        var lossPerDice = [Float](repeating: 0, count: classes)  // dL / dDSC_c
        for c in 0..<classes {
            let dice = (2 * intersection[c] + smoothing) / (predicted[c] + actual[c] + smoothing)
            switch kind {
            case .focalDice:
                let miss = max(1 - dice, 1e-6)
                loss += pow(miss, gamma)
                lossPerDice[c] = -gamma * pow(miss, gamma - 1)
            default:
                loss += (1 - dice) / Float(classes)
                lossPerDice[c] = -1 / Float(classes)
            }
        }
        for item in 0..<probabilities.batch {
            let weight = imageWeights[item]
            for pixel in 0..<plane {
                let label = Int(labels[item * plane + pixel])
                for c in 0..<classes {
                    let denominator = predicted[c] + actual[c] + smoothing
                    let numerator = 2 * intersection[c] + smoothing
                    let dDice = weight * ((label == c ? 2 : 0) * denominator - numerator) / (denominator * denominator)
                    gradient.data[item * gradient.itemSize + c * plane + pixel] += lossPerDice[c] * dDice
                }
            }
        }
        return loss
    }

    /// Mean cross-entropy, each pixel weighted by its image's weight and its class's weight.
    /// Adds the gradient with respect to the logits: weight · (p − onehot) / total weight.
    private func crossEntropy(_ probabilities: Tensor, labels: [UInt8], imageWeights: [Float], classWeights: [Float],
                              into gradient: inout Tensor) -> Float {
        let (classes, plane) = (probabilities.channels, probabilities.planeSize)
        let weightOf = { (item: Int, label: Int) in imageWeights[item] * (classWeights.isEmpty ? 1 : classWeights[label]) }
        var total: Float = 0
        for item in 0..<probabilities.batch {
            for pixel in 0..<plane { total += weightOf(item, Int(labels[item * plane + pixel])) }
        }
        guard total > 0 else { return 0 }
        var loss: Float = 0
        for item in 0..<probabilities.batch {
            for pixel in 0..<plane {
                let label = Int(labels[item * plane + pixel])
                let weight = weightOf(item, label) / total
                let base = item * probabilities.itemSize + pixel
                loss -= weight * log(max(probabilities.data[base + label * plane], 1e-12))
                for c in 0..<classes {
                    gradient.data[base + c * plane] += weight * (probabilities.data[base + c * plane] - (c == label ? 1 : 0))
                }
            }
        }
        return loss
    }

    /// dL/dz_k = p_k · (dL/dp_k − Σ_c p_c · dL/dp_c) at every pixel.
    private func throughSoftmax(_ probabilityGradient: Tensor, _ probabilities: Tensor) -> Tensor {
        var gradient = probabilityGradient
        let plane = probabilities.planeSize
        for item in 0..<probabilities.batch {
            for pixel in 0..<plane {
                let base = item * probabilities.itemSize + pixel
                var dot: Float = 0
                for c in 0..<probabilities.channels { dot += probabilities.data[base + c * plane] * probabilityGradient.data[base + c * plane] }
                for c in 0..<probabilities.channels {
                    gradient.data[base + c * plane] = probabilities.data[base + c * plane] * (probabilityGradient.data[base + c * plane] - dot)
                }
            }
        }
        return gradient
    }

    /// Median-frequency class weights (Eigen & Fergus): the median of the class frequencies over
    /// each class's frequency, where a class's frequency is its pixels over all pixels of the
    /// images in which it appears. `pixels[c]` and `imagePixels[c]` count those over a dataset.
    public static func medianFrequencyWeights(pixels: [Int], imagePixels: [Int]) -> [Float] {
        let frequencies = zip(pixels, imagePixels).map { $1 > 0 ? Double($0) / Double($1) : 0 }
        let present = frequencies.filter { $0 > 0 }.sorted()
        guard !present.isEmpty else { return frequencies.map { _ in 1 } }
        let median = present.count % 2 == 1 ? present[present.count / 2] : (present[present.count / 2 - 1] + present[present.count / 2]) / 2
        return frequencies.map { $0 > 0 ? Float(median / $0) : 1 }
    }
}
