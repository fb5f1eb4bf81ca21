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
        let stored = try input.reader.read(from: URL(argument: file))
        let volume = stored.volume
        let geometry = volume.geometry
        let transform = geometry.sform.code != .unknown ? "sform, \(geometry.sform.code.name)"
            : geometry.qform.code != .unknown ? "qform, \(geometry.qform.code.name)" : "no transform: pixdim only"
        let spacing = geometry.spacing
        let (lowest, highest) = volume.voxels.reduce((Float.infinity, -Float.infinity)) { (min($0.0, $1), max($0.1, $1)) }
        let rows = [
            ("file", file),
            ("format", "\(volume.source.format), \(volume.source.datatype.name)"),
            ("dims", "\(geometry.size)"),
            ("spacing", "\(spacing.x.formatted) x \(spacing.y.formatted) x \(spacing.z.formatted) mm"),
            ("axis codes", "\(geometry.orientation) (\(transform))"),
            ("HU range", "\(stored.mapping.hounsfield(lowest).formatted) to \(stored.mapping.hounsfield(highest).formatted)"),
            ("labels", labelSummary(volume)),
        ]
        for (name, value) in rows { print(name.padding(toLength: 12, withPad: " ", startingAt: 0) + value) }
    }

    /// Voxel counts per label when the stored values look like a label map: integers from 0 to
    /// 255, with few distinct values.
    private func labelSummary(_ volume: Volume<Float>) -> String {
        var counts = [Int](repeating: 0, count: 256)
        for value in volume.voxels {
            guard let label = UInt8(exactly: value) else { return "none (not a label map)" }
            counts[Int(label)] += 1
        }
        let present = counts.indices.filter { counts[$0] > 0 }
        guard present.count <= 16 else { return "none (\(present.count) distinct values: an intensity image)" }
        return present.map { value in
            let name = SegmentationLabel(rawValue: UInt8(value)).map { " \($0.name)" } ?? ""
            let millilitres = Double(counts[value]) * volume.geometry.voxelMillilitres
            return "\(value)\(name): \(counts[value]) voxels, \(String(format: "%.1f", millilitres)) mL"
        }.joined(separator: "; ")
    }
}
