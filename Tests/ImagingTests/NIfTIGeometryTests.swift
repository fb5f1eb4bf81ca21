import Foundation
import Imaging
import TestSupport
import Testing

/// Headers whose geometry cannot be measured, and voxels that are not numbers, are refused with
/// a clear error by both the upload check (`describe`) and the decoder, rather than read as
/// negative millilitres, a made-up 1 mm, or 0 HU.
@Suite struct NIfTIGeometryTests {
    let scratch = ScratchDirectory()
    let reader = VolumeReader()

    func fixture(pixdim: Double, sform: Bool) -> NIfTIFixture {
        var fixture = NIfTIFixture()
        fixture.pixdim = [1, pixdim, pixdim, pixdim]
        fixture.sformCode = sform ? 1 : 0
        fixture.sform = [[0.8, 0, 0, 0], [0, 0.8, 0, 0], [0, 0, 2.5, 0]]
        fixture.values = [Double](repeating: 40, count: 8)
        return fixture
    }

    func isInvalidGeometry(_ error: any Error) -> Bool {
        if case VolumeIOError.invalidGeometry = error { return true }
        return false
    }

    @Test(arguments: [-1.5, 0, Double.nan, Double.infinity])
    func refusesVoxelSizesThatAreNotPositiveWithoutAnSform(pixdim: Double) throws {
        let url = try fixture(pixdim: pixdim, sform: false).write(named: "bad.nii", in: scratch.url)
        #expect(performing: { try reader.describe(url) }, throws: isInvalidGeometry)
        #expect(performing: { try reader.readCT(from: url) }, throws: isInvalidGeometry)
    }

    @Test(arguments: [-1.5, 0, Double.nan])
    func takesVoxelSizesFromAUsableSform(pixdim: Double) throws {
        let url = try fixture(pixdim: pixdim, sform: true).write(named: "sform.nii", in: scratch.url)
        let geometry = try reader.describe(url).geometry
        #expect(abs(geometry.spacing.x - 0.8) < 1e-6 && abs(geometry.spacing.y - 0.8) < 1e-6 && abs(geometry.spacing.z - 2.5) < 1e-6)
        #expect(abs(geometry.voxelMillilitres - 0.0016) < 1e-9)
        #expect(try reader.readCT(from: url).geometry == geometry)
    }

    @Test func refusesAbsurdlyLargeVoxels() throws {
        let url = try fixture(pixdim: 1e30, sform: false).write(named: "huge.nii", in: scratch.url)
        #expect(performing: { try reader.describe(url) }, throws: isInvalidGeometry)
    }

    @Test(arguments: [[[0.0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]], [[1, 0, 0, 0], [2, 0, 0, 0], [0, 0, 1, 0]],
                      [[Double.nan, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]]])
    func refusesAnSformThatIsSingularOrNotFinite(rows: [[Double]]) throws {
        var fixture = fixture(pixdim: 1, sform: true)
        fixture.sform = rows
        let url = try fixture.write(named: "singular.nii", in: scratch.url)
        #expect(performing: { try reader.describe(url) }, throws: isInvalidGeometry)
    }

    @Test func refusesAQformThatIsNoRotation() throws {
        var fixture = fixture(pixdim: 1, sform: false)
        fixture.qformCode = 1
        var bytes = fixture.data()
        bytes.replaceSubrange(256..<260, with: withUnsafeBytes(of: Float.nan.bitPattern.littleEndian, Array.init))  // quatern_b
        let url = scratch.url.appendingPathComponent("qform.nii")
        try bytes.write(to: url)
        #expect(performing: { try reader.describe(url) }, throws: isInvalidGeometry)
    }

    @Test(arguments: [(16, false), (16, true), (64, false), (64, true)] as [(Int16, Bool)])
    func refusesVoxelsThatAreNotNumbers(datatype: Int16, bigEndian: Bool) throws {
        var fixture = fixture(pixdim: 1, sform: true)
        fixture.datatype = datatype
        fixture.bigEndian = bigEndian
        fixture.values = [40, .nan, 40, 40, -.infinity, 40, 40, 40]
        for name in ["nan.nii", "nan.nii.gz"] {
            let url = try fixture.write(named: name, in: scratch.url)
            #expect(throws: VolumeIOError.nonFiniteVoxels(count: 2)) { try reader.describe(url) }
            #expect(throws: VolumeIOError.nonFiniteVoxels(count: 2)) { try reader.readCT(from: url) }
        }
        fixture.values = [Double](repeating: -1000, count: 8)
        #expect(try reader.describe(fixture.write(named: "finite.nii", in: scratch.url)).geometry.size == GridSize(x: 2, y: 2, z: 2))
    }

    @Test func refusesAnInterceptThatIsNotANumber() throws {
        var fixture = fixture(pixdim: 1, sform: true)
        fixture.slope = 1
        fixture.intercept = .nan
        let url = try fixture.write(named: "intercept.nii", in: scratch.url)
        #expect(throws: VolumeIOError.invalidHeader("scl_inter is nan while scl_slope is 1.0")) { try reader.describe(url) }
    }

    /// A reference on the same grid of voxels passes; one with other voxel sizes, or placed
    /// elsewhere in the patient, is named as such.
    @Test func findsAReferenceOffTheImagesVoxels() throws {
        var same = fixture(pixdim: 1, sform: true)
        same.pixdim = [1, 0.8, 0.8, 2.5]
        let image = try reader.describe(same.write(named: "image.nii", in: scratch.url)).geometry
        same.datatype = 2
        #expect(image.gridMismatch(with: try reader.describe(same.write(named: "same.nii", in: scratch.url)).geometry) == nil)
        var coarser = same
        coarser.sform = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 3, 0]]
        coarser.pixdim = [1, 1, 1, 3]
        let spacing = image.gridMismatch(with: try reader.describe(coarser.write(named: "coarser.nii", in: scratch.url)).geometry)
        #expect(spacing?.contains("its voxels (1 x 1 x 3 mm) differ from the image's (0.8 x 0.8 x 2.5 mm)") == true)
        var moved = same
        moved.sform[2][3] = 50
        let place = image.gridMismatch(with: try reader.describe(moved.write(named: "moved.nii", in: scratch.url)).geometry)
        #expect(place?.contains("elsewhere in the patient") == true)
    }
}
