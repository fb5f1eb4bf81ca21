internal import CDICOMSEG
import Foundation

/// A label map as a DICOM Segmentation object (binary SEG, written by DCMTK's dcmseg) that a
/// PACS viewer shows over its source series:
///
/// - one segment for kidney and one for tumour, coded in SNOMED CT, in the overlay's colours;
/// - its frames lie on the source slices, each referencing the slice it was derived from;
/// - patient, study and frame of reference are the source's, the series is new.
///
/// Like reading, writing parses the source files again, so in the service it runs in the child
/// process too (`kidneyseg write-seg`) when `DecodeOptions.dicomReader` is set.
public enum DICOMSegmentation {
    public struct Segment: Sendable {
        public var label: SegmentationLabel
        public var name: String
        public var category: (code: String, meaning: String)
        public var type: (code: String, meaning: String)
    }

    public static let segments: [Segment] = [
        Segment(label: .kidney, name: "Kidney", category: ("91723000", "Anatomical Structure"), type: ("64033007", "Kidney")),
        Segment(label: .tumour, name: "Kidney tumour", category: ("49755003", "Morphologically Altered Structure"), type: ("108369006", "Neoplasm")),
    ]

    public static let mediaType = "application/dicom"

    /// Writes the SEG of `labels`, which lie on the grid of the series in `input` (a folder, zip
    /// or file, chosen as `options` chose it when reading). Returns the series' summary.
    @discardableResult
    public static func write(_ labels: LabelMap, seriesAt input: URL, options: DecodeOptions, to output: URL) throws -> DICOMSeriesSummary {
        guard let executable = options.dicomReader else {
            return try DICOMInput.series(input, options: options) { series in
                try write(labels, on: series, to: output)
                return series.summary
            }
        }
        let mask = FileManager.default.temporaryDirectory.appendingPathComponent("kidneyseg-seg-\(UUID().uuidString).nii")
        defer { try? FileManager.default.removeItem(at: mask) }
        try NIfTIWriter.write(labels, to: mask)
        return try DICOMChild(executable: executable).reply(["write-seg", input.path, "--mask", mask.path, "--output", output.path], options: options) {
            "the DICOM SEG writer stopped (\($0))"
        }
    }

    /// Writes the SEG of `labels` on `series`, in this process.
    public static func write(_ labels: LabelMap, on series: DICOMSeries, to output: URL) throws {
        if let refusal = series.summary.segmentationRefusal { throw VolumeIOError.invalidDICOM(refusal) }
        try checkGrid(of: labels, matches: series)
        let first = series.slices[0]
        let plane = series.geometry.size.x * series.geometry.size.y
        guard plane * series.slices.count == labels.voxels.count else { throw VolumeIOError.invalidDICOM("the label map does not fill the series") }
        // C copies of every string the request points at, freed when it is written.
        var strings: [UnsafeMutablePointer<CChar>?] = []
        defer { strings.forEach { free($0) } }
        func copy(_ text: String) -> UnsafePointer<CChar>? {
            strings.append(strdup(text))
            return UnsafePointer(strings.last!)
        }
        let colours = OverlayStyle().colours
        let described = segments.map { segment in
            let colour = colours[segment.label] ?? SIMD3(255, 255, 255)
            return kseg_seg_segment(label: segment.label.rawValue, name: copy(segment.name), category_code: copy(segment.category.code),
                                    category_meaning: copy(segment.category.meaning), type_code: copy(segment.type.code),
                                    type_meaning: copy(segment.type.meaning), rgb: (colour.x, colour.y, colour.z))
        }
        let uids = series.slices.map { copy($0.sopInstanceUID) }
        let positions = series.slices.flatMap { [$0.position.x, $0.position.y, $0.position.z] }
        let o = first.orientation
        var message = [CChar](repeating: 0, count: 512)
        let status = labels.voxels.withUnsafeBufferPointer { voxels in
            described.withUnsafeBufferPointer { segmentBuffer in
                uids.withUnsafeBufferPointer { uidBuffer in
                    positions.withUnsafeBufferPointer { positionBuffer in
                        var request = kseg_seg_request(
                            rows: Int32(first.rows), columns: Int32(first.columns), slices: Int32(series.slices.count),
                            labels: voxels.baseAddress, segments: segmentBuffer.baseAddress, segment_count: Int32(described.count),
                            source_file: copy(first.url.path), source_series_uid: copy(series.summary.seriesInstanceUID),
                            source_sop_class_uid: copy(first.sopClassUID), slice_uids: uidBuffer.baseAddress, positions: positionBuffer.baseAddress,
                            orientation: (o[0], o[1], o[2], o[3], o[4], o[5]), pixel_spacing: (first.pixelSpacing.row, first.pixelSpacing.column),
                            slice_spacing: series.geometry.pixdim.z, software_version: copy(kidneysegVersion),
                            series_description: copy("kidneyseg kidney and tumour"))
                        return kseg_seg_write(&request, output.path, &message, message.count)
                    }
                }
            }
        }
        guard status == 0 else { throw VolumeIOError.invalidDICOM("cannot write the DICOM SEG: \(String(nulTerminated: message))") }
    }

    /// The label map must lie on the series' voxels (a job's mask is written on its input's
    /// grid, so anything else is a mix-up).
    static func checkGrid(of labels: LabelMap, matches series: DICOMSeries) throws {
        if let mismatch = labels.geometry.gridMismatch(with: series.geometry) {
            throw VolumeIOError.invalidDICOM("the label map does not lie on the series' voxels: \(mismatch)")
        }
        // Frames are cut from the voxels in order, so the order must be the series' own too.
        let (mine, theirs) = (labels.geometry.affine.rows, series.geometry.affine.rows)
        guard labels.geometry.size == series.geometry.size, zip(mine, theirs).allSatisfy({ (a, b) in (0..<4).allSatisfy { abs(a[$0] - b[$0]) < 1e-3 } }) else {
            throw VolumeIOError.invalidDICOM("the label map's voxels are not in the series' order")
        }
    }
}
