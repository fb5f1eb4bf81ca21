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

    @Flag(name: .customLong("without-anatomy"), help: "Leave out the clean-up's body and one-kidney-per-side rules, to measure what they bring.")
    var withoutAnatomy = false

    @Flag(name: .customLong("choose-weights"), help: "Also score every choice of member weights from 0, 1 and 2, and name the best (on validation cases, never test cases).")
    var chooseWeights = false

    @Option(name: .customLong("foreground-thresholds"), help: "Also score the ensemble's weights with each of these foreground thresholds (comma-separated, between 0 and 1; see ensemble.json), and name the best with --choose-weights.")
    var foregroundThresholds = ""

    func run() throws {
        ComputeThreads.configure()
        let scored = try classes.split(separator: ",").map { name -> SegmentationLabel in
            guard let label = SegmentationLabel.allCases.first(where: { $0.name == name.trimmingCharacters(in: .whitespaces) }), label != .background else {
                throw CommandError("unknown class \(name); use kidney and/or tumour")
            }
            return label
        }
        let ensemble = try models.ensemble()
        let pipeline = SegmentationPipeline(ensemble: ensemble, cleanup: LabelCleanup(insideBody: !withoutAnatomy, oneKidneyPerSide: !withoutAnatomy))
        let cases = try TrainingCase.cases(in: URL(argument: folder))
        let thresholds = try foregroundThresholds.split(separator: ",").map { text in
            guard let value = Double(text.trimmingCharacters(in: .whitespaces)), value > 0, value < 1 else {
                throw CommandError("foreground threshold \(text) must be a number between 0 and 1")
            }
            return value
        }
        // Each member alone, then the ensemble as configured, then (when asked) every other
        // choice of weights and the thresholds; all from each member's probabilities, computed
        // once per case, and all with the configured threshold unless named.
        let count = ensemble.members.count
        let configured = ensemble.foregroundThreshold
        var contenders = ensemble.members.indices.map { member in
            (name: ensemble.members[member].manifest.name, weights: (0..<count).map { $0 == member ? 1.0 : 0 }, threshold: configured)
        }
        if count > 1 { contenders.append(("ensemble (\(count))", ensemble.weights, configured)) }
        if chooseWeights { contenders += Self.weightChoices(count).map { ("weights \($0.map(\.formatted).joined(separator: ","))", $0, configured) } }
        contenders += thresholds.map { ("ensemble, threshold \($0.formatted())", ensemble.weights, $0) }
        var results = contenders.map { _ in [[ClassMetrics]]() }
        for item in cases {
            let ct = try input.reader.readCT(from: item.image)
            let reference = try input.reader.readLabels(from: item.labels)
            let probabilities = try pipeline.memberProbabilities(ct)
            for (index, contender) in contenders.enumerated() {
                let predicted = pipeline.labels(probabilities, weights: contender.weights, foregroundThreshold: contender.threshold)
                let metrics = try evaluate(prediction: predicted, reference: reference, classes: scored)
                results[index].append(metrics)
                if perCase {
                    print("\(item.name) \(contender.name): " + metrics.map { "\($0.label.name) Dice \(Self.format($0.dice))" }.joined(separator: ", "))
                }
            }
        }
        print("\(cases.count) cases from \(folder)\n")
        let meanDice = Self.printTable(contenders.map(\.name), results, classes: scored)
        // Slices of one patient (a PNG set) are also scored as the patient's one volume would be:
        // their voxels pooled, then the mean over patients.
        let patients = Dictionary(grouping: cases.indices) { cases[$0].patient }
        if patients.count < cases.count {
            let names = patients.keys.sorted()
            print("\nPooled by patient (\(names.count) patients: \(names.joined(separator: ", ")); mean ± sd over patients):\n")
            let byPatient = results.map { perCase in names.map { pooled(patients[$0]!.map { perCase[$0] }, classes: scored) } }
            _ = Self.printTable(contenders.map(\.name), byPatient, classes: scored)
            if perCase {
                for (contender, rows) in zip(contenders, byPatient) {
                    let patientScores: [String] = zip(names, rows).map { name, metrics in
                        name + " " + metrics.map { "\($0.label.name) Dice \(Self.format($0.dice))" }.joined(separator: ", ")
                    }
                    print("\(contender.name): " + patientScores.joined(separator: "; "))
                }
            }
        }
        if count > 1 {
            let ensembleRow = count
            for (index, label) in scored.enumerated() {
                let members = meanDice.prefix(count).map { $0[index] }
                let beats = meanDice[ensembleRow][index] > members.max()!
                print("\nOn \(label.name) Dice the ensemble \(beats ? "beats" : "does not beat") its best member "
                      + "(\(String(format: "%.3f", meanDice[ensembleRow][index])) against \(String(format: "%.3f", members.max()!)), means over cases).")
            }
        }
        if chooseWeights {
            // The mean over classes of the mean Dice; of equal scores, the first listed wins.
            let scores = meanDice.map { $0.reduce(0, +) / Double($0.count) }
            let best = scores.indices.dropFirst(count + (count > 1 ? 1 : 0)).max { scores[$0] < scores[$1] || (scores[$0] == scores[$1] && $0 > $1) }!
            let names = ensemble.members.map { $0.folder.lastPathComponent }
            let weights = Dictionary(uniqueKeysWithValues: zip(names, contenders[best].weights))
            print("\nBest: \(contenders[best].name) (mean Dice \(String(format: "%.3f", scores[best]))); as ensemble.json:")
            var settings: [String: Any] = ["weights": weights]
            if let threshold = contenders[best].threshold { settings["foreground_threshold"] = threshold }
            let json = try JSONSerialization.data(withJSONObject: settings, options: [.sortedKeys])
            print(String(decoding: json, as: UTF8.self))
        }
    }

    /// Prints one row per contender (mean ± sd over its cases) and returns each row's mean Dice per class.
    static func printTable(_ names: [String], _ results: [[[ClassMetrics]]], classes: [SegmentationLabel]) -> [[Double]] {
        let header = ["model"] + classes.flatMap { ["\($0.name) Dice", "\($0.name) recall", "\($0.name) precision"] }
        print("| " + header.joined(separator: " | ") + " |")
        print("|" + header.map { _ in "---" }.joined(separator: "|") + "|")
        return zip(names, results).map { name, cases in
            let summary = summarize(cases, classes: classes)
            let cells = summary.flatMap { [format($0.dice), format($0.recall), format($0.precision)] }
            print("| " + ([name] + cells).joined(separator: " | ") + " |")
            return summary.map { $0.dice?.mean ?? 0 }
        }
    }

    /// Every vector of weights from {0, 1, 2} but all-zero, without multiples of another (2,2,2 is 1,1,1).
    static func weightChoices(_ count: Int) -> [[Double]] {
        var choices: [[Double]] = [[]]
        for _ in 0..<count { choices = choices.flatMap { prefix in [0.0, 1, 2].map { prefix + [$0] } } }
        return choices.filter { choice in choice.contains { $0 > 0 } && !choice.allSatisfy { $0 == 0 || $0 == 2 } }
    }

    static func format(_ value: Double?) -> String { value.map { String(format: "%.3f", $0) } ?? "n/a" }

    static func format(_ statistic: Statistic?) -> String {
        guard let statistic else { return "n/a" }
        return String(format: "%.3f", statistic.mean) + (statistic.sd.map { String(format: " ± %.3f", $0) } ?? "")
    }
}
