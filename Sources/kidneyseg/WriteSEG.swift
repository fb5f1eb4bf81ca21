import ArgumentParser
import Foundation
import Imaging

/// The child process the service writes DICOM SEG in: it parses the source series again (see
/// `ReadDICOM`), writes the SEG of a label map on it, and prints one JSON reply.
struct WriteSEG: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "write-seg",
        abstract: "Write a label map as DICOM SEG on its source series, for the service's child process.",
        shouldDisplay: false
    )

    @Argument(help: "The source DICOM folder, zip or file.") var input: String
    @Option(help: "The label map (NIfTI) on the series' grid.") var mask: String
    @Option(help: "The SEG to write.") var output: String
    @Option(name: .customLong("series-uid")) var seriesUID: String?

    func run() throws {
        let options = DecodeOptions(dicomSeriesUID: seriesUID)
        let reply: DICOMReaderReply
        do {
            let labels = try VolumeReader(options: options).readLabels(from: URL(argument: mask))
            reply = DICOMReaderReply(summary: try DICOMSegmentation.write(labels, seriesAt: URL(argument: input), options: options, to: URL(argument: output)))
        } catch {
            reply = DICOMReaderReply(failure: error)
        }
        print(String(decoding: try JSONEncoder().encode(reply), as: UTF8.self))
    }
}
