import Foundation
import Imaging
import TestSupport
import Testing

@Suite struct PNGTests {
    let scratch = ScratchDirectory()
    let reader = VolumeReader()

    func write(_ data: Data, named name: String = "slice.png") throws -> URL {
        let url = scratch.url.appendingPathComponent(name)
        try data.write(to: url)
        return url
    }

    @Test func readsARealEightBitSliceOntoTheDeclaredRange() throws {
        let url = SharedData.root.appendingPathComponent("curvas-slices/images/10001_394.png")
        let ct = try reader.readCT(from: url)
        #expect(ct.geometry.size == GridSize(x: 512, y: 512, z: 1))
        #expect(ct.source == VolumeSource(format: .png, datatype: .uint8))
        #expect(ct.voxels.min() == -125)
        #expect(ct.voxels.max() == 225)
        // These PNGs store clamp(HU, 0, 255), so read with [0, 255] the pixel is the HU.
        let saturating = VolumeReader(options: DecodeOptions(png: PNGHounsfieldMapping(range8: 0...255)))
        let raw = try saturating.readCT(from: url)
        #expect(raw.voxels.min() == 0 && raw.voxels.max() == 255)
        #expect(raw.voxels.allSatisfy { $0 == $0.rounded() })
    }

    @Test func mapsEightBitPixelsLinearly() throws {
        let url = try write(PNGFixture.make(width: 3, height: 1, bitDepth: 8, samples: [0, 51, 255]))
        #expect(try reader.readCT(from: url).voxels == [-125, -55, 225])
    }

    @Test func readsSixteenBitAsHounsfieldPlus1024() throws {
        let url = try write(PNGFixture.make(width: 2, height: 2, bitDepth: 16, samples: [0, 1024, 1324, 65535]))
        #expect(try reader.readCT(from: url).voxels == [-1024, 0, 300, 64511])
        #expect(try reader.readCT(from: url).source.datatype == .uint16)
        let unshifted = VolumeReader(options: DecodeOptions(png: PNGHounsfieldMapping(offset16: 0)))
        #expect(try unshifted.readCT(from: url).voxels == [0, 1024, 1324, 65535])
    }

    @Test func readsGreyRGBAsGreyAndRejectsColour() throws {
        let grey = try write(PNGFixture.make(width: 2, height: 1, bitDepth: 8, colourType: 2, samples: [10, 10, 10, 200, 200, 200]))
        #expect(try reader.readLabels(from: grey).voxels == [10, 200])
        let colour = try write(PNGFixture.make(width: 2, height: 1, bitDepth: 8, colourType: 2, samples: [10, 10, 10, 200, 0, 200]))
        #expect(throws: VolumeIOError.colourPNG) { try reader.readCT(from: colour) }
    }

    /// An alpha channel that is opaque everywhere is dropped; a transparent pixel has no grey
    /// that means anything, so such a PNG is refused (it was read as if opaque before).
    @Test(arguments: [(8, 255), (16, 65535)])
    func dropsAnOpaqueAlphaAndRefusesTransparency(bitDepth: Int, opaque: Int) throws {
        let grey = try write(PNGFixture.make(width: 2, height: 1, bitDepth: bitDepth, colourType: 4, samples: [10, opaque, 200, opaque]))
        #expect(try reader.readLabels(from: grey).voxels == [10, 200])
        let rgba = try write(PNGFixture.make(width: 1, height: 1, bitDepth: bitDepth, colourType: 6, samples: [7, 7, 7, opaque]))
        #expect(try reader.readLabels(from: rgba).voxels == [7])
        let clear = try write(PNGFixture.make(width: 2, height: 1, bitDepth: bitDepth, colourType: 4, samples: [10, opaque, 200, 0]))
        #expect(throws: VolumeIOError.invalidPNG("1 of its 2 pixels are transparent; a CT slice has no transparency, so export it without an alpha channel")) {
            try reader.readCT(from: clear)
        }
        #expect(throws: VolumeIOError.invalidPNG("1 of its 2 pixels are transparent; a CT slice has no transparency, so export it without an alpha channel")) {
            try reader.describe(clear)
        }
    }

    @Test func placesSlicesInCanonicalOrientation() throws {
        let url = try write(PNGFixture.make(width: 3, height: 2, bitDepth: 8, samples: [0, 1, 2, 3, 4, 5]))
        let labels = try reader.readLabels(from: url)
        #expect(labels.geometry.orientation == .canonical)
        #expect(labels.axialStack().voxels == [0, 1, 2, 3, 4, 5])
    }

    @Test func writesALabelPNGThatReadsBack() throws {
        let labels = Plane<UInt8>(width: 4, height: 3, values: [0, 1, 2, 0, 1, 1, 2, 2, 0, 0, 0, 1])
        let url = try write(PNGCodec.encode(grey: labels), named: "mask.png")
        let read = try reader.readLabels(from: url)
        #expect(read.voxels == labels.values)
        #expect(read.geometry.size == GridSize(x: 4, y: 3, z: 1))
    }

    @Test func rejectsAFileThatIsNotAPNG() throws {
        let url = try write(Data("GIF89a this is no png".utf8))
        #expect(throws: VolumeIOError.unrecognizedFormat) { try reader.readCT(from: url) }
        #expect(throws: VolumeIOError.invalidPNG("not a PNG file (wrong signature)")) {
            try PNGCodec.decode(Data("GIF89a".utf8), maxPixels: 100)
        }
    }

    @Test func rejectsATruncatedPNG() throws {
        let whole = PNGFixture.make(width: 64, height: 64, bitDepth: 8, samples: [Int](repeating: 7, count: 4096))
        let url = try write(whole.prefix(whole.count - 200))
        #expect(throws: VolumeIOError.invalidPNG("the PNG data ends early (truncated file)")) { try reader.readCT(from: url) }
    }

    @Test func rejectsACorruptChecksum() throws {
        var bytes = PNGFixture.make(width: 4, height: 4, bitDepth: 8, samples: [Int](repeating: 7, count: 16))
        bytes[40] ^= 0xFF  // inside IDAT: its CRC no longer matches
        #expect(throws: VolumeIOError.self) { try reader.readCT(from: write(bytes)) }
    }

    @Test func refusesImagesOverThePixelLimitBeforeDecoding() throws {
        let url = try write(PNGFixture.make(width: 100, height: 100, bitDepth: 8, samples: [Int](repeating: 0, count: 10000)))
        let strict = VolumeReader(options: DecodeOptions(limits: VolumeLimits(maxVoxels: 9999)))
        #expect(throws: VolumeIOError.invalidPNG("the PNG is 100x100, over the limit of 9999 pixels")) { try strict.readCT(from: url) }
        // The slice limit applies too, whatever the voxel limit: a small file of one enormous
        // image (a zlib bomb) is refused from its header.
        let perSlice = VolumeReader(options: DecodeOptions(limits: VolumeLimits(maxSlicePixels: 2500)))
        #expect(throws: VolumeIOError.invalidPNG("the PNG is 100x100, over the limit of 2500 pixels")) { try perSlice.readCT(from: url) }
    }

    @Test func refusesSixteenBitValuesAsLabels() throws {
        let url = try write(PNGFixture.make(width: 2, height: 1, bitDepth: 16, samples: [1, 300]))
        #expect(throws: VolumeIOError.notALabelMap(value: 300)) { try reader.readLabels(from: url) }
    }
}
