import Foundation
import Imaging
import TestSupport
import Testing

/// `segment` on a DICOM series gives the mask it gives on dcm2niix's NIfTI of the same series.
@Suite struct DICOMCommandTests {
    let scratch = ScratchDirectory()
    @Test(.enabled(if: Dcm2niix.isInstalled, "dcm2niix is not installed"))
    func segmentsASeriesAsItsDcm2niixConversion() throws {
        let converted = try Dcm2niix.convert(SharedData.exampleDICOMSeries, into: scratch.url.appendingPathComponent("converted"))
        // The shipped models, so that the mask has labels in it to compare.
        let models = DeploymentTests.repository.appendingPathComponent("Models").path
        let fromDICOM = scratch.url.appendingPathComponent("dicom-mask.nii.gz")
        let fromNIfTI = scratch.url.appendingPathComponent("nifti-mask.nii.gz")
        let dicom = try CLI.run("segment", SharedData.exampleDICOMSeries.path, "-o", fromDICOM.path, "--models", models)
        #expect(dicom.status == 0, "\(dicom.stderr)")
        let nifti = try CLI.run("segment", converted.path, "-o", fromNIfTI.path, "--models", models)
        #expect(nifti.status == 0, "\(nifti.stderr)")
        let reader = VolumeReader()
        let (a, b) = (try reader.readLabels(from: fromDICOM), try reader.readLabels(from: fromNIfTI))
        #expect(a.geometry.gridMismatch(with: b.geometry) == nil)
        #expect(a.axialStack().voxels == b.axialStack().voxels)
        #expect(a.voxels.contains { $0 != 0 })
        #expect(dicom.stdout == nifti.stdout)  // the same volumes, side by side
    }

    /// GDCM aborts on this file; the CLI parses DICOM in a child, so it says so in one line.
    @Test func saysClearlyWhenTheDICOMLibraryCrashes() throws {
        let crash = DeploymentTests.repository.appendingPathComponent("Fuzz/corpus/dicom/crash-gdcm-assertion")
        let result = try CLI.run("info", crash.path)
        #expect(result.status == 1)
        #expect(result.stderr == "kidneyseg: unusable DICOM: the DICOM reader stopped on this input (signal 6); it cannot be read safely\n")
    }

    @Test func refusesAMaskNameThatIsNotNIfTIOrSEG() throws {
        let result = try CLI.run("segment", SharedData.exampleDICOMSeries.path, "-o", scratch.url.appendingPathComponent("mask.png").path)
        #expect(result.status != 0)
        #expect(result.stderr.contains("a DICOM input's label map is NIfTI or DICOM SEG: name the output .nii, .nii.gz or .dcm, not mask.png"))
        let nifti = try CLI.run("segment", SharedData.exampleCT.path, "-o", scratch.url.appendingPathComponent("mask.dcm").path)
        #expect(nifti.stderr.contains("DICOM SEG is written for DICOM inputs only; this one's label map is NIfTI"))
    }

    /// `segment SERIES -o out.dcm` writes a SEG that dciodvfy finds no error in and that pydicom
    /// reads back, frame for frame, as the NIfTI mask of the same series.
    @Test(.enabled(if: SEGCheck.isAvailable, "dciodvfy or pydicom is not installed"))
    func writesASEGThatReadsBackAsTheNIfTIMask() throws {
        let series = try SEGCheck.exampleSeriesWithUIDs(in: scratch.url)
        let models = DeploymentTests.repository.appendingPathComponent("Models").path
        let seg = scratch.url.appendingPathComponent("seg.dcm"), mask = scratch.url.appendingPathComponent("mask.nii.gz")
        for output in [seg, mask] {
            let result = try CLI.run("segment", series.path, "-o", output.path, "--models", models)
            #expect(result.status == 0, "\(result.stderr)")
        }
        #expect(try SEGCheck.validityErrors(seg) == [])
        let readBack = try SEGCheck.read(seg, source: series, scratch: scratch.url)
        let labels = try VolumeReader().readLabels(from: mask)
        #expect(labels.voxels.contains(1))
        #expect(SEGCheck.mismatches(readBack, labels: labels, segmentLabels: [1, 2]) == [])
        #expect(readBack.referenced_series.map(\.uid) == [readBack.source_series_instance_uid])
    }

    /// An anonymiser blanked the example series' Study and Series UIDs: a SEG could not refer to it.
    @Test func refusesASEGForASeriesWithoutUIDs() throws {
        let result = try CLI.run("segment", SharedData.exampleDICOMSeries.path, "-o", scratch.url.appendingPathComponent("seg.dcm").path)
        #expect(result.status == 1)
        #expect(result.stderr.contains("the source series has no Study or Series Instance UID, so a DICOM SEG could not refer to it"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: scratch.url.appendingPathComponent("seg.dcm").path))
    }
}
