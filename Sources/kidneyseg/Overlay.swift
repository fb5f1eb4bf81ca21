import ArgumentParser
import Foundation
import Imaging

struct Overlay: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw one axial slice of a CT with a label map on top, as a PNG.",
        discussion: "Slices are counted in canonical axial order: 0 is the most inferior slice, whatever the file's own voxel order."
    )

    @Argument(help: "The CT (NIfTI or PNG).")
    var ct: String

    @Option(help: "The label map on the CT's voxel grid.")
    var mask: String

    @Option(help: "Axial slice index, from 0 at the inferior end.")
    var slice: Int

    @Option(name: .shortAndLong, help: "Where to write the PNG.")
    var output: String

    @OptionGroup var input: InputOptions

    func run() throws {
        let reader = input.reader
        let ct = try reader.readCT(from: URL(argument: self.ct)).axialStack()
        let labels = try reader.readLabels(from: URL(argument: mask)).axialStack()
        guard ct.size == labels.size else {
            throw CommandError("the mask's grid (\(labels.size)) differs from the CT's (\(ct.size))")
        }
        guard (0..<ct.sliceCount).contains(slice) else {
            throw CommandError("slice \(slice) is outside 0...\(ct.sliceCount - 1)")
        }
        let image = OverlayStyle().render(ct: ct.slice(slice), labels: labels.slice(slice))
        try PNGCodec.write(PNGCodec.encode(rgb: image), to: URL(argument: output))
    }
}
