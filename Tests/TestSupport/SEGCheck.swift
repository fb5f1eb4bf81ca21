import Foundation
import Imaging

/// Independent checks of a DICOM SEG: dciodvfy (Debian's dicom3tools) judges validity, and
/// pydicom (python3-pydicom) reads it back (Tests/Scripts/dicom_seg.py).
public enum SEGCheck {
    static let python = "/usr/bin/python3"
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Scripts/dicom_seg.py")

    public static let isAvailable: Bool = FileManager.default.isExecutableFile(atPath: "/usr/bin/dciodvfy")
        && (try? run(python, ["-c", "import pydicom, numpy"]).status) == 0

    /// The example DICOM series with the Study and Series Instance UIDs its anonymiser blanked
    /// filled in (a SEG must refer to both), written into `folder`.
    public static func exampleSeriesWithUIDs(in folder: URL) throws -> URL {
        let series = folder.appendingPathComponent("series-with-uids")
        let result = try run(python, [script.path, "with-uids", SharedData.exampleDICOMSeries.path, series.path])
        guard result.status == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: result.output]) }
        return series
    }

    /// One file of the example series, claiming transfer syntax `uid` for its pixel data.
    public static func exampleFile(claiming uid: String, at url: URL) throws -> URL {
        let result = try run(python, [script.path, "relabel", try ZipFixture.exampleSeriesFiles[0].path, url.path, uid])
        guard result.status == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: result.output]) }
        return url
    }

    /// dciodvfy's errors about `seg` (its warnings are left out).
    public static func validityErrors(_ seg: URL) throws -> [String] {
        let result = try run("/usr/bin/dciodvfy", [seg.path])
        return result.output.split(separator: "\n").map(String.init).filter { $0.hasPrefix("Error") }
    }

    /// What pydicom reads from a SEG, with the attributes of its source series beside it.
    public struct ReadBack: Decodable {
        public struct Code: Decodable, Equatable { public var value, scheme, meaning: String }
        public struct Segment: Decodable { public var number: Int; public var label: String; public var category, type: Code; public var algorithm_type: String }
        public struct Frame: Decodable { public var segment: Int; public var source: String; public var position: [Double] }
        public struct Series: Decodable { public var uid: String; public var instances: [String] }
        public struct Pair: Decodable { public var seg, source: String }

        public var sop_class_uid, modality, segmentation_type, series_instance_uid, source_series_instance_uid: String
        public var rows, columns, frames: Int
        public var segments: [Segment]
        public var per_frame: [Frame]
        public var referenced_series: [Series]
        public var attributes: [String: Pair]
        public var source_positions: [String: [Double]]
        /// Every frame's pixels, 0 or 1, frame after frame.
        public var pixels: [UInt8] = []

        enum CodingKeys: String, CodingKey {
            case sop_class_uid, modality, segmentation_type, series_instance_uid, source_series_instance_uid, rows, columns, frames
            case segments, per_frame, referenced_series, attributes, source_positions
        }
    }

    public static func read(_ seg: URL, source: URL, scratch: URL) throws -> ReadBack {
        let out = scratch.appendingPathComponent("seg-read-\(UUID().uuidString)")
        let result = try run(python, [script.path, "read", seg.path, source.path, out.path])
        guard result.status == 0 else { throw CocoaError(.fileReadCorruptFile, userInfo: [NSLocalizedDescriptionKey: result.output]) }
        var readBack = try JSONDecoder().decode(ReadBack.self, from: Data(contentsOf: out.appendingPathComponent("seg.json")))
        readBack.pixels = [UInt8](try Data(contentsOf: out.appendingPathComponent("frames.raw")))
        return readBack
    }

    /// How the SEG's frames differ from `labels` (the NIfTI mask on the series' grid), with
    /// segment n standing for `labels[n - 1]`: each frame must lie on a slice, reference that
    /// slice's file, and hold exactly that slice's voxels of its label; and every slice with a
    /// label's voxels must have its frame.
    public static func mismatches(_ seg: ReadBack, labels: LabelMap, segmentLabels: [UInt8]) -> [String] {
        let size = labels.geometry.size
        let plane = size.x * size.y
        let affine = labels.geometry.affine
        // A slice's first voxel in DICOM's LPS coordinates.
        let slicePositions = (0..<size.z).map { z -> [Double] in
            let ras = (0..<3).map { (affine.rows[$0] * SIMD4(0, 0, Double(z), 1)).sum() }
            return [-ras[0], -ras[1], ras[2]]
        }
        let near = { (a: [Double], b: [Double]) in zip(a, b).allSatisfy { abs($0 - $1) < 0.01 } }
        guard seg.rows == size.y, seg.columns == size.x, seg.pixels.count == seg.frames * plane, seg.per_frame.count == seg.frames else {
            return ["the SEG's \(seg.frames) frames of \(seg.columns)x\(seg.rows) are not on the \(size) grid"]
        }
        var problems: [String] = []
        var covered = Set<[Int]>()
        for (index, frame) in seg.per_frame.enumerated() {
            guard frame.segment >= 1, frame.segment <= segmentLabels.count else { problems.append("frame \(index): segment \(frame.segment)"); continue }
            guard let z = slicePositions.firstIndex(where: { near($0, frame.position) }) else { problems.append("frame \(index) lies on no slice"); continue }
            switch seg.source_positions[frame.source] {
            case nil: problems.append("frame \(index) references \(frame.source), not a file of the series")
            case let position? where !near(position, frame.position): problems.append("frame \(index) references a file at another position")
            default: break
            }
            let label = segmentLabels[frame.segment - 1]
            covered.insert([Int(label), z])
            let differing = (0..<plane).filter { seg.pixels[index * plane + $0] != (labels.voxels[z * plane + $0] == label ? 1 : 0) }.count
            if differing > 0 { problems.append("frame \(index) (segment \(frame.segment), slice \(z)): \(differing) pixels differ") }
        }
        for label in segmentLabels {
            for z in 0..<size.z where !covered.contains([Int(label), z]) && labels.voxels[(z * plane)..<((z + 1) * plane)].contains(label) {
                problems.append("slice \(z) has label \(label) but no frame")
            }
        }
        return problems
    }

    static func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }
}
