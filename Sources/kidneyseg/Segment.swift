import ArgumentParser
import Foundation
import Imaging
import SegmentationMetrics
import NeuralNet

struct Segment: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Segment kidneys and tumours in a CT volume or slice with the model ensemble.",
        discussion: "The label map is written in the input's own format and geometry: NIfTI in, NIfTI out; PNG in, label PNG out; DICOM in, NIfTI or (named .dcm) DICOM SEG out."
    )

    @Argument(help: "The CT: NIfTI (.nii, .nii.gz), PNG, or DICOM (a folder, a zip or one file).")
    var input: String

    @Option(name: .shortAndLong, help: "Where to write the label map (.nii, .nii.gz or .png; .dcm for DICOM SEG of a DICOM input).")
    var output: String

    @Option(help: "A reference label map: prints Dice, recall and precision against it.")
    var reference: String?

    @OptionGroup var models: ModelOptions

    @OptionGroup var reading: InputOptions

    func run() throws {
        ComputeThreads.configure()
        let ct = try reading.reader.readCT(from: URL(argument: input))
        try Self.checkOutputName(output, for: ct.source.format)
        let pipeline = try SegmentationPipeline(ensemble: models.ensemble())
        let result = try pipeline.segment(ct)
        if Self.isSEG(output) {
            try DICOMSegmentation.write(result.labels, seriesAt: URL(argument: input), options: reading.reader.options, to: URL(argument: output))
        } else {
            try writeLabelMap(result.labels, to: URL(argument: output))
        }
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

    /// The label map is written in the input's format, so the output's name must say that
    /// format: a NIfTI written to `out.png` would open as a broken PNG.
    static func checkOutputName(_ output: String, for format: ImageFormat) throws {
        let name = output.lowercased()
        if format == .png {
            guard name.hasSuffix(".png") else {
                throw CommandError("the label map is written in the input's format, PNG: name the output .png, not \(URL(argument: output).lastPathComponent)")
            }
        } else if format == .dicom {
            guard name.hasSuffix(".nii") || name.hasSuffix(".nii.gz") || isSEG(name) else {
                throw CommandError("a DICOM input's label map is NIfTI or DICOM SEG: name the output .nii, .nii.gz or .dcm, not \(URL(argument: output).lastPathComponent)")
            }
        } else {
            guard name.hasSuffix(".nii") || name.hasSuffix(".nii.gz") else {
                let rule = isSEG(name) ? "DICOM SEG is written for DICOM inputs only; this one's label map is NIfTI" : "the label map is written in the input's format, NIfTI"
                throw CommandError("\(rule): name the output .nii or .nii.gz, not \(URL(argument: output).lastPathComponent)")
            }
        }
    }
}

extension Segment {
    static func isSEG(_ output: String) -> Bool { output.lowercased().hasSuffix(".dcm") }
}

/// Where the model ensemble comes from.
struct ModelOptions: ParsableArguments {
    @Option(name: .customLong("models"), help: ArgumentHelp("A folder of model folders (manifest.json + weights.safetensors).", valueName: "DIR"))
    var folder: String?

    /// --models, else $KIDNEYSEG_MODELS_DIR, else Models, found as `locate` finds folders.
    var location: URL { Self.locate(folder ?? ProcessInfo.processInfo.environment["KIDNEYSEG_MODELS_DIR"] ?? "Models") }

    /// One rule for every command (segment, serve, evaluate-set, bench): a relative models folder
    /// is looked for in the working directory, then in the repository the binary was built in,
    /// so that the shipped `Models` are found from anywhere.
    static func locate(_ path: String) -> URL {
        let given = URL(argument: path)
        if path.hasPrefix("/") || FileManager.default.fileExists(atPath: given.path) { return given }
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        while directory.path != "/" {
            if FileManager.default.fileExists(atPath: directory.appendingPathComponent("Package.swift").path) {
                let inRepository = directory.appendingPathComponent(path)
                return FileManager.default.fileExists(atPath: inRepository.path) ? inRepository : given
            }
            directory = directory.deletingLastPathComponent()
        }
        return given
    }

    func ensemble() throws -> Ensemble { try Ensemble(folder: location) }
}
