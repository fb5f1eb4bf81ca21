import Foundation
import Imaging
import TestSupport
import Testing

/// DICOM SEG of constructed label maps on the example series, read back by pydicom.
@Suite struct DICOMSegmentationTests {
    let scratch = ScratchDirectory()

    /// Kidney in slices 3-12, a tumour inside it in slices 6-8 and a lone one on slice 15.
    func labels(on series: DICOMSeries) -> LabelMap {
        let size = series.geometry.size
        var voxels = [UInt8](repeating: 0, count: size.voxelCount)
        func fill(_ z: ClosedRange<Int>, _ y: Range<Int>, _ x: Range<Int>, _ label: UInt8) {
            for k in z { for j in y { for i in x { voxels[(k * size.y + j) * size.x + i] = label } } }
        }
        fill(3...12, 200..<260, 100..<160, 1)
        fill(6...8, 210..<230, 110..<125, 2)
        fill(15...15, 300..<305, 400..<420, 2)
        return LabelMap(geometry: series.geometry, voxels: voxels, source: VolumeSource(format: .dicom, datatype: .uint8))
    }

    @Test(.enabled(if: SEGCheck.isAvailable, "dciodvfy or pydicom is not installed"))
    func writesAValidSEGWhoseFramesAreTheLabelMap() throws {
        let folder = try SEGCheck.exampleSeriesWithUIDs(in: scratch.url)
        let series = try DICOMSeries(directory: folder, limits: VolumeLimits())
        let labels = labels(on: series)
        let seg = scratch.url.appendingPathComponent("seg.dcm")
        try DICOMSegmentation.write(labels, on: series, to: seg)

        #expect(try SEGCheck.validityErrors(seg) == [])
        let readBack = try SEGCheck.read(seg, source: folder, scratch: scratch.url)
        #expect(readBack.sop_class_uid == "1.2.840.10008.5.1.4.1.1.66.4")
        #expect(readBack.modality == "SEG" && readBack.segmentation_type == "BINARY")
        #expect(readBack.frames == 10 + 4)  // a frame per slice that holds a segment
        #expect(SEGCheck.mismatches(readBack, labels: labels, segmentLabels: [1, 2]) == [])
        // The check itself can fail: one voxel changed is one frame wrong.
        var changed = labels
        changed.voxels[(7 * series.geometry.size.y + 215) * series.geometry.size.x + 140] = 0
        #expect(SEGCheck.mismatches(readBack, labels: changed, segmentLabels: [1, 2]) == ["frame 4 (segment 1, slice 7): 1 pixels differ"])

        #expect(readBack.segments.map(\.label) == ["Kidney", "Kidney tumour"])
        #expect(readBack.segments.map { [$0.type.value, $0.type.scheme, $0.type.meaning] } == [["64033007", "SCT", "Kidney"], ["108369006", "SCT", "Neoplasm"]])
        #expect(readBack.segments.map(\.category.value) == ["91723000", "49755003"])
        #expect(readBack.segments.allSatisfy { $0.algorithm_type == "AUTOMATIC" })
        // Patient, study and frame of reference are the source's; the series is its own.
        for (keyword, pair) in readBack.attributes { #expect(pair.seg == pair.source, "\(keyword)") }
        #expect(readBack.attributes["PatientID"]?.seg == "KSEG-0001")
        #expect(readBack.series_instance_uid != readBack.source_series_instance_uid)
        #expect(readBack.referenced_series.map(\.uid) == [readBack.source_series_instance_uid])
        #expect(Set(readBack.referenced_series[0].instances) == Set(readBack.per_frame.map(\.source)))
    }

    @Test(.enabled(if: SEGCheck.isAvailable, "pydicom is not installed"))
    func refusesALabelMapOffTheSeriesGrid() throws {
        let folder = try SEGCheck.exampleSeriesWithUIDs(in: scratch.url)
        let series = try DICOMSeries(directory: folder, limits: VolumeLimits())
        var moved = labels(on: series)
        moved.geometry.sform.matrix.rows[0].w += 5
        let seg = scratch.url.appendingPathComponent("seg.dcm")
        #expect(throws: VolumeIOError.invalidDICOM("the label map does not lie on the series' voxels: it lies elsewhere in the patient: its affine places the voxels away from the image's")) {
            try DICOMSegmentation.write(moved, on: series, to: seg)
        }
        #expect(!FileManager.default.fileExists(atPath: seg.path))
    }

    @Test func refusesASeriesWithoutStudyAndSeriesUIDs() throws {
        let series = try DICOMSeries(directory: SharedData.exampleDICOMSeries, limits: VolumeLimits())
        #expect(throws: VolumeIOError.invalidDICOM("the source series has no Study or Series Instance UID, so a DICOM SEG could not refer to it")) {
            try DICOMSegmentation.write(labels(on: series), on: series, to: scratch.url.appendingPathComponent("seg.dcm"))
        }
    }
}
