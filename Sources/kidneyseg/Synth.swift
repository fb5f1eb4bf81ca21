import ArgumentParser
import Foundation
import Imaging
import Training

struct Synth: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make training data: real CT slices with synthetic tumours shaped like real KiTS19 tumours, in the KiTS layout.",
        discussion: """
            Example: kidneyseg synth --slices ../shared/data/curvas-slices --hu-range 0,255 \
            --kits-labels ../shared/data/kits19-labels --output data/synthetic
            """
    )

    @Option(help: ArgumentHelp("A PNG-layout folder of real slices with kidney labels.", valueName: "DIR"))
    var slices: String

    @Option(name: .customLong("kits-labels"), help: ArgumentHelp("A folder of KiTS19 case_XXXXX/segmentation.nii.gz label maps.", valueName: "DIR"))
    var kitsLabels: String

    @Option(help: ArgumentHelp("Where to write case_<patient>/ folders and provenance.json.", valueName: "DIR"))
    var output: String

    @OptionGroup var input: InputOptions

    @Option(help: "Tumour copies of each slice that shows a kidney.")
    var variants = 3

    @Option(name: .customLong("shapes-per-case"), help: "Tumour cross-sections cut from each KiTS19 case.")
    var shapesPerCase = 3

    @Option(help: "Millimetres per pixel of the slices.")
    var spacing = 0.8

    @Option(help: "Seed for every random choice.")
    var seed: UInt64 = 1

    @Option(help: ArgumentHelp("Also write one 3-D phantom CT per KiTS19 label map here (KiTS layout).", valueName: "DIR"))
    var phantoms: String?

    func run() throws {
        let maps = try FileManager.default.contentsOfDirectory(atPath: kitsLabels).filter { $0.hasPrefix("case_") }.sorted()
            .map { URL(argument: kitsLabels).appendingPathComponent("\($0)/segmentation.nii.gz") }
            .filter { FileManager.default.fileExists(atPath: $0.path) }
        guard !maps.isEmpty else { throw CommandError("\(kitsLabels) holds no case_XXXXX/segmentation.nii.gz") }
        let shapes = try LesionLibrary.shapes(from: maps, perCase: shapesPerCase, spacing: spacing)
        print("\(shapes.count) tumour cross-sections from \(maps.count) KiTS19 label maps")
        var synthesis = TumourSynthesis()
        synthesis.variants = variants
        synthesis.seed = seed
        synthesis.spacing = spacing
        let range = input.huRange.range
        synthesis.painter = TumourPainter(clamp: range.lowerBound >= 0 ? range : nil)
        try FileManager.default.createDirectory(at: URL(argument: output), withIntermediateDirectories: true)
        let log = { (line: String) in
            print(line)
            fflush(nil)
        }
        try synthesis.run(slices: TrainingCase.cases(in: URL(argument: slices)), reader: input.reader, shapes: shapes,
                          output: URL(argument: output), log: log)
        if let phantoms {
            try FileManager.default.createDirectory(at: URL(argument: phantoms), withIntermediateDirectories: true)
            try PhantomSynthesis().write(labelMaps: maps, to: URL(argument: phantoms), seed: seed, log: log)
        }
    }
}
