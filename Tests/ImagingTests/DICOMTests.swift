import Foundation
import Imaging
import TestSupport
import Testing

/// DICOM series through GDCM: chosen, sorted and measured as dcm2niix does, and refused with a
/// clear error when they cannot make one evenly spaced CT volume.
@Suite struct DICOMTests {
    let scratch = ScratchDirectory()
    let reader = VolumeReader()

    var seriesFiles: [URL] { get throws { try ZipFixture.exampleSeriesFiles } }

    /// A folder holding links to `files` under the given names.
    func folder(_ name: String, _ files: [(URL, String)]) throws -> URL {
        let folder = scratch.url.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for (file, linkName) in files { try FileManager.default.createSymbolicLink(at: folder.appendingPathComponent(linkName), withDestinationURL: file) }
        return folder
    }

    /// The series gives the same voxels, in HU, on the same grid in the patient as dcm2niix's
    /// NIfTI of it.
    @Test(.enabled(if: Dcm2niix.isInstalled, "dcm2niix is not installed"))
    func readsTheExampleSeriesAsDcm2niixDoes() throws {
        let converted = try reader.readCT(from: Dcm2niix.convert(SharedData.exampleDICOMSeries, into: scratch.url.appendingPathComponent("dcm2niix")))
        let series = try reader.readCT(from: SharedData.exampleDICOMSeries)
        #expect(series.geometry.size == GridSize(x: 512, y: 512, z: 20))
        #expect(converted.geometry.gridMismatch(with: series.geometry) == nil)
        #expect(series.axialStack().voxels == converted.axialStack().voxels)
        #expect(series.voxels.min() == -1024)
    }

    @Test func summarisesTheSeriesItRead() throws {
        let description = try reader.describe(SharedData.exampleDICOMSeries)
        let summary = try #require(description.dicom)
        #expect(summary.slices == 20)
        #expect(summary.skipped.isEmpty && summary.otherSeries.isEmpty)
        #expect(summary.transferSyntaxes == ["1.2.840.10008.1.2.4.90"])  // JPEG 2000, lossless
        #expect(description.geometry.spacing.z == 2)
    }

    /// Slices are sorted by position along the normal, not by file name.
    @Test func sortsSlicesByPositionNotName() throws {
        let files = try seriesFiles
        let shuffled = try folder("shuffled", files.enumerated().map { ($0.element, String(format: "%02d.dcm", (7 * $0.offset) % files.count)) })
        #expect(try reader.readCT(from: shuffled).voxels == reader.readCT(from: SharedData.exampleDICOMSeries).voxels)
    }

    /// Of two series, the one with the most slices is read unless another is named.
    @Test func choosesTheLargestSeriesOrTheNamedOne() throws {
        let two = try folder("two", try seriesFiles.map { ($0, $0.lastPathComponent) } + [(SharedData.pancreasSliceDICOM, "pancreas.dcm")])
        let pancreas = "1.2.826.0.1.3680043.2.1125.1.68878959984837726447916707551399667"
        let largest = try #require(try reader.describe(two).dicom)
        #expect(largest.slices == 20 && largest.otherSeries == [pancreas: 1])
        let named = VolumeReader(options: DecodeOptions(dicomSeriesUID: pancreas))
        #expect(try named.describe(two).dicom?.slices == 1)
        #expect(try named.readCT(from: two).voxels == reader.readCT(from: SharedData.pancreasSliceDICOM).voxels)
        let missing = VolumeReader(options: DecodeOptions(dicomSeriesUID: "1.2.3"))
        #expect(performing: { try missing.describe(two) }, throws: { "\($0)".contains("no CT series 1.2.3") })
    }

    @Test func refusesASeriesWithAMissingSlice() throws {
        var files = try seriesFiles
        files.remove(at: 7)
        let gap = try folder("gap", files.map { ($0, $0.lastPathComponent) })
        #expect(performing: { try reader.describe(gap) }, throws: { "\($0)".contains("a slice is missing after the one at") })
    }

    /// Files that are not DICOM are left out and counted; a folder of none is no image at all.
    @Test func leavesOutFilesThatAreNotDICOM() throws {
        let notes = scratch.url.appendingPathComponent("notes.txt")
        try Data("the radiologist's notes".utf8).write(to: notes)
        let mixed = try folder("mixed", try seriesFiles.map { ($0, $0.lastPathComponent) } + [(notes, "notes.txt")])
        #expect(try reader.describe(mixed).dicom?.skipped == ["not DICOM": 1])
        let none = try folder("none", [(notes, "notes.txt")])
        #expect(throws: VolumeIOError.unrecognizedFormat) { try reader.describe(none) }
    }

    @Test func refusesATruncatedFile() throws {
        let bytes = try Data(contentsOf: try seriesFiles[0])
        let truncated = scratch.url.appendingPathComponent("truncated.dcm")
        try bytes.prefix(bytes.count / 2).write(to: truncated)
        #expect(performing: { try reader.describe(truncated) }, throws: { "\($0)".contains("unusable DICOM") })
    }

    /// The same slice in every lossless transfer syntax, encoded by DCMTK's tools, decodes to
    /// the same HU as the JPEG 2000 original, and the summary names the syntax.
    @Test(.enabled(if: DICOMTools.isInstalled && SEGCheck.isAvailable, "gdcmconv, DCMTK's tools or pydicom is not installed"))
    func readsEveryLosslessTransferSyntax() throws {
        let series = try SEGCheck.exampleSeriesWithUIDs(in: scratch.url)  // gdcmconv wants a SOP Class UID
        let original = try #require(try FileManager.default.contentsOfDirectory(at: series, includingPropertiesForKeys: nil).sorted { $0.path < $1.path }.first)
        let raw = try DICOMTools.uncompressed(original, to: scratch.url.appendingPathComponent("raw.dcm"))
        let expected = try reader.readCT(from: original)
        #expect(expected.voxels.contains { $0 > 100 } && expected.voxels.contains { $0 < -500 })
        #expect(try reader.describe(raw).dicom?.transferSyntaxes == ["1.2.840.10008.1.2.1"])
        #expect(try reader.readCT(from: raw).voxels == expected.voxels)
        for (name, uid, file) in try DICOMTools.encode(raw, in: scratch.url.appendingPathComponent("syntaxes")) {
            #expect(try reader.describe(file).dicom?.transferSyntaxes == [uid], "\(name)")
            let decoded = try reader.readCT(from: file)
            #expect(decoded.geometry == expected.geometry, "\(name)")
            #expect(decoded.voxels == expected.voxels, "\(name)")
        }
    }

    /// The same slice in JPEG baseline and extended sequential decodes to the original's HU
    /// within what each syntax's bits allow, on the same grid, and the summary names the syntax.
    @Test(.enabled(if: DICOMTools.isInstalled && SEGCheck.isAvailable, "gdcmconv, DCMTK's tools or pydicom is not installed"))
    func readsLossyJPEG() throws {
        let series = try SEGCheck.exampleSeriesWithUIDs(in: scratch.url)
        let original = try #require(try FileManager.default.contentsOfDirectory(at: series, includingPropertiesForKeys: nil).sorted { $0.path < $1.path }.first)
        let raw = try DICOMTools.uncompressed(original, to: scratch.url.appendingPathComponent("raw.dcm"))
        let expected = try reader.readCT(from: raw)
        let lossy = DICOMTools.lossyEncodings
        let files = try DICOMTools.encode(raw, in: scratch.url.appendingPathComponent("lossy"), as: lossy.map { ($0.name, $0.uid, $0.tool, $0.options) })
        for ((name, uid, file), allowed) in zip(files, lossy.map(\.meanError)) {
            #expect(try reader.describe(file).dicom?.transferSyntaxes == [uid], "\(name)")
            let decoded = try reader.readCT(from: file)
            #expect(decoded.geometry == expected.geometry, "\(name)")
            try #require(decoded.voxels.count == expected.voxels.count, "\(name)")
            let meanError = zip(decoded.voxels, expected.voxels).map { abs($0 - $1) }.reduce(0, +) / Float(expected.voxels.count)
            #expect(meanError < allowed, "\(name): mean error \(meanError) HU")
        }
    }

    /// One DICOM file is a one-slice volume: the JPEG 2000 slice matches its NIfTI twin.
    @Test func readsOneFileAsASlice() throws {
        let dicom = try reader.readCT(from: SharedData.pancreasSliceDICOM)
        let nifti = try reader.readCT(from: SharedData.pancreasSlice)
        #expect(dicom.source.format == .dicom)
        #expect(dicom.axialStack().voxels == nifti.axialStack().voxels)
        #expect(dicom.geometry.orientation.description == "LAI")
    }
}
