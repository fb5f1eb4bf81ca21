import Foundation

/// Builds NIfTI files byte by byte from the offsets in nifti1.h and nifti2.h, so tests can craft
/// any datatype, byte order or broken header without depending on the reader under test.
public struct NIfTIFixture {
    public var version = 1
    /// NIfTI datatype code (2 uint8, 4 int16, 8 int32, 16 float32, 64 float64, 512 uint16).
    public var datatype: Int16 = 4
    /// dim[0...7]; unused entries are 1.
    public var dims: [Int64] = [3, 2, 2, 2, 1, 1, 1, 1]
    public var pixdim: [Double] = [1, 1, 1, 1]
    public var slope = 0.0
    public var intercept = 0.0
    public var sformCode: Int32 = 1
    /// srow_x, srow_y, srow_z.
    public var sform: [[Double]] = [[-1, 0, 0, 10], [0, -1, 0, 20], [0, 0, 1, 30]]
    public var qformCode: Int32 = 0
    public var bigEndian = false
    public var values: [Double] = []

    public init() {}

    public var bytesPerVoxel: Int {
        switch datatype {
        case 2: 1
        case 4, 512: 2
        case 8, 16: 4
        case 64: 8
        default: 1
        }
    }

    public func data() -> Data {
        let headerLength = version == 1 ? 348 : 540
        var bytes = ByteWriter(count: headerLength + 4, bigEndian: bigEndian)
        bytes.int32(Int32(headerLength), at: 0)
        if version == 1 {
            for (index, dim) in dims.enumerated() { bytes.int16(Int16(truncatingIfNeeded: dim), at: 40 + 2 * index) }
            bytes.int16(datatype, at: 70)
            bytes.int16(Int16(bytesPerVoxel * 8), at: 72)
            for (index, value) in pixdim.enumerated() { bytes.float32(Float(value), at: 76 + 4 * index) }
            bytes.float32(352, at: 108)
            bytes.float32(Float(slope), at: 112)
            bytes.float32(Float(intercept), at: 116)
            bytes.raw([2], at: 123)  // millimetres
            bytes.int16(Int16(qformCode), at: 252)
            bytes.int16(Int16(sformCode), at: 254)
            for (row, values) in sform.enumerated() {
                for (column, value) in values.enumerated() { bytes.float32(Float(value), at: 280 + 16 * row + 4 * column) }
            }
            bytes.raw(Array("n+1\0".utf8), at: 344)
        } else {
            bytes.raw(Array("n+2\0\r\n".utf8) + [0x1A, 0x0A], at: 4)
            bytes.int16(datatype, at: 12)
            bytes.int16(Int16(bytesPerVoxel * 8), at: 14)
            for (index, dim) in dims.enumerated() { bytes.int64(dim, at: 16 + 8 * index) }
            for (index, value) in pixdim.enumerated() { bytes.float64(value, at: 104 + 8 * index) }
            bytes.int64(544, at: 168)
            bytes.float64(slope, at: 176)
            bytes.float64(intercept, at: 184)
            bytes.int32(qformCode, at: 344)
            bytes.int32(sformCode, at: 348)
            for (row, values) in sform.enumerated() {
                for (column, value) in values.enumerated() { bytes.float64(value, at: 400 + 32 * row + 8 * column) }
            }
            bytes.int32(2, at: 500)  // millimetres
        }
        var voxels = ByteWriter(count: values.count * bytesPerVoxel, bigEndian: bigEndian)
        for (index, value) in values.enumerated() {
            let offset = index * bytesPerVoxel
            switch datatype {
            case 2: voxels.raw([UInt8(value)], at: offset)
            case 4: voxels.int16(Int16(value), at: offset)
            case 512: voxels.int16(Int16(bitPattern: UInt16(value)), at: offset)
            case 8: voxels.int32(Int32(value), at: offset)
            case 16: voxels.float32(Float(value), at: offset)
            case 64: voxels.float64(value, at: offset)
            default: break
            }
        }
        return Data(bytes.bytes + voxels.bytes)
    }

    /// Writes the file, gzipped when `name` ends in .gz, into `directory`.
    @discardableResult
    public func write(named name: String, in directory: URL) throws -> URL {
        let url = directory.appendingPathComponent(name)
        try (name.hasSuffix(".gz") ? gzip(data()) : data()).write(to: url)
        return url
    }
}

private struct ByteWriter {
    var bytes: [UInt8]
    let bigEndian: Bool

    init(count: Int, bigEndian: Bool) {
        bytes = [UInt8](repeating: 0, count: count)
        self.bigEndian = bigEndian
    }

    mutating func raw(_ values: [UInt8], at offset: Int) {
        bytes.replaceSubrange(offset..<offset + values.count, with: values)
    }

    private mutating func integer<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        let ordered = bigEndian ? value.bigEndian : value.littleEndian
        withUnsafeBytes(of: ordered) { raw(Array($0), at: offset) }
    }

    mutating func int16(_ value: Int16, at offset: Int) { integer(value, at: offset) }
    mutating func int32(_ value: Int32, at offset: Int) { integer(value, at: offset) }
    mutating func int64(_ value: Int64, at offset: Int) { integer(value, at: offset) }
    mutating func float32(_ value: Float, at offset: Int) { integer(value.bitPattern, at: offset) }
    mutating func float64(_ value: Double, at offset: Int) { integer(value.bitPattern, at: offset) }
}
