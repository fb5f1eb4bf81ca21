import Foundation
import Imaging
import TestSupport
import Testing

@Suite struct NIfTIWriterTests {
    let scratch = ScratchDirectory()

    /// Labels derived from the real file in canonical order, as a segmentation produces them.
    static let files = [SharedData.kitsLabels(61), SharedData.exampleCT, SharedData.pancreasSlice]

    @Test(arguments: files)
    func aLabelMapWrittenBackOverlaysItsSourceVoxelForVoxel(file: URL) throws {
        let source = try VolumeReader().readCT(from: file)
        let axial = source.axialStack()
        // Label by intensity in canonical space: 1 for soft tissue, 2 for bone (or, in a label
        // file, the labels themselves).
        let labels = AxialStack(size: axial.size, spacing: axial.spacing,
                                voxels: axial.voxels.map { $0 > 250 ? 2 : $0 > 0 ? 1 : 0 } as [UInt8])
        let expectedInStoredOrder = source.voxels.map { $0 > 250 ? 2 : $0 > 0 ? 1 : 0 } as [UInt8]
        let labelMap = source.replacingVoxels(withAxial: labels)
        #expect(labelMap.voxels == expectedInStoredOrder)

        let directory = scratch.url
        for name in ["mask.nii.gz", "mask.nii"] {
            let url = directory.appendingPathComponent(name)
            try NIfTIWriter.write(labelMap, to: url)
            let written = try VolumeReader().readLabels(from: url)
            #expect(written.geometry == source.geometry)
            #expect(written.voxels == expectedInStoredOrder)
            #expect(written.source.format == .nifti(version: 1, gzipped: name.hasSuffix(".gz")))
        }
    }

    @Test func writesNIfTI2() throws {
        let labels = try VolumeReader().readLabels(from: SharedData.exampleKidneyReference)
        let url = scratch.url.appendingPathComponent("mask.nii.gz")
        try NIfTIWriter.write(labels, to: url, version: 2)
        let written = try VolumeReader().readLabels(from: url)
        #expect(written.source.format == .nifti(version: 2, gzipped: true))
        #expect(written.geometry == labels.geometry)
        #expect(written.voxels == labels.voxels)
    }

    @Test func keepsTheQFormExactly() throws {
        var fixture = NIfTIFixture()
        fixture.qformCode = 1
        fixture.values = [Double](repeating: 1, count: 8)
        let directory = scratch.url
        var original = try VolumeReader().readLabels(from: fixture.write(named: "in.nii", in: directory))
        original.geometry.qform = QForm(code: .scannerAnatomical, quaternion: SIMD3(0, 0, 1), offset: SIMD3(90.5, -126.25, -72), qfac: -1)
        original.geometry.pixdim = SIMD3(0.75, 0.75, 2.5)
        let url = directory.appendingPathComponent("out.nii")
        try NIfTIWriter.write(original, to: url)
        #expect(try VolumeReader().readLabels(from: url).geometry == original.geometry)
    }

    @Test func leavesNothingBehindWhenTheDirectoryIsMissing() throws {
        let labels = try VolumeReader().readLabels(from: SharedData.exampleKidneyReference)
        let missing = scratch.url.appendingPathComponent("no/such/dir/mask.nii.gz")
        #expect(throws: VolumeIOError.self) { try NIfTIWriter.write(labels, to: missing) }
        #expect(!FileManager.default.fileExists(atPath: missing.path))
    }
}

extension NIfTIWriterTests {
    @Test func writesCTAsInt16WithItsGeometry() throws {
        let ct = try VolumeReader().readCT(from: SharedData.exampleCT)
        let url = scratch.url.appendingPathComponent("ct.nii.gz")
        try NIfTIWriter.write(hounsfield: ct, to: url)
        let back = try VolumeReader().readCT(from: url)
        #expect(back.geometry == ct.geometry)
        #expect(back.source.datatype == .int16)
        #expect(back.voxels == ct.voxels)  // whole HU values from -1207 to 3382 fit int16
    }
}
