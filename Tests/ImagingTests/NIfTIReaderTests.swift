import Foundation
import Imaging
import TestSupport
import Testing

@Suite struct NIfTIReaderTests {
    let scratch = ScratchDirectory()
    let reader = VolumeReader()

    @Test func readsTheExampleCT() throws {
        let ct = try reader.readCT(from: SharedData.exampleCT)
        #expect(ct.geometry.size == GridSize(x: 122, y: 101, z: 112))
        #expect(ct.source == VolumeSource(format: .nifti(version: 1, gzipped: true), datatype: .int32))
        #expect(ct.geometry.spacing == SIMD3(3, 3, 3))
        #expect(ct.geometry.orientation.description == "RAS")
        #expect(ct.voxels.min() == -1207)
        #expect(ct.voxels.max() == 3382)
    }

    @Test func readsTheKiTSLabelMapStoredSlicesFirst() throws {
        let labels = try reader.readLabels(from: SharedData.kitsLabels(61))
        #expect(labels.geometry.size == GridSize(x: 29, y: 512, z: 512))
        #expect(labels.geometry.orientation.description == "IPL")
        #expect(labels.voxels.filter { $0 == 1 }.count == 124_943)
        #expect(labels.voxels.filter { $0 == 2 }.count == 23276)
    }

    /// NIfTI datatype codes with values at the edges of each type's range.
    static let datatypeCases: [(Int16, [Double])] = [
        (2, [0, 7, 200, 255]), (4, [-1024, -1, 0, 3071]), (512, [0, 1, 40000, 65535]),
        (8, [-100_000, 0, 5, 100_000]), (16, [-0.5, 0.25, 1e6, -3]), (64, [1e-9, -2.5, 3e10, 0]),
    ]

    @Test(arguments: datatypeCases)
    func readsEveryDatatype(datatype: Int16, values: [Double]) throws {
        let directory = scratch.url
        var fixture = NIfTIFixture()
        fixture.datatype = datatype
        fixture.dims = [3, 2, 2, 1, 1, 1, 1, 1]
        fixture.values = values
        let ct = try reader.readCT(from: fixture.write(named: "volume.nii", in: directory))
        #expect(ct.voxels == values.map { Float($0) })
        #expect(ct.source.datatype.rawValue == datatype)
    }

    @Test(arguments: [1, 2], [false, true])
    func readsNIfTI1And2InEitherByteOrderGzippedOrNot(version: Int, bigEndian: Bool) throws {
        let directory = scratch.url
        var fixture = NIfTIFixture()
        fixture.version = version
        fixture.bigEndian = bigEndian
        fixture.values = (0..<8).map(Double.init)
        for name in ["plain.nii", "packed.nii.gz"] {
            let ct = try reader.readCT(from: fixture.write(named: name, in: directory))
            #expect(ct.voxels == (0..<8).map(Float.init))
            #expect(ct.source.format == .nifti(version: version, gzipped: name.hasSuffix(".gz")))
            #expect(ct.geometry.orientation.description == "LPS")
        }
    }

    @Test func appliesTheScaleSlopeAndIntercept() throws {
        var fixture = NIfTIFixture()
        fixture.datatype = 512  // uint16 stored as HU + 1024 is a common scanner export
        fixture.dims = [3, 3, 1, 1, 1, 1, 1, 1]
        fixture.values = [0, 1024, 2048]
        fixture.slope = 0.5
        fixture.intercept = -512
        let ct = try reader.readCT(from: fixture.write(named: "scaled.nii", in: scratch.url))
        #expect(ct.voxels == [-512, 0, 512])
    }

    @Test func acceptsFourDimensionsWithOneTimePoint() throws {
        var fixture = NIfTIFixture()
        fixture.dims = [4, 2, 2, 2, 1, 1, 1, 1]
        fixture.values = (0..<8).map(Double.init)
        let ct = try reader.readCT(from: fixture.write(named: "4d.nii", in: scratch.url))
        #expect(ct.geometry.size == GridSize(x: 2, y: 2, z: 2))
    }

    @Test func readsAFileWhoseNameHidesItsCompression() throws {
        let directory = scratch.url
        let gzipped = try Data(contentsOf: SharedData.pancreasSlice)
        let misnamed = directory.appendingPathComponent("upload.bin")
        try gzipped.write(to: misnamed)
        let ct = try reader.readCT(from: misnamed)
        #expect(ct.geometry.size == GridSize(x: 512, y: 512, z: 1))
        #expect(ct.voxels.min() == -1024)
    }

    // MARK: - Bad input gets a typed error

    @Test func rejectsATruncatedGzipStream() throws {
        let directory = scratch.url
        let whole = try Data(contentsOf: SharedData.exampleCT)
        let truncated = directory.appendingPathComponent("truncated.nii.gz")
        try whole.prefix(whole.count / 2).write(to: truncated)
        #expect(throws: VolumeIOError.truncatedData) { try reader.readCT(from: truncated) }
        #expect(throws: VolumeIOError.truncatedData) { try reader.describe(truncated) }
    }

    @Test func describesAFileAsDecodingWouldWithoutItsVoxels() throws {
        let description = try reader.describe(SharedData.exampleCT)
        let ct = try reader.readCT(from: SharedData.exampleCT)
        #expect(description == VolumeDescription(geometry: ct.geometry, source: ct.source))
        #expect(description.axialSize == ct.axialStack().size)
    }

    @Test func rejectsAnUncompressedFileCutShort() throws {
        var fixture = NIfTIFixture()
        fixture.values = (0..<8).map(Double.init)
        let url = scratch.url.appendingPathComponent("short.nii")
        try fixture.data().prefix(352 + 5).write(to: url)
        #expect(throws: VolumeIOError.truncatedData) { try reader.readCT(from: url) }
        #expect(throws: VolumeIOError.truncatedData) { try reader.describe(url) }
        try fixture.data().write(to: url)
        #expect(try reader.describe(url).geometry.size == GridSize(x: 2, y: 2, z: 2))
    }

    @Test func rejectsATruncatedHeader() throws {
        let url = scratch.url.appendingPathComponent("header.nii")
        try NIfTIFixture().data().prefix(200).write(to: url)
        #expect(throws: VolumeIOError.truncatedHeader(bytes: 200, needed: 348)) { try reader.readCT(from: url) }
    }

    @Test func rejectsAWrongMagic() throws {
        var bytes = NIfTIFixture().data()
        bytes.replaceSubrange(344..<348, with: Array("abc\0".utf8))
        let url = scratch.url.appendingPathComponent("magic.nii")
        try bytes.write(to: url)
        #expect(throws: VolumeIOError.wrongMagic(found: "abc")) { try reader.readCT(from: url) }
    }

    @Test func rejectsTextThatIsNoImage() throws {
        let url = scratch.url.appendingPathComponent("notes.nii")
        try Data("patient notes, not an image".utf8).write(to: url)
        #expect(throws: VolumeIOError.unrecognizedFormat) { try reader.readCT(from: url) }
    }

    @Test func rejectsAnUnsupportedDatatype() throws {
        var fixture = NIfTIFixture()
        fixture.datatype = 32  // complex64
        #expect(throws: VolumeIOError.unsupportedDatatype(code: 32)) {
            try reader.readCT(from: fixture.write(named: "complex.nii", in: scratch.url))
        }
    }

    @Test func rejectsSeveralTimePoints() throws {
        var fixture = NIfTIFixture()
        fixture.dims = [4, 2, 2, 2, 3, 1, 1, 1]
        fixture.values = (0..<24).map(Double.init)
        #expect(throws: VolumeIOError.multipleTimePoints(3)) {
            try reader.readCT(from: fixture.write(named: "4d.nii", in: scratch.url))
        }
    }

    @Test func rejectsAbsurdDimensionsBeforeAllocating() throws {
        let directory = scratch.url
        var huge = NIfTIFixture()
        huge.dims = [3, 32767, 32767, 32767, 1, 1, 1, 1]  // 35 T voxels, with no data behind them
        #expect(throws: VolumeIOError.exceedsLimit(voxels: 32767 * 32767 * 32767, limit: VolumeLimits().maxVoxels)) {
            try reader.readCT(from: huge.write(named: "huge.nii", in: directory))
        }
        var overflowing = NIfTIFixture()
        overflowing.version = 2
        overflowing.dims = [3, 1 << 40, 1 << 40, 1, 1, 1, 1, 1]
        #expect(throws: VolumeIOError.sizeOverflow(dims: [1 << 40, 1 << 40, 1])) {
            try reader.readCT(from: overflowing.write(named: "overflow.nii", in: directory))
        }
        var negative = NIfTIFixture()
        negative.dims = [3, 2, -2, 2, 1, 1, 1, 1]
        #expect(throws: VolumeIOError.invalidHeader("dim[2] is -2, not a positive size")) {
            try reader.readCT(from: negative.write(named: "negative.nii", in: directory))
        }
    }

    /// 23000 x 23000 x 1 is under the voxel limit, but no CT slice is that large: refused from
    /// the header, before anything is decompressed or allocated.
    @Test func rejectsASliceTooLargeForAnyScanner() throws {
        var bomb = NIfTIFixture()
        bomb.dims = [3, 23000, 23000, 1, 1, 1, 1, 1]
        #expect(throws: VolumeIOError.sliceExceedsLimit(pixels: 23000 * 23000, limit: 4096 * 4096)) {
            try reader.readCT(from: bomb.write(named: "bomb.nii", in: scratch.url))
        }
    }

    @Test func enforcesAConfigurableVoxelLimit() throws {
        let strict = VolumeReader(options: DecodeOptions(limits: VolumeLimits(maxVoxels: 1_000_000)))
        #expect(throws: VolumeIOError.exceedsLimit(voxels: 122 * 101 * 112, limit: 1_000_000)) {
            try strict.readCT(from: SharedData.exampleCT)
        }
    }

    @Test func refusesACTAsALabelMap() throws {
        #expect(throws: VolumeIOError.self) { try reader.readLabels(from: SharedData.exampleCT) }
    }
}
