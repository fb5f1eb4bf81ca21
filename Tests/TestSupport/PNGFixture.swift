import Foundation

/// Builds PNG files byte by byte (stored, uncompressed deflate blocks), so tests can craft 16-bit,
/// RGB and broken images without the codec under test.
public enum PNGFixture {
    /// colourType 0 is grey, 2 RGB, 4 grey+alpha, 6 RGBA. `samples` holds width × height ×
    /// channels values.
    public static func make(width: Int, height: Int, bitDepth: Int, colourType: UInt8 = 0, samples: [Int]) -> Data {
        let channels = [0: 1, 2: 3, 4: 2, 6: 4][colourType] ?? 1
        precondition(samples.count == width * height * channels, "sample count does not match the size")
        var scanlines: [UInt8] = []
        for row in 0..<height {
            scanlines.append(0)  // filter: none
            for sample in samples[(row * width * channels)..<((row + 1) * width * channels)] {
                if bitDepth == 16 { scanlines.append(UInt8(sample >> 8)) }
                scanlines.append(UInt8(sample & 0xFF))
            }
        }
        var header: [UInt8] = []
        header += bigEndian(UInt32(width)) + bigEndian(UInt32(height))
        header += [UInt8(bitDepth), colourType, 0, 0, 0]
        return Data(signature + chunk("IHDR", header) + chunk("IDAT", zlibStored(scanlines)) + chunk("IEND", []))
    }

    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    private static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(type.utf8) + data
        return bigEndian(UInt32(data.count)) + body + bigEndian(crc32(body))
    }

    private static func zlibStored(_ data: [UInt8]) -> [UInt8] {
        var output: [UInt8] = [0x78, 0x01]
        var offset = 0
        repeat {
            let length = min(65535, data.count - offset)
            let final: UInt8 = offset + length == data.count ? 1 : 0
            output += [final, UInt8(length & 0xFF), UInt8(length >> 8), UInt8(~length & 0xFF), UInt8((~length >> 8) & 0xFF)]
            output += data[offset..<offset + length]
            offset += length
        } while offset < data.count
        var a: UInt32 = 1
        var b: UInt32 = 0
        for byte in data {
            a = (a + UInt32(byte)) % 65521
            b = (b + a) % 65521
        }
        return output + bigEndian(b << 16 | a)
    }

    private static func crc32(_ data: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in data {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }

    private static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
    }
}
