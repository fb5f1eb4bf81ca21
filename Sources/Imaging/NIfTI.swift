internal import CNIfTI
import Foundation

/// Reads NIfTI-1 and NIfTI-2 volumes (.nii and .nii.gz) through libnifti, after `NIfTIHeader`
/// has checked the header, so that no bad header reaches an allocation.
public struct NIfTIDecoder: VolumeDecoder {
    public init() {}

    public var name: String { "NIfTI" }

    public func recognizes(prefix: [UInt8]) -> Bool {
        if prefix.starts(with: [0x1F, 0x8B]) { return true }  // gzip: only NIfTI is read gzipped
        guard prefix.count >= 4 else { return false }
        let length = prefix[0..<4].enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (8 * UInt32($1.offset)) }
        return [348, 540].contains(length) || [348, 540].contains(length.byteSwapped)
    }

    public func decode(from url: URL, options: DecodeOptions) throws -> StoredVolume {
        let image = try NIfTIImage(url: url, limits: options.limits, loadVoxels: true)
        if [.float32, .float64].contains(image.source.datatype) { try image.checkVoxels(at: url) }
        let values = image.scaledValues()
        let nonFinite = values.count { !$0.isFinite }
        guard nonFinite == 0 else { throw VolumeIOError.nonFiniteVoxels(count: nonFinite) }
        return StoredVolume(volume: Volume(geometry: image.geometry, voxels: values, source: image.source), mapping: .identity)
    }

    /// Reads the header, then streams through the voxel data to check it (`checkVoxels`).
    public func describe(from url: URL, options: DecodeOptions) throws -> VolumeDescription {
        let image = try NIfTIImage(url: url, limits: options.limits, loadVoxels: false)
        try image.checkVoxels(at: url)
        return VolumeDescription(geometry: image.geometry, source: image.source)
    }
}

/// A libnifti image, with or without its voxels; frees it when released.
private final class NIfTIImage {
    private let image: UnsafeMutablePointer<nifti_image>
    let source: VolumeSource
    let geometry: VolumeGeometry

    init(url: URL, limits: VolumeLimits, loadVoxels: Bool) throws {
        nifti_set_debug_level(0)  // errors reach the caller as VolumeIOError, not on stderr
        let path = url.path
        var prefix = [UInt8](repeating: 0, count: NIfTIHeader.maximumLength)
        let count = kseg_nifti_read_prefix(path, &prefix, prefix.count)
        guard count >= 0 else { throw VolumeIOError.unreadable(path: path, reason: "no such file or no permission") }
        let header = try NIfTIHeader(parsing: Array(prefix.prefix(count)), limits: limits)
        let gzipped = try isGzipped(path)

        // libnifti chooses decompression by file name, so open misnamed files through a link.
        let properName = try ProperlyNamedFile(url: url, suffix: gzipped ? ".nii.gz" : ".nii")
        defer { properName.remove() }
        guard let image = nifti_image_read(properName.path, 0) else {
            throw VolumeIOError.invalidHeader("libnifti rejected the header")
        }
        guard !loadVoxels || (nifti_image_load(image) == 0 && image.pointee.data != nil) else {
            nifti_image_free(image)
            throw VolumeIOError.truncatedData
        }
        self.image = image
        source = VolumeSource(format: .nifti(version: header.version, gzipped: gzipped), datatype: header.datatype)
        do { geometry = try Self.geometry(of: image.pointee, size: header.size, pixdim: header.pixdim).checked() } catch {
            nifti_image_free(image)
            throw error
        }
    }

    /// Streams through the file, holding at most a megabyte of it: all of the voxel data must
    /// be there, and no float voxel may be NaN or infinite (libnifti would read those as 0).
    func checkVoxels(at url: URL) throws {
        var nonFinite: Int64 = 0
        let floatBytes: Int32 = switch source.datatype {
        case .float32: 4
        case .float64: 8
        default: 0
        }
        let readable = kseg_nifti_scan(url.path, fileBytes, dataOffset, floatBytes, isByteSwapped ? 1 : 0, &nonFinite)
        guard readable >= fileBytes else { throw VolumeIOError.truncatedData }
        guard nonFinite == 0 else { throw VolumeIOError.nonFiniteVoxels(count: Int(nonFinite)) }
    }

    deinit { nifti_image_free(image) }

    /// The header, extensions and voxel data: the bytes a whole (decompressed) file holds.
    var fileBytes: Int64 { dataOffset + Int64(image.pointee.nvox) * Int64(image.pointee.nbyper) }

    /// Where the voxels start (vox_offset).
    var dataOffset: Int64 { Int64(image.pointee.iname_offset) }

    /// Whether the file's byte order is not this machine's.
    var isByteSwapped: Bool { image.pointee.byteorder != nifti_short_order() }

    /// Voxel values with scl_slope and scl_inter applied (NIfTI: a slope of 0 means no scaling).
    func scaledValues() -> [Float] {
        let slope = image.pointee.scl_slope
        let intercept = image.pointee.scl_inter
        let scaled = slope.isFinite && slope != 0
        let count = geometry.size.voxelCount
        let data = UnsafeRawPointer(image.pointee.data!)
        func convert<Stored: BinaryInteger>(_: Stored.Type) -> [Float] {
            let values = UnsafeBufferPointer(start: data.assumingMemoryBound(to: Stored.self), count: count)
            return scaled ? values.map { Float(Double($0) * slope + intercept) } : values.map { Float($0) }
        }
        func convert<Stored: BinaryFloatingPoint>(_: Stored.Type) -> [Float] {
            let values = UnsafeBufferPointer(start: data.assumingMemoryBound(to: Stored.self), count: count)
            return scaled ? values.map { Float(Double($0) * slope + intercept) } : values.map { Float($0) }
        }
        switch source.datatype {
        case .uint8: return convert(UInt8.self)
        case .int16: return convert(Int16.self)
        case .uint16: return convert(UInt16.self)
        case .int32: return convert(Int32.self)
        case .float32: return convert(Float.self)
        case .float64: return convert(Double.self)
        }
    }

    /// The geometry with the file's own pixdim: libnifti quietly turns some unusable ones into 1.
    private static func geometry(of image: nifti_image, size: GridSize, pixdim: SIMD3<Double>) -> VolumeGeometry {
        let s = image.sto_xyz.m
        return VolumeGeometry(
            size: size,
            pixdim: pixdim,
            spatialUnit: SpatialUnit(rawValue: Int32(image.xyz_units)) ?? .unknown,
            qform: QForm(code: XFormCode(rawValue: image.qform_code) ?? .unknown,
                         quaternion: SIMD3(image.quatern_b, image.quatern_c, image.quatern_d),
                         offset: SIMD3(image.qoffset_x, image.qoffset_y, image.qoffset_z),
                         qfac: image.qfac),
            sform: SForm(code: XFormCode(rawValue: image.sform_code) ?? .unknown,
                         matrix: Affine(rows: [SIMD4(s.0.0, s.0.1, s.0.2, s.0.3),
                                               SIMD4(s.1.0, s.1.1, s.1.2, s.1.3),
                                               SIMD4(s.2.0, s.2.1, s.2.2, s.2.3)]))
        )
    }
}

/// Writes label maps as uint8 NIfTI with exactly the geometry of the volume they label.
public enum NIfTIWriter {
    /// Writes `labels` to `url`, gzipped when the name ends in .gz, as uint8 NIfTI-`version`. The
    /// file appears whole or not at all: it is written beside its destination, read back, then renamed.
    public static func write(_ labels: LabelMap, to url: URL, version: Int = 1) throws {
        try write(labels.geometry, voxels: labels.voxels, datatype: DT_UINT8, calibration: 0...Double(SegmentationLabel.tumour.rawValue),
                  to: url, version: version) { try $0.labels().voxels == labels.voxels }
    }

    /// Writes a CT volume in Hounsfield units as int16 NIfTI (values rounded, clamped to int16),
    /// whole or not at all, as `write(_:to:version:)` does for label maps.
    public static func write(hounsfield ct: CTVolume, to url: URL, version: Int = 1) throws {
        let voxels = ct.voxels.map { Int16(max(min($0.rounded(), Float(Int16.max)), Float(Int16.min))) }
        try write(ct.geometry, voxels: voxels, datatype: DT_INT16, calibration: -1024...3071, to: url, version: version) {
            $0.volume.voxels.elementsEqual(voxels) { $0 == Float($1) }
        }
    }

    /// The hidden file a volume is written to before it is renamed into place:
    /// `.NAME.<UUID>.nii[.gz]`. A process killed mid-write leaves one behind.
    static func temporaryName(for name: String) -> String {
        ".\(name).\(UUID().uuidString)\(name.hasSuffix(".gz") ? ".nii.gz" : ".nii")"
    }

    /// Whether `name` is one of `temporaryName(for:)`'s.
    public static func isTemporaryName(_ name: String) -> Bool {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        guard name.hasPrefix("."), parts.count >= 4, name.hasSuffix(".nii") || name.hasSuffix(".nii.gz") else { return false }
        return parts.contains { UUID(uuidString: String($0)) != nil }
    }

    private static func write<Voxel>(_ g: VolumeGeometry, voxels: [Voxel], datatype: Int32, calibration: ClosedRange<Double>, to url: URL,
                                     version: Int, readsBack: (StoredVolume) throws -> Bool) throws {
        let path = url.path
        let gzipped = path.hasSuffix(".gz")
        let temporary = url.deletingLastPathComponent().appendingPathComponent(temporaryName(for: url.lastPathComponent))
        defer { try? FileManager.default.removeItem(at: temporary) }

        let directory = url.deletingLastPathComponent().path
        guard FileManager.default.isWritableFile(atPath: directory) else {
            throw VolumeIOError.writeFailed(path: path, reason: "the directory \(directory) does not exist or is not writable")
        }
        var dims: [Int64] = [3, Int64(g.size.x), Int64(g.size.y), Int64(g.size.z), 1, 1, 1, 1]
        guard let image = nifti_make_new_nim(&dims, datatype, 0) else {
            throw VolumeIOError.writeFailed(path: path, reason: "libnifti could not create an image")
        }
        defer { nifti_image_free(image) }
        (image.pointee.dx, image.pointee.dy, image.pointee.dz) = (g.pixdim.x, g.pixdim.y, g.pixdim.z)
        (image.pointee.pixdim.1, image.pointee.pixdim.2, image.pointee.pixdim.3) = (g.pixdim.x, g.pixdim.y, g.pixdim.z)
        image.pointee.xyz_units = g.spatialUnit.rawValue
        image.pointee.qform_code = g.qform.code.rawValue
        (image.pointee.quatern_b, image.pointee.quatern_c, image.pointee.quatern_d) = (g.qform.quaternion.x, g.qform.quaternion.y, g.qform.quaternion.z)
        (image.pointee.qoffset_x, image.pointee.qoffset_y, image.pointee.qoffset_z) = (g.qform.offset.x, g.qform.offset.y, g.qform.offset.z)
        image.pointee.qfac = g.qform.qfac
        image.pointee.pixdim.0 = g.qform.qfac
        image.pointee.sform_code = g.sform.code.rawValue
        let r = g.sform.matrix.rows
        image.pointee.sto_xyz.m = ((r[0].x, r[0].y, r[0].z, r[0].w), (r[1].x, r[1].y, r[1].z, r[1].w),
                                   (r[2].x, r[2].y, r[2].z, r[2].w), (0, 0, 0, 1))
        image.pointee.cal_min = calibration.lowerBound
        image.pointee.cal_max = calibration.upperBound
        let status = voxels.withUnsafeBytes { voxels in
            kseg_nifti_write(image, voxels.baseAddress, Int32(version), temporary.path, gzipped ? 1 : 0)
        }
        guard status == 0 else {
            throw VolumeIOError.writeFailed(path: path, reason: "the write did not complete; is the disk full?")
        }
        // Read the file back: what lands under the final name is known to be whole.
        let matches: Bool
        do {
            let written = try NIfTIDecoder().decode(from: temporary, options: DecodeOptions())
            matches = try written.volume.geometry.size == g.size && readsBack(written)
        } catch {
            throw VolumeIOError.writeFailed(path: path, reason: "the written file does not read back (\(error)); is the disk full?")
        }
        guard matches else { throw VolumeIOError.writeFailed(path: path, reason: "the written file reads back different voxels") }
        guard rename(temporary.path, path) == 0 else {
            throw VolumeIOError.writeFailed(path: path, reason: String(cString: strerror(errno)))
        }
    }
}

private func isGzipped(_ path: String) throws -> Bool {
    guard let handle = FileHandle(forReadingAtPath: path) else {
        throw VolumeIOError.unreadable(path: path, reason: "no such file or no permission")
    }
    defer { try? handle.close() }
    let magic = (try? handle.read(upToCount: 2)) ?? Data()
    return magic.elementsEqual([0x1F, 0x8B])
}

/// The file itself when its name already ends in `suffix`, otherwise a symbolic link to it that
/// does, in a fresh temporary directory.
private struct ProperlyNamedFile {
    let path: String
    private let directory: URL?

    init(url: URL, suffix: String) throws {
        if url.path.hasSuffix(suffix) {
            path = url.path
            directory = nil
            return
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kidneyseg-\(UUID().uuidString)")
        let link = directory.appendingPathComponent("volume\(suffix)")
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(at: link, withDestinationURL: url.standardizedFileURL.absoluteURL)
        } catch {
            throw VolumeIOError.unreadable(path: url.path, reason: "cannot link it under a .nii name: \(error.localizedDescription)")
        }
        self.path = link.path
        self.directory = directory
    }

    func remove() {
        if let directory { try? FileManager.default.removeItem(at: directory) }
    }
}

/// Writes a label map in its input's format: NIfTI in (same version), NIfTI out; PNG in, label
/// PNG out; DICOM in, NIfTI-1 out (see `ImageFormat.labelMapFormat`).
public func writeLabelMap(_ labels: LabelMap, to url: URL) throws {
    switch labels.source.format {
    case let .nifti(version, _):
        try NIfTIWriter.write(labels, to: url, version: version)
    case .dicom:
        try NIfTIWriter.write(labels, to: url, version: 1)
    case .png:
        let plane = Plane(width: labels.geometry.size.x, height: labels.geometry.size.y, values: labels.voxels)
        try PNGCodec.write(PNGCodec.encode(grey: plane), to: url)
    }
}
