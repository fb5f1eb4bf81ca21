import ArgumentParser
import Foundation
import Imaging
import NeuralNet

@main
struct KidneySeg: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kidneyseg",
        abstract: "Kidney and kidney-tumour segmentation of abdominal CT.",
        version: kidneysegVersion,
        subcommands: [Serve.self, Segment.self, Train.self, Synth.self, StackSlices.self, Info.self, Evaluate.self, EvaluateSet.self, Overlay.self, Backup.self, Bench.self, BenchTrain.self,
                      ReadDICOM.self, WriteSEG.self, ExportTraining.self]
    )

    /// Runs the command, with OpenBLAS's kernels for this CPU (see `BLASKernels`). Every failure
    /// is one line on stderr and a non-zero exit status; help and version requests print as usual.
    static func main() {
        BLASKernels.restartingWithTheCPUsKernels(arguments: CommandLine.unsafeArgv)
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let status = exitCode(for: error)
            if status == .success { exit(withError: error) }
            let message = message(for: error).split(separator: "\n").first.map(String.init) ?? "failed"
            FileHandle.standardError.write(Data("kidneyseg: \(message)\n".utf8))
            Foundation.exit(status.rawValue)
        }
    }
}

/// A failure the CLI itself detects, such as a slice index out of range.
struct CommandError: Error, CustomStringConvertible {
    var description: String

    init(_ description: String) { self.description = description }
}

/// How image files are read: the options every command that opens a CT shares.
struct InputOptions: ParsableArguments {
    @Option(name: .customLong("hu-range"), help: ArgumentHelp("HU range of 8-bit PNG pixels 0 and 255, as LO,HI.", valueName: "LO,HI"))
    var huRange: HounsfieldRange = HounsfieldRange(-125...225)

    @Option(name: .customLong("hu-offset"), help: "16-bit PNG pixels store HU plus this offset.")
    var huOffset: Float = 1024

    @Option(name: .customLong("pixel-spacing"), help: ArgumentHelp("Millimetres per pixel of PNG slices, which store no spacing.", valueName: "MM"))
    var pixelSpacing: Double = DecodeOptions.defaultPNGPixelSpacing

    @Option(name: .customLong("series-uid"), help: ArgumentHelp("The DICOM series to read from a folder or zip holding several (default: the CT series with the most slices).", valueName: "UID"))
    var seriesUID: String?

    func validate() throws {
        guard pixelSpacing > 0, pixelSpacing.isFinite else { throw ValidationError("--pixel-spacing must be a positive number of millimetres") }
    }

    /// DICOM is parsed by this binary in a child process, as the service does, so that a file
    /// GDCM aborts on gives a clear error.
    var reader: VolumeReader {
        var options = DecodeOptions(png: PNGHounsfieldMapping(offset16: huOffset, range8: huRange.range), pngPixelSpacing: pixelSpacing,
                                    dicomSeriesUID: seriesUID)
        options.dicomReader = Bundle.main.executableURL
        return VolumeReader(options: options)
    }
}

struct HounsfieldRange: ExpressibleByArgument {
    var range: ClosedRange<Float>

    init(_ range: ClosedRange<Float>) { self.range = range }

    init?(argument: String) {
        let parts = argument.split(separator: ",").map { Float($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 2, let lower = parts[0], let upper = parts[1], lower < upper else { return nil }
        range = lower...upper
    }

    var defaultValueDescription: String { "\(range.lowerBound.formatted),\(range.upperBound.formatted)" }
}

extension URL {
    init(argument path: String) { self.init(fileURLWithPath: path) }
}

extension Float {
    /// Whole numbers without a decimal point, others with up to four significant decimals.
    var formatted: String { Double(self).formatted }
}

extension Double {
    var formatted: String {
        if self == rounded() && abs(self) < 1e15 { return String(Int(self)) }
        return String(format: "%.4g", self)
    }
}
