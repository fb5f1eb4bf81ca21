import Foundation

/// Limits checked before anything is allocated, so that a lying header cannot exhaust memory.
public struct VolumeLimits: Equatable, Sendable {
    /// The most voxels one volume may declare. 512 Mi voxels is 2 GiB as Float32.
    public var maxVoxels: Int
    /// The largest file read whole into memory (PNG).
    public var maxFileBytes: Int

    public init(maxVoxels: Int = 512 << 20, maxFileBytes: Int = 256 << 20) {
        self.maxVoxels = maxVoxels
        self.maxFileBytes = maxFileBytes
    }
}

/// How a decoder turns stored values into Hounsfield units where the format does not say.
public struct DecodeOptions: Equatable, Sendable {
    public var limits: VolumeLimits
    public var png: PNGHounsfieldMapping

    public init(limits: VolumeLimits = VolumeLimits(), png: PNGHounsfieldMapping = PNGHounsfieldMapping()) {
        self.limits = limits
        self.png = png
    }
}

/// One input format. New formats (DICOM series next) plug in by conforming and joining
/// `VolumeReader.decoders`.
public protocol VolumeDecoder: Sendable {
    var name: String { get }
    /// Whether a file starting with these bytes (up to 16 of them) is in this format.
    func recognizes(prefix: [UInt8]) -> Bool
    func readCT(from url: URL, options: DecodeOptions) throws -> CTVolume
    func readLabels(from url: URL, options: DecodeOptions) throws -> LabelMap
}

/// Reads any supported image file, choosing the decoder from the file's first bytes, never from
/// its name.
public struct VolumeReader: Sendable {
    public var options: DecodeOptions
    public var decoders: [any VolumeDecoder]

    public init(options: DecodeOptions = DecodeOptions(), decoders: [any VolumeDecoder] = [NIfTIDecoder(), PNGDecoder()]) {
        self.options = options
        self.decoders = decoders
    }

    public func decoder(for url: URL) throws -> any VolumeDecoder {
        guard let handle = FileHandle(forReadingAtPath: url.path) else {
            throw VolumeIOError.unreadable(path: url.path, reason: "no such file or no permission")
        }
        defer { try? handle.close() }
        let prefix = [UInt8]((try? handle.read(upToCount: 16)) ?? Data())
        guard let decoder = decoders.first(where: { $0.recognizes(prefix: prefix) }) else {
            throw VolumeIOError.unrecognizedFormat
        }
        return decoder
    }

    /// A CT volume in Hounsfield units.
    public func readCT(from url: URL) throws -> CTVolume {
        try decoder(for: url).readCT(from: url, options: options)
    }

    /// A label map: every voxel an integer from 0 to 255.
    public func readLabels(from url: URL) throws -> LabelMap {
        try decoder(for: url).readLabels(from: url, options: options)
    }
}
