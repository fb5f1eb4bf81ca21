import Foundation
import Imaging
import TestSupport
import Testing

/// Zips of DICOM series (made by Python's zipfile, see `ZipFixture`).
@Suite struct DICOMArchiveTests {
    let scratch = ScratchDirectory()
    let reader = VolumeReader()

    func zip(_ name: String, _ entries: [(String, URL?)], zeros size: Int = 0) throws -> URL {
        let url = scratch.url.appendingPathComponent(name)
        try ZipFixture.write(url, entries, zeros: size)
        return url
    }

    var seriesFiles: [URL] { get throws { try ZipFixture.exampleSeriesFiles } }

    @Test func readsAZippedSeriesAsTheFolder() throws {
        let archive = try zip("series.zip", try seriesFiles.map { ("study/series/\($0.lastPathComponent)", $0) })
        let zipped = try reader.readCT(from: archive)
        let folder = try reader.readCT(from: SharedData.exampleDICOMSeries)
        #expect(zipped.voxels == folder.voxels)
        #expect(zipped.geometry == folder.geometry)
        #expect(try reader.describe(archive).dicom?.slices == 20)
    }

    /// An entry named outside the archive is refused, and nothing is written there.
    @Test func refusesEntriesNamedOutsideTheArchive() throws {
        let slice = try seriesFiles[0]
        for name in ["../escaped.dcm", "/tmp/escaped-\(UUID().uuidString).dcm", "a/../../escaped.dcm"] {
            let archive = try zip("traversal.zip", [("ok.dcm", slice), (name, slice)])
            #expect(performing: { try reader.describe(archive) }, throws: { "\($0)".contains("outside the archive") })
        }
        #expect(!FileManager.default.fileExists(atPath: scratch.url.deletingLastPathComponent().appendingPathComponent("escaped.dcm").path))
    }

    /// 64 MiB of zeros deflate to 64 KiB: refused from the size the headers give, and, where
    /// they lie that it is 4 KiB, stopped at the limit as it inflates.
    @Test(arguments: [nil, 4096])
    func stopsAZipBomb(claiming: Int?) throws {
        let archive = scratch.url.appendingPathComponent("bomb.zip")
        try ZipFixture.write(archive, [("zeros.dcm", nil)], zeros: 64 << 20, claiming: claiming)
        let size = try #require(try FileManager.default.attributesOfItem(atPath: archive.path)[.size] as? Int)
        #expect(size < 1 << 20)
        let small = VolumeReader(options: DecodeOptions(limits: VolumeLimits(maxVoxels: 1 << 20)))
        #expect(performing: { try small.describe(archive) }, throws: { "\($0)".contains("zip bomb") })
    }

    @Test func refusesAZipWithoutDICOM() throws {
        let notes = scratch.url.appendingPathComponent("notes.txt")
        try Data("not an image".utf8).write(to: notes)
        #expect(throws: VolumeIOError.unrecognizedFormat) { try reader.describe(try zip("notes.zip", [("notes.txt", notes)])) }
        let broken = scratch.url.appendingPathComponent("broken.zip")
        try Data([0x50, 0x4B, 0x03, 0x04] + [UInt8](repeating: 7, count: 100)).write(to: broken)
        #expect(performing: { try reader.describe(broken) }, throws: { "\($0)".contains("unusable zip") })
    }
}
