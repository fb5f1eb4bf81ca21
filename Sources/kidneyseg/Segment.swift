import ArgumentParser
import Foundation
import Imaging
import SegmentationMetrics
import NeuralNet

struct Segment: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Segment kidneys and tumours in a CT volume or slice with the model ensemble.",
        discussion: "The label map is written in the input's own format and geometry: NIfTI in, NIfTI out; PNG in, label PNG out."
    )

    @Argument(help: "The CT: NIfTI (.nii, .nii.gz) or PNG.")
    var input: String

    @Option(name: .shortAndLong, help: "Where to write the label map.")
    var output: String

    @Option(help: "A reference label map: prints Dice, recall and precision against it.")
    var reference: String?

    @OptionGroup var models: ModelOptions

    @OptionGroup var reading: InputOptions

    func run() throws {
        ComputeThreads.configure()
        let pipeline = try SegmentationPipeline(ensemble: models.ensemble())
        let ct = try reading.reader.readCT(from: URL(argument: input))
        let result = try pipeline.segment(ct)
        try writeLabelMap(result.labels, to: URL(argument: output))
        for volume in classVolumes(result.labels) {
            print("\(volume.label.name): \(volume.voxels) voxels, \(String(format: "%.2f", volume.millilitres)) mL")
        }
        for side in result.sides.sides {
            print("\(side.side.rawValue) kidney: \(String(format: "%.2f", side.kidneyMillilitres)) mL kidney, \(String(format: "%.2f", side.tumourMillilitres)) mL tumour")
        }
        if let reference {
            print(MetricsTable.render(try evaluate(prediction: result.labels, reference: reading.reader.readLabels(from: URL(argument: reference)))))
        }
    }
}

/// Where the model ensemble comes from.
struct ModelOptions: ParsableArguments {
    @Option(name: .customLong("models"), help: ArgumentHelp("A folder of model folders (manifest.json + weights.safetensors).", valueName: "DIR"))
    var folder: String?

    /// The first of: --models, $KIDNEYSEG_MODELS_DIR, ./Models, and the Models folder of the
    /// repository the binary was built in.
    var location: URL {
        if let folder { return URL(argument: folder) }
        if let variable = ProcessInfo.processInfo.environment["KIDNEYSEG_MODELS_DIR"] { return URL(argument: variable) }
        let local = URL(argument: "Models")
        if FileManager.default.fileExists(atPath: local.path) { return local }
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        while directory.path != "/" {
            if FileManager.default.fileExists(atPath: directory.appendingPathComponent("Package.swift").path) {
                return directory.appendingPathComponent("Models")
            }
            directory = directory.deletingLastPathComponent()
        }
        return local
    }

    func ensemble() throws -> Ensemble { try Ensemble(folder: location) }
}
