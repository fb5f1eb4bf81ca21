import ArgumentParser
import Foundation
import Imaging
import Training

struct Synth: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make training and test data from real anatomy: real CT slices with synthetic tumours shaped like real KiTS19 tumours, and 3-D phantoms, in the KiTS layout.",
        discussion: """
            A seeded share of the slices' patients and of the KiTS19 label maps is held out. --output gets \
            train/slices and test/slices (one case per patient; test tumours come from held-out maps only), \
            train/phantoms and test/phantoms with --phantoms, test/real-slices (the held-out patients' own \
            slices, untouched) and split.json. \
            Example: kidneyseg synth --slices ../shared/data/curvas-slices --hu-range 0,255 \
            --kits-labels ../shared/data/kits19-labels --phantoms --output ../kidneyseg-data
            """
    )

    @Option(help: ArgumentHelp("A PNG-layout folder of real slices with kidney labels.", valueName: "DIR"))
    var slices: String

    @Option(name: .customLong("kits-labels"), help: ArgumentHelp("A folder of KiTS19 case_XXXXX/segmentation.nii.gz label maps.", valueName: "DIR"))
    var kitsLabels: String

    @Option(help: ArgumentHelp("Where to write train/, test/ and split.json.", valueName: "DIR"))
    var output: String

    @OptionGroup var input: InputOptions

    @Option(help: "Tumour copies of each slice that shows a kidney.")
    var variants = 3

    @Option(name: .customLong("shapes-per-case"), help: "Tumour cross-sections cut from each KiTS19 case.")
    var shapesPerCase = 3

    @Option(help: "Millimetres per pixel of the slices.")
    var spacing = 0.8

    @Option(name: .customLong("test-fraction"), help: "Share of the patients and of the KiTS19 label maps held out for testing.")
    var testFraction = 0.2

    @Flag(help: "Also write one 3-D phantom CT per KiTS19 label map.")
    var phantoms = false

    @Option(help: "Seed for every random choice.")
    var seed: UInt64 = 1

    /// Which patients and KiTS19 cases went to the test side.
    struct Split: Codable {
        var seed: UInt64
        var testFraction: Double
        var testPatients: [String]
        var testKiTSCases: [String]

        enum CodingKeys: String, CodingKey {
            case seed
            case testFraction = "test_fraction"
            case testPatients = "test_patients"
            case testKiTSCases = "test_kits_cases"
        }
    }

    func run() throws {
        let caseName = { (map: URL) in map.deletingLastPathComponent().lastPathComponent }
        let maps = try FileManager.default.contentsOfDirectory(atPath: kitsLabels).filter { $0.hasPrefix("case_") }.sorted()
            .map { URL(argument: kitsLabels).appendingPathComponent("\($0)/segmentation.nii.gz") }
            .filter { FileManager.default.fileExists(atPath: $0.path) }
        guard !maps.isEmpty else { throw CommandError("\(kitsLabels) holds no case_XXXXX/segmentation.nii.gz") }
        let slices = try TrainingCase.cases(in: URL(argument: self.slices))
        let split = Split(seed: seed, testFraction: testFraction,
                          testPatients: PatientSplit.heldOut(slices.map(\.patient), fraction: testFraction, seed: seed).sorted(),
                          testKiTSCases: PatientSplit.heldOut(maps.map(caseName), fraction: testFraction, seed: seed).sorted())
        guard split.testPatients.isEmpty || !split.testKiTSCases.isEmpty else {
            throw CommandError("holding out patients needs two or more KiTS19 label maps, to hold some out too; or use --test-fraction 0")
        }
        let root = URL(argument: output)
        let log = { (line: String) in
            print(line)
            fflush(nil)
        }
        var synthesis = TumourSynthesis()
        synthesis.variants = variants
        synthesis.seed = seed
        synthesis.spacing = spacing
        let range = input.huRange.range
        synthesis.painter = TumourPainter(clamp: range.lowerBound >= 0 ? range : nil)

        for (part, isTest) in [("train", false), ("test", true)] {
            let partMaps = maps.filter { split.testKiTSCases.contains(caseName($0)) == isTest }
            let partSlices = slices.filter { split.testPatients.contains($0.patient) == isTest }
            let folder = root.appendingPathComponent(part)
            if !partSlices.isEmpty {
                let shapes = try LesionLibrary.shapes(from: partMaps, perCase: shapesPerCase, spacing: spacing)
                log("\(part): \(shapes.count) tumour cross-sections from \(partMaps.count) KiTS19 label maps")
                try FileManager.default.createDirectory(at: folder.appendingPathComponent("slices"), withIntermediateDirectories: true)
                try synthesis.run(slices: partSlices, reader: input.reader, shapes: shapes, output: folder.appendingPathComponent("slices"), log: log)
            }
            if phantoms, !partMaps.isEmpty {
                try FileManager.default.createDirectory(at: folder.appendingPathComponent("phantoms"), withIntermediateDirectories: true)
                try PhantomSynthesis().write(labelMaps: partMaps, to: folder.appendingPathComponent("phantoms"), seed: seed, log: log)
            }
        }
        for testCase in slices where split.testPatients.contains(testCase.patient) {
            for (kind, file) in [("images", testCase.image), ("labels", testCase.labels)] {
                let folder = root.appendingPathComponent("test/real-slices/\(kind)")
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                let copy = folder.appendingPathComponent(file.lastPathComponent)
                try? FileManager.default.removeItem(at: copy)
                try FileManager.default.copyItem(at: file, to: copy)
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(split).write(to: root.appendingPathComponent("split.json"))
    }
}
