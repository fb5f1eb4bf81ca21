import ArgumentParser
import Foundation
import Imaging
import SegmentationMetrics

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare a predicted label map with a reference: Dice, recall, precision, IoU and volumes per class.",
        discussion: "Values that divide by zero (a class absent from both maps, for example) are undefined: n/a in the table, null in JSON."
    )

    @Option(help: "The predicted label map.")
    var prediction: String

    @Option(help: "The reference label map, on the same voxel grid.")
    var reference: String

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func run() throws {
        let reader = VolumeReader()
        let metrics = try evaluate(prediction: reader.readLabels(from: URL(argument: prediction)),
                                   reference: reader.readLabels(from: URL(argument: reference)))
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(metrics), as: UTF8.self))
        } else {
            print(MetricsTable.render(metrics))
        }
    }
}

/// A fixed-width table of per-class metrics, with n/a for undefined values.
enum MetricsTable {
    static func render(_ metrics: [ClassMetrics]) -> String {
        let header = ["class", "TP", "FP", "FN", "Dice", "recall", "precision", "IoU", "pred mL", "ref mL"]
        let rows = metrics.map { row in
            [row.label.name, "\(row.truePositives)", "\(row.falsePositives)", "\(row.falseNegatives)",
             ratio(row.dice), ratio(row.recall), ratio(row.precision), ratio(row.iou),
             String(format: "%.2f", row.predictedMillilitres), String(format: "%.2f", row.referenceMillilitres)]
        }
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max()! }
        return ([header] + rows).map { cells in
            cells.enumerated().map { column, cell in
                column == 0 ? cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
                    : String(repeating: " ", count: widths[column] - cell.count) + cell
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }

    private static func ratio(_ value: Double?) -> String {
        value.map { String(format: "%.4f", $0) } ?? "n/a"
    }
}
