import ArgumentParser
import Foundation
import Imaging
import NeuralNet
import SegmentationMetrics
import Training

struct EvaluateSet: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate-set",
        abstract: "Score each model and the ensemble on a set of cases: Dice, recall and precision per class, per case and as mean ± sd.",
        discussion: """
            DIR holds KiTS-layout cases (case_XXXXX/imaging.nii.gz + segmentation.nii.gz) or PNG slices (images/ + labels/). \
            Each case runs through the full pipeline (resampling, clean-up), as segment and serve run it.
            Example: kidneyseg evaluate-set ../shared/data/curvas-slices --hu-range 0,255 --classes kidney
            """
    )

    @Argument(help: "The folder of cases.")
    var folder: String

    @OptionGroup var models: ModelOptions
    @OptionGroup var input: InputOptions

    @Option(help: "Classes to score, comma-separated (kidney, tumour).")
    var classes = "kidney,tumour"

    @Flag(name: .customLong("per-case"), help: "Also print every case's scores.")
    var perCase = false

    func run() throws {
        ComputeThreads.configure()
        let scored = try classes.split(separator: ",").map { name -> SegmentationLabel in
            guard let label = SegmentationLabel.allCases.first(where: { $0.name == name.trimmingCharacters(in: .whitespaces) }), label != .background else {
                throw CommandError("unknown class \(name); use kidney and/or tumour")
            }
            return label
        }
        let ensemble = try models.ensemble()
        let cases = try TrainingCase.cases(in: URL(argument: folder))
        // Each member alone, then the ensemble; every one sees the same cases.
        var contenders = try ensemble.members.map { (name: $0.manifest.name, ensemble: try Ensemble(members: [$0])) }
        if ensemble.members.count > 1 { contenders.append(("ensemble (\(ensemble.members.count))", ensemble)) }
        var results = contenders.map { _ in [[ClassMetrics]]() }
        for item in cases {
            let ct = try input.reader.readCT(from: item.image)
            let reference = try input.reader.readLabels(from: item.labels)
            for (index, contender) in contenders.enumerated() {
                let predicted = try SegmentationPipeline(ensemble: contender.ensemble).segment(ct).labels
                let metrics = try evaluate(prediction: predicted, reference: reference, classes: scored)
                results[index].append(metrics)
                if perCase {
                    print("\(item.name) \(contender.name): " + metrics.map { "\($0.label.name) Dice \(Self.format($0.dice))" }.joined(separator: ", "))
                }
            }
        }
        print("\(cases.count) cases from \(folder)\n")
        let header = ["model"] + scored.flatMap { ["\($0.name) Dice", "\($0.name) recall", "\($0.name) precision"] }
        print("| " + header.joined(separator: " | ") + " |")
        print("|" + header.map { _ in "---" }.joined(separator: "|") + "|")
        var meanDice: [[Double]] = []
        for (contender, cases) in zip(contenders, results) {
            let summary = summarize(cases, classes: scored)
            meanDice.append(summary.map { $0.dice?.mean ?? 0 })
            let cells = summary.flatMap { [Self.format($0.dice), Self.format($0.recall), Self.format($0.precision)] }
            print("| " + ([contender.name] + cells).joined(separator: " | ") + " |")
        }
        if contenders.count > 1 {
            for (index, label) in scored.enumerated() {
                let members = meanDice.dropLast().map { $0[index] }
                let beats = meanDice.last![index] > members.max()!
                print("\nOn \(label.name) Dice the ensemble \(beats ? "beats" : "does not beat") its best member "
                      + "(\(String(format: "%.3f", meanDice.last![index])) against \(String(format: "%.3f", members.max()!))).")
            }
        }
    }

    static func format(_ value: Double?) -> String { value.map { String(format: "%.3f", $0) } ?? "n/a" }

    static func format(_ statistic: Statistic?) -> String {
        guard let statistic else { return "n/a" }
        return String(format: "%.3f", statistic.mean) + (statistic.sd.map { String(format: " ± %.3f", $0) } ?? "")
    }
}
