internal import CPNG
import Foundation

/// How PNG samples become Hounsfield units. PNG has no place to say, so the request does.
public struct PNGHounsfieldMapping: Equatable, Sendable {
    /// 16-bit samples store HU + this offset.
    public var offset16: Float
    /// 8-bit samples map linearly from 0 → lower bound to 255 → upper bound.
    public var range8: ClosedRange<Float>

    public init(offset16: Float = 1024, range8: ClosedRange<Float> = -125...225) {
        self.offset16 = offset16
        self.range8 = range8
    }

    public func mapping(bitDepth: Int) -> HounsfieldMapping {
        if bitDepth == 16 { return HounsfieldMapping(scale: 1, offset: -offset16) }
        return HounsfieldMapping(scale: (range8.upperBound - range8.lowerBound) / 255, offset: range8.lowerBound)
    }
}

/// A decoded greyscale PNG.
public struct PNGPixels: Equatable, Sendable {
    public var bitDepth: Int
    public var grey: Plane<UInt16>
}

/// Decoding and encoding of PNG through libpng, with all of libpng's error handling kept in C.
public enum PNGCodec {
    public static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// Greyscale samples of an 8- or 16-bit PNG. RGB is accepted when every pixel is grey.
    public static func decode(_ data: Data, maxPixels: Int) throws -> PNGPixels {
        var image = kseg_png_image()
        var message = [CChar](repeating: 0, count: 256)
        let status = data.withUnsafeBytes { bytes in
            kseg_png_decode(bytes.bindMemory(to: UInt8.self).baseAddress, bytes.count, UInt64(maxPixels), &image, &message, message.count)
        }
        guard status == 0 else { throw VolumeIOError.invalidPNG(String(nulTerminated: message)) }
        defer { kseg_png_free(&image) }
        let (width, height) = (Int(image.width), Int(image.height))
        let samples = UnsafeBufferPointer(start: image.samples, count: width * height * Int(image.channels))
        var grey: [UInt16]
        if image.channels == 1 {
            grey = Array(samples)
        } else {
            grey = [UInt16](repeating: 0, count: width * height)
            for pixel in 0..<width * height {
                let (r, g, b) = (samples[3 * pixel], samples[3 * pixel + 1], samples[3 * pixel + 2])
                guard r == g, g == b else { throw VolumeIOError.colourPNG }
                grey[pixel] = r
            }
        }
        return PNGPixels(bitDepth: Int(image.bit_depth), grey: Plane(width: width, height: height, values: grey))
    }

    /// An 8-bit greyscale PNG.
    public static func encode(grey: Plane<UInt8>) throws -> Data {
        try encode(grey.values, width: grey.width, height: grey.height, channels: 1)
    }

    /// An 8-bit RGB PNG; `rgb` holds three bytes per pixel.
    public static func encode(rgb: Plane<SIMD3<UInt8>>) throws -> Data {
        try encode(rgb.values.flatMap { [$0.x, $0.y, $0.z] }, width: rgb.width, height: rgb.height, channels: 3)
    }

    /// Writes PNG bytes to `url` atomically, reporting failure as `VolumeIOError.writeFailed`.
    public static func write(_ png: Data, to url: URL) throws {
        do { try png.write(to: url, options: .atomic) } catch {
            throw VolumeIOError.writeFailed(path: url.path, reason: error.localizedDescription)
        }
    }

    private static func encode(_ bytes: [UInt8], width: Int, height: Int, channels: Int32) throws -> Data {
        var output: UnsafeMutablePointer<UInt8>?
        var size = 0
        var message = [CChar](repeating: 0, count: 256)
        let status = kseg_png_encode(bytes, UInt32(width), UInt32(height), channels, &output, &size, &message, message.count)
        guard status == 0, let output else { throw VolumeIOError.invalidPNG(String(nulTerminated: message)) }
        defer { free(output) }
        return Data(bytes: output, count: size)
    }
}

/// Reads one axial CT slice from a PNG, taken as displayed the radiological way: the patient's
/// right on the image's left, anterior at the top. PNG stores no spacing: pixels are
/// `DecodeOptions.pngPixelSpacing` mm.
public struct PNGDecoder: VolumeDecoder {
    public init() {}

    public var name: String { "PNG" }

    public func recognizes(prefix: [UInt8]) -> Bool { prefix.starts(with: PNGCodec.signature) }

    public func decode(from url: URL, options: DecodeOptions) throws -> StoredVolume {
        let pixels = try decode(url, options: options)
        let volume = Volume(geometry: Self.geometry(pixels, spacing: options.pngPixelSpacing), voxels: pixels.grey.values.map { Float($0) }, source: Self.source(pixels))
        return StoredVolume(volume: volume, mapping: options.png.mapping(bitDepth: pixels.bitDepth))
    }

    public func describe(from url: URL, options: DecodeOptions) throws -> VolumeDescription {
        let pixels = try decode(url, options: options)
        return VolumeDescription(geometry: Self.geometry(pixels, spacing: options.pngPixelSpacing), source: Self.source(pixels))
    }

    private static func source(_ pixels: PNGPixels) -> VolumeSource {
        VolumeSource(format: .png, datatype: pixels.bitDepth == 16 ? .uint16 : .uint8)
    }

    private func decode(_ url: URL, options: DecodeOptions) throws -> PNGPixels {
        let attributes = try? FileManager.default.attributesOfItem(atPath: url.path)
        guard let bytes = attributes?[.size] as? Int else {
            throw VolumeIOError.unreadable(path: url.path, reason: "no such file or no permission")
        }
        guard bytes <= options.limits.maxFileBytes else {
            throw VolumeIOError.invalidPNG("the file is \(bytes) bytes, over the limit of \(options.limits.maxFileBytes)")
        }
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw VolumeIOError.unreadable(path: url.path, reason: error.localizedDescription)
        }
        return try PNGCodec.decode(data, maxPixels: min(options.limits.maxVoxels, options.limits.maxSlicePixels))
    }

    /// Canonical axial orientation (x to the left, y to posterior), stated in the sform.
    static func geometry(_ pixels: PNGPixels, spacing: Double) -> VolumeGeometry {
        let rows: [SIMD4<Double>] = [SIMD4(-spacing, 0, 0, 0), SIMD4(0, -spacing, 0, 0), SIMD4(0, 0, spacing, 0)]
        return VolumeGeometry(size: GridSize(x: pixels.grey.width, y: pixels.grey.height, z: 1), pixdim: SIMD3(spacing, spacing, spacing),
                              sform: SForm(code: .alignedAnatomical, matrix: Affine(rows: rows)))
    }
}

extension String {
    /// The text of a NUL-terminated C buffer.
    init(nulTerminated buffer: [CChar]) {
        self.init(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
