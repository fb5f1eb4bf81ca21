import Foundation
import Imaging

/// Overlap of a predicted class with its reference, as the KiTS19 and U-Net papers report it.
///
/// The empty-set rule: a ratio whose denominator is zero is undefined and is `nil`, never a made-up
/// 0 or 1. So a class absent from both prediction and reference has no Dice, IoU, recall or
/// precision; a class absent from the reference alone has no recall; a class never predicted has
/// no precision. Aggregates skip undefined values and say how many cases they cover.
public struct ClassMetrics: Equatable, Sendable, Codable {
    public var label: SegmentationLabel
    public var truePositives: Int
    public var falsePositives: Int
    public var falseNegatives: Int
    /// Volume of the class in the prediction and in the reference.
    public var predictedMillilitres: Double
    public var referenceMillilitres: Double
    /// 2TP / (2TP + FP + FN)
    public var dice: Double?
    /// TP / (TP + FN)
    public var recall: Double?
    /// TP / (TP + FP)
    public var precision: Double?
    /// TP / (TP + FP + FN)
    public var iou: Double?

    enum CodingKeys: String, CodingKey {
        case label, dice, recall, precision, iou
        case truePositives = "true_positives"
        case falsePositives = "false_positives"
        case falseNegatives = "false_negatives"
        case predictedMillilitres = "predicted_ml"
        case referenceMillilitres = "reference_ml"
    }

    public init(label: SegmentationLabel, truePositives: Int, falsePositives: Int, falseNegatives: Int, voxelMillilitres: Double) {
        self.label = label
        self.truePositives = truePositives
        self.falsePositives = falsePositives
        self.falseNegatives = falseNegatives
        predictedMillilitres = Double(truePositives + falsePositives) * voxelMillilitres
        referenceMillilitres = Double(truePositives + falseNegatives) * voxelMillilitres
        dice = ratio(2 * truePositives, 2 * truePositives + falsePositives + falseNegatives)
        recall = ratio(truePositives, truePositives + falseNegatives)
        precision = ratio(truePositives, truePositives + falsePositives)
        iou = ratio(truePositives, truePositives + falsePositives + falseNegatives)
    }
}

extension ClassMetrics {
    /// Undefined values are written as null, not left out.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(label, forKey: .label)
        try container.encode(truePositives, forKey: .truePositives)
        try container.encode(falsePositives, forKey: .falsePositives)
        try container.encode(falseNegatives, forKey: .falseNegatives)
        try container.encode(predictedMillilitres, forKey: .predictedMillilitres)
        try container.encode(referenceMillilitres, forKey: .referenceMillilitres)
        try container.encode(dice, forKey: .dice)
        try container.encode(recall, forKey: .recall)
        try container.encode(precision, forKey: .precision)
        try container.encode(iou, forKey: .iou)
    }
}

private func ratio(_ numerator: Int, _ denominator: Int) -> Double? {
    denominator == 0 ? nil : Double(numerator) / Double(denominator)
}

public enum MetricsError: Error, Equatable, Sendable, CustomStringConvertible {
    case geometryMismatch(prediction: String, reference: String)

    public var description: String {
        switch self {
        case let .geometryMismatch(prediction, reference):
            "the prediction (\(prediction)) and the reference (\(reference)) do not share a voxel grid"
        }
    }
}

/// Per-class metrics of `prediction` against `reference`, label values compared voxel by voxel.
public func evaluate(prediction: [UInt8], reference: [UInt8], voxelMillilitres: Double,
                     classes: [SegmentationLabel] = SegmentationLabel.foreground) -> [ClassMetrics] {
    precondition(prediction.count == reference.count, "prediction and reference differ in voxel count")
    // One pass fills a confusion matrix indexed by (predicted << 8 | reference).
    var confusion = [Int](repeating: 0, count: 256 * 256)
    prediction.withUnsafeBufferPointer { predicted in
        reference.withUnsafeBufferPointer { actual in
            for index in 0..<predicted.count { confusion[Int(predicted[index]) << 8 | Int(actual[index])] += 1 }
        }
    }
    return classes.map { label in
        let c = Int(label.rawValue)
        let truePositives = confusion[c << 8 | c]
        let predicted = (0..<256).reduce(0) { $0 + confusion[c << 8 | $1] }
        let actual = (0..<256).reduce(0) { $0 + confusion[$1 << 8 | c] }
        return ClassMetrics(label: label, truePositives: truePositives, falsePositives: predicted - truePositives,
                            falseNegatives: actual - truePositives, voxelMillilitres: voxelMillilitres)
    }
}

/// Per-class metrics of two label maps of the same patient. They are compared in canonical axial
/// order, so the two files may store their voxels in different orders.
public func evaluate(prediction: LabelMap, reference: LabelMap,
                     classes: [SegmentationLabel] = SegmentationLabel.foreground) throws -> [ClassMetrics] {
    let predicted = prediction.axialStack()
    let actual = reference.axialStack()
    let sameSpacing = (0..<3).allSatisfy { abs(predicted.spacing[$0] - actual.spacing[$0]) <= 1e-4 * actual.spacing[$0] }
    guard predicted.size == actual.size, sameSpacing else {
        let describe = { (stack: AxialStack<UInt8>) in
            "\(stack.size) voxels of " + [stack.spacing.x, stack.spacing.y, stack.spacing.z].map { String(format: "%g", $0) }.joined(separator: " x ") + " mm"
        }
        throw MetricsError.geometryMismatch(prediction: describe(predicted), reference: describe(actual))
    }
    return evaluate(prediction: predicted.voxels, reference: actual.voxels,
                    voxelMillilitres: reference.geometry.voxelMillilitres, classes: classes)
}

/// How much of a label map each class fills.
public struct ClassVolume: Equatable, Sendable, Codable {
    public var label: SegmentationLabel
    public var voxels: Int
    public var millilitres: Double
}

public func classVolumes(_ labels: LabelMap, classes: [SegmentationLabel] = SegmentationLabel.foreground) -> [ClassVolume] {
    var counts = [Int](repeating: 0, count: 256)
    for label in labels.voxels { counts[Int(label)] += 1 }
    return classes.map { label in
        let voxels = counts[Int(label.rawValue)]
        return ClassVolume(label: label, voxels: voxels, millilitres: Double(voxels) * labels.geometry.voxelMillilitres)
    }
}

/// Mean and sample standard deviation (n − 1) of the defined values; `sd` needs two of them.
public struct Statistic: Equatable, Sendable, Codable {
    public var mean: Double
    public var sd: Double?
    public var count: Int

    public init?(_ values: [Double?]) {
        let defined = values.compactMap { $0 }
        guard !defined.isEmpty else { return nil }
        count = defined.count
        mean = defined.reduce(0, +) / Double(count)
        let squares = defined.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
        sd = count > 1 ? (squares / Double(count - 1)).squareRoot() : nil
    }
}

/// A class's metrics across cases, as in the papers' tables.
public struct ClassSummary: Equatable, Sendable, Codable {
    public var label: SegmentationLabel
    public var cases: Int
    public var dice: Statistic?
    public var recall: Statistic?
    public var precision: Statistic?
    public var iou: Statistic?
}

extension Statistic {
    /// An undefined sd is written as null, not left out.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(mean, forKey: .mean)
        try container.encode(sd, forKey: .sd)
        try container.encode(count, forKey: .count)
    }
}

extension ClassSummary {
    /// Undefined statistics are written as null, not left out.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(label, forKey: .label)
        try container.encode(cases, forKey: .cases)
        try container.encode(dice, forKey: .dice)
        try container.encode(recall, forKey: .recall)
        try container.encode(precision, forKey: .precision)
        try container.encode(iou, forKey: .iou)
    }
}

/// One class's metrics over several cases taken as one (a patient's slices, say): their voxel
/// counts and volumes are summed, so a large case weighs more than a small one and a case with
/// no reference kidney counts only through its false positives.
public func pooled(_ cases: [[ClassMetrics]], classes: [SegmentationLabel] = SegmentationLabel.foreground) -> [ClassMetrics] {
    classes.map { label in
        let rows = cases.flatMap { $0.filter { $0.label == label } }
        var sum = ClassMetrics(label: label, truePositives: rows.reduce(0) { $0 + $1.truePositives },
                               falsePositives: rows.reduce(0) { $0 + $1.falsePositives },
                               falseNegatives: rows.reduce(0) { $0 + $1.falseNegatives }, voxelMillilitres: 0)
        sum.predictedMillilitres = rows.reduce(0) { $0 + $1.predictedMillilitres }
        sum.referenceMillilitres = rows.reduce(0) { $0 + $1.referenceMillilitres }
        return sum
    }
}

/// Aggregates per-case results; each element of `cases` holds one case's per-class metrics.
public func summarize(_ cases: [[ClassMetrics]], classes: [SegmentationLabel] = SegmentationLabel.foreground) -> [ClassSummary] {
    classes.map { label in
        let rows = cases.flatMap { $0.filter { $0.label == label } }
        return ClassSummary(label: label, cases: rows.count, dice: Statistic(rows.map(\.dice)),
                            recall: Statistic(rows.map(\.recall)), precision: Statistic(rows.map(\.precision)),
                            iou: Statistic(rows.map(\.iou)))
    }
}
