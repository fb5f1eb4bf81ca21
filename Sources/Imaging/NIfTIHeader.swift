/// The fields of a NIfTI-1 or NIfTI-2 header that decide whether a file can be read at all,
/// parsed from its first bytes before the library allocates anything.
///
/// Offsets are those of nifti1.h and nifti2.h. Either byte order is accepted, as `sizeof_hdr`
/// (348 or 540) tells which one the file uses.
struct NIfTIHeader: Equatable {
    static let maximumLength = 540

    var version: Int
    var datatype: VoxelDatatype
    var size: GridSize
    /// `pixdim[1...3]` as the file stores them, before libnifti replaces values it cannot use.
    var pixdim: SIMD3<Double>

    init(parsing bytes: [UInt8], limits: VolumeLimits) throws {
        let reader = ByteReader(bytes: bytes)
        guard bytes.count >= 4 else { throw VolumeIOError.truncatedHeader(bytes: bytes.count, needed: 348) }
        let declaredLength = reader.int32(at: 0)
        reader.swapped = ![348, 540].contains(declaredLength)
        let version: Int
        switch reader.int32(at: 0) {
        case 348: version = 1
        case 540: version = 2
        default: throw VolumeIOError.wrongMagic(found: reader.text(at: bytes.count >= 348 ? 344 : 0, count: 4))
        }
        self.version = version
        let length = version == 1 ? 348 : 540
        guard bytes.count >= length else { throw VolumeIOError.truncatedHeader(bytes: bytes.count, needed: length) }

        let magic = reader.text(at: version == 1 ? 344 : 4, count: 4)
        switch (version, magic) {
        case (1, "n+1"), (2, "n+2"): break
        case (1, "ni1"), (2, "ni2"): throw VolumeIOError.twoFileNIfTI
        default: throw VolumeIOError.wrongMagic(found: magic)
        }

        let datatypeCode = reader.int16(at: version == 1 ? 70 : 12)
        guard let datatype = VoxelDatatype(rawValue: datatypeCode) else {
            throw VolumeIOError.unsupportedDatatype(code: Int(datatypeCode))
        }
        self.datatype = datatype

        let dims: [Int] = (0..<8).map {
            version == 1 ? Int(reader.int16(at: 40 + 2 * $0)) : Int(reader.int64(at: 16 + 8 * $0))
        }
        guard (1...7).contains(dims[0]) else { throw VolumeIOError.invalidHeader("dim[0] is \(dims[0]), not 1 to 7") }
        let used = Array(dims[1...dims[0]])
        if let bad = used.firstIndex(where: { $0 < 1 }) {
            throw VolumeIOError.invalidHeader("dim[\(bad + 1)] is \(used[bad]), not a positive size")
        }
        let spatial = Array(used.prefix(3)) + Array(repeating: 1, count: max(0, 3 - used.count))
        guard let extra = Self.product(used.dropFirst(3)) else { throw VolumeIOError.sizeOverflow(dims: used) }
        guard extra == 1 else { throw VolumeIOError.multipleTimePoints(extra) }
        guard let voxels = Self.product(spatial), voxels.multipliedReportingOverflow(by: datatype.bytes).overflow == false else {
            throw VolumeIOError.sizeOverflow(dims: used)
        }
        size = GridSize(x: spatial[0], y: spatial[1], z: spatial[2])
        pixdim = version == 1 ? SIMD3(Double(reader.float32(at: 80)), Double(reader.float32(at: 84)), Double(reader.float32(at: 88)))
            : SIMD3(reader.float64(at: 112), reader.float64(at: 120), reader.float64(at: 128))
        // An axis the image does not have (a 2-D file's third) is one voxel thick, of any size.
        for axis in min(used.count, 3)..<3 where !(pixdim[axis].isFinite && pixdim[axis] > 0) { pixdim[axis] = 1 }
        try Self.checkNumbers(reader, version: version)
        try limits.check(size)
    }

    /// The transforms in use and the scaling must be numbers. libnifti quietly turns NaN and
    /// infinity into 0, which would turn or move the volume without a word, so they are
    /// checked here, as stored.
    private static func checkNumbers(_ reader: ByteReader, version: Int) throws {
        let number = { (offset1: Int, offset2: Int, index: Int) -> Double in
            version == 1 ? Double(reader.float32(at: offset1 + 4 * index)) : reader.float64(at: offset2 + 8 * index)
        }
        let qformCode = version == 1 ? Int(reader.int16(at: 252)) : Int(reader.int32(at: 344))
        let sformCode = version == 1 ? Int(reader.int16(at: 254)) : Int(reader.int32(at: 348))
        let qformFields = ["quatern_b", "quatern_c", "quatern_d", "qoffset_x", "qoffset_y", "qoffset_z"]
        if qformCode > 0, let bad = qformFields.indices.first(where: { !number(256, 352, $0).isFinite }) {
            throw VolumeIOError.invalidGeometry("the qform's \(qformFields[bad]) is \(number(256, 352, bad))")
        }
        if sformCode > 0, let bad = (0..<12).first(where: { !number(280, 400, $0).isFinite }) {
            throw VolumeIOError.invalidGeometry("the sform's srow_\(["x", "y", "z"][bad / 4])[\(bad % 4)] is \(number(280, 400, bad))")
        }
        let (slope, intercept) = (number(112, 176, 0), number(116, 184, 0))
        if slope.isFinite && slope != 0 && !intercept.isFinite {
            throw VolumeIOError.invalidHeader("scl_inter is \(intercept) while scl_slope is \(slope)")
        }
    }

    /// The product, or nil when it overflows.
    private static func product<S: Sequence<Int>>(_ values: S) -> Int? {
        var result = 1
        for value in values {
            let (next, overflow) = result.multipliedReportingOverflow(by: value)
            if overflow { return nil }
            result = next
        }
        return result
    }
}

/// Little-endian reads at byte offsets, with optional byte swapping.
private final class ByteReader {
    let bytes: [UInt8]
    var swapped = false

    init(bytes: [UInt8]) { self.bytes = bytes }

    private func integer<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        var value: T = 0
        for index in 0..<MemoryLayout<T>.size {
            value |= T(truncatingIfNeeded: bytes[offset + index]) << (8 * index)
        }
        return swapped ? value.byteSwapped : value
    }

    func int16(at offset: Int) -> Int16 { integer(Int16.self, at: offset) }
    func int32(at offset: Int) -> Int32 { integer(Int32.self, at: offset) }
    func int64(at offset: Int) -> Int64 { integer(Int64.self, at: offset) }
    func float32(at offset: Int) -> Float { Float(bitPattern: integer(UInt32.self, at: offset)) }
    func float64(at offset: Int) -> Double { Double(bitPattern: integer(UInt64.self, at: offset)) }

    /// Up to `count` bytes as text, stopping at the first NUL; other unprintable bytes become '?'.
    func text(at offset: Int, count: Int) -> String {
        let slice = bytes[offset..<min(bytes.count, offset + count)].prefix { $0 != 0 }
        return String(slice.map { (32..<127).contains($0) ? Character(UnicodeScalar($0)) : "?" })
    }
}
