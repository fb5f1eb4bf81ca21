import Foundation

/// Limits checked before anything is allocated, so that a lying header cannot exhaust memory.
public struct VolumeLimits: Equatable, Sendable {
    /// The most voxels one volume may declare. 512 Mi voxels is 2 GiB as Float32.
    public var maxVoxels: Int
    /// The most pixels one slice may declare, in any of the three planes: CT slices are 512 x
    /// 512, rarely 1024 x 1024. 4096 x 4096 leaves room and keeps a small file that decompresses
    /// into one enormous image (a 514 KB PNG of 23000 x 23000 pixels) from being decoded at all.
    public var maxSlicePixels: Int
    /// The largest file read whole into memory (PNG).
    public var maxFileBytes: Int

    public init(maxVoxels: Int = 512 << 20, maxSlicePixels: Int = 4096 * 4096, maxFileBytes: Int = 256 << 20) {
        self.maxVoxels = maxVoxels
        self.maxSlicePixels = maxSlicePixels
        self.maxFileBytes = maxFileBytes
    }

    /// Checks a grid's declared size against both limits.
    public func check(_ size: GridSize) throws {
        guard size.voxelCount <= maxVoxels else { throw VolumeIOError.exceedsLimit(voxels: size.voxelCount, limit: maxVoxels) }
        let largestPlane = max(size.x * size.y, size.x * size.z, size.y * size.z)
        guard largestPlane <= maxSlicePixels else { throw VolumeIOError.sliceExceedsLimit(pixels: largestPlane, limit: maxSlicePixels) }
    }
}

/// How a decoder turns stored values into Hounsfield units where the format does not say.
public struct DecodeOptions: Equatable, Sendable {
    public var limits: VolumeLimits
    public var png: PNGHounsfieldMapping
    /// Millimetres per pixel of a PNG slice, which stores no spacing. 0.8 mm is about KiTS19's
    /// median in-plane spacing, and what `kidneyseg synth` assumes of the CURVAS slices.
    public var pngPixelSpacing: Double
    /// The DICOM series to read from a folder holding several; nil takes the one with the most slices.
    public var dicomSeriesUID: String?
    /// An executable (kidneyseg) that parses DICOM in a child process (`read-dicom`), so that a
    /// crash in GDCM cannot stop this one; nil parses it here. The service sets it.
    public var dicomReader: URL?

    public static let defaultPNGPixelSpacing = 0.8

    public init(limits: VolumeLimits = VolumeLimits(), png: PNGHounsfieldMapping = PNGHounsfieldMapping(),
                pngPixelSpacing: Double = defaultPNGPixelSpacing, dicomSeriesUID: String? = nil) {
        precondition(pngPixelSpacing > 0, "a pixel spacing must be positive")
        self.limits = limits
        self.png = png
        self.pngPixelSpacing = pngPixelSpacing
        self.dicomSeriesUID = dicomSeriesUID
    }
}

/// One input format. New formats plug in by conforming and joining `VolumeReader.decoders`.
public protocol VolumeDecoder: Sendable {
    var name: String { get }
    /// Whether a file starting with these bytes (up to 132 of them) is in this format.
    func recognizes(prefix: [UInt8]) -> Bool
    func decode(from url: URL, options: DecodeOptions) throws -> StoredVolume
    /// Checks the whole file as `decode` would, without keeping its voxels in memory.
    func describe(from url: URL, options: DecodeOptions) throws -> VolumeDescription
}

/// A volume file's grid and storage, without its voxels.
public struct VolumeDescription: Equatable, Sendable {
    public var geometry: VolumeGeometry
    public var source: VolumeSource
    /// For DICOM: which series was read, and what was left out.
    public var dicom: DICOMSeriesSummary?

    public init(geometry: VolumeGeometry, source: VolumeSource) {
        self.geometry = geometry
        self.source = source
    }

    /// The size of the volume as axial slices in canonical order.
    public var axialSize: GridSize { CanonicalLayout(orientation: geometry.orientation, size: geometry.size).canonicalSize }
}

/// A decoded file's values as stored (after NIfTI's scl_slope and scl_inter), and how they map
/// onto Hounsfield units.
public struct StoredVolume: Sendable {
    public var volume: Volume<Float>
    public var mapping: HounsfieldMapping

    public init(volume: Volume<Float>, mapping: HounsfieldMapping) {
        self.volume = volume
        self.mapping = mapping
    }

    /// The voxels in Hounsfield units.
    public func hounsfield() -> CTVolume {
        guard mapping != .identity else { return volume }
        var ct = volume
        for index in ct.voxels.indices { ct.voxels[index] = mapping.hounsfield(ct.voxels[index]) }
        return ct
    }

    /// The voxels as labels; every stored value must be an integer from 0 to 255.
    public func labels() throws -> LabelMap {
        let labels = try volume.voxels.map { value -> UInt8 in
            guard let label = UInt8(exactly: value) else { throw VolumeIOError.notALabelMap(value: Double(value)) }
            return label
        }
        return LabelMap(geometry: volume.geometry, voxels: labels, source: VolumeSource(format: volume.source.format, datatype: .uint8))
    }
}

/// Hounsfield units as a linear function of stored values: HU = stored × scale + offset.
public struct HounsfieldMapping: Equatable, Sendable {
    public var scale: Float
    public var offset: Float

    public init(scale: Float, offset: Float) {
        self.scale = scale
        self.offset = offset
    }

    /// Stored values are already Hounsfield units, as in NIfTI CT.
    public static let identity = HounsfieldMapping(scale: 1, offset: 0)

    public func hounsfield(_ stored: Float) -> Float { stored * scale + offset }
}

/// Reads any supported image file, choosing the decoder from the file's first bytes, never from
/// its name. A folder is read as a DICOM series.
public struct VolumeReader: Sendable {
    public var options: DecodeOptions
    public var decoders: [any VolumeDecoder]

    public init(options: DecodeOptions = DecodeOptions(), decoders: [any VolumeDecoder] = [NIfTIDecoder(), PNGDecoder(), DICOMDecoder(), DICOMArchiveDecoder()]) {
        self.options = options
        self.decoders = decoders
    }

    /// The decoder for a file, chosen from its first bytes.
    public func decoder(for url: URL) throws -> any VolumeDecoder {
        guard let handle = FileHandle(forReadingAtPath: url.path) else {
            throw VolumeIOError.unreadable(path: url.path, reason: "no such file or no permission")
        }
        let prefix = [UInt8]((try? handle.read(upToCount: 132)) ?? Data())
        try? handle.close()
        guard let decoder = decoders.first(where: { $0.recognizes(prefix: prefix) }) else {
            throw VolumeIOError.unrecognizedFormat
        }
        return decoder
    }

    /// The stored values and their Hounsfield mapping.
    public func read(from url: URL) throws -> StoredVolume {
        if url.isDirectory { return try DICOMInput.stored(url, options: options) }
        return try decoder(for: url).decode(from: url, options: options)
    }

    /// The file's grid and storage, after checking all of it, without keeping its voxels.
    public func describe(_ url: URL) throws -> VolumeDescription {
        if url.isDirectory { return try DICOMInput.description(url, options: options) }
        return try decoder(for: url).describe(from: url, options: options)
    }

    /// A CT volume in Hounsfield units.
    public func readCT(from url: URL) throws -> CTVolume {
        try read(from: url).hounsfield()
    }

    /// A label map: every voxel an integer from 0 to 255.
    public func readLabels(from url: URL) throws -> LabelMap {
        try read(from: url).labels()
    }
}

extension URL {
    var isDirectory: Bool { (try? resourceValues(forKeys: [.isDirectoryKey]).isDirectory) == true }
}
