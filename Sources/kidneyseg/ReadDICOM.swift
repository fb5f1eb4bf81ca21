import ArgumentParser
import Foundation
import Imaging

/// The child process the service parses DICOM in (see `DecodeOptions.dicomReader`): it reads a
/// DICOM folder, zip or file, writes the series as NIfTI (int16 HU), and prints one JSON reply.
/// If GDCM aborts on a hostile file, only this process stops.
struct ReadDICOM: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "read-dicom",
        abstract: "Read a DICOM series into NIfTI, for the service's child process.",
        shouldDisplay: false
    )

    @Argument(help: "A DICOM folder, zip or file.") var input: String
    @Option(help: "The NIfTI to write.") var output: String
    @Option(name: .customLong("series-uid")) var seriesUID: String?
    @Option(name: .customLong("max-voxels")) var maxVoxels: Int = VolumeLimits().maxVoxels

    func run() throws {
        let options = DecodeOptions(limits: VolumeLimits(maxVoxels: maxVoxels), dicomSeriesUID: seriesUID)
        let reply: DICOMReaderReply
        do {
            let (volume, summary) = try DICOMInput.read(URL(argument: input), options: options)
            try NIfTIWriter.write(hounsfield: volume.hounsfield(), to: URL(argument: output))
            reply = DICOMReaderReply(summary: summary)
        } catch {
            reply = DICOMReaderReply(failure: error)
        }
        print(String(decoding: try JSONEncoder().encode(reply), as: UTF8.self))
    }
}
