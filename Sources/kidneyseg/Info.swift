import ArgumentParser
import Foundation
import Imaging

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe a CT or label file: size, spacing, orientation, HU range and labels."
    )

    @Argument(help: "A NIfTI (.nii, .nii.gz) or PNG file.")
    var file: String

    @OptionGroup var input: InputOptions

    func run() throws {
        let url = URL(argument: file)
        let reader = input.reader
        let volume = try reader.readCT(from: url)
        let geometry = volume.geometry
        let transform = geometry.sform.code != .unknown ? "sform, \(geometry.sform.code.name)"
            : geometry.qform.code != .unknown ? "qform, \(geometry.qform.code.name)" : "no transform: pixdim only"
        let spacing = geometry.spacing
        var rows = [
            ("file", file),
            ("format", "\(volume.source.format), \(volume.source.datatype.name)"),
            ("dims", "\(geometry.size)"),
            ("spacing", "\(spacing.x.formatted) x \(spacing.y.formatted) x \(spacing.z.formatted) mm"),
            ("axis codes", "\(geometry.orientation) (\(transform))"),
            ("HU range", "\((volume.voxels.min() ?? 0).formatted) to \((volume.voxels.max() ?? 0).formatted)"),
        ]
        rows.append(("labels", labelSummary(of: url, reader: reader, voxelMillilitres: geometry.voxelMillilitres)))
        for (name, value) in rows { print(name.padding(toLength: 12, withPad: " ", startingAt: 0) + value) }
    }

    /// Voxel counts per label when the file is a label map: integers from 0 to 255 with few
    /// distinct values.
    private func labelSummary(of url: URL, reader: VolumeReader, voxelMillilitres: Double) -> String {
        guard let labels = try? reader.readLabels(from: url) else { return "none (not a label map)" }
        var counts = [Int](repeating: 0, count: 256)
        for label in labels.voxels { counts[Int(label)] += 1 }
        let present = counts.indices.filter { counts[$0] > 0 }
        guard present.count <= 16 else { return "none (\(present.count) distinct values: an intensity image)" }
        return present.map { value in
            let name = SegmentationLabel(rawValue: UInt8(value)).map { " \($0.name)" } ?? ""
            let millilitres = Double(counts[value]) * voxelMillilitres
            return "\(value)\(name): \(counts[value]) voxels, \(String(format: "%.1f", millilitres)) mL"
        }.joined(separator: "; ")
    }
}
