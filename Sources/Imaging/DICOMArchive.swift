internal import CZip
import Foundation

/// A zip of DICOM files (as PACS exports and bridge scripts send a series), read through libzip.
///
/// The entries are unpacked into a private temporary folder under names of our own
/// (`entry-00001`), never the archive's, so no entry can land outside it; an archive that
/// names an entry outside itself (`../x`, `/etc/x`) is refused all the same, as a sign of
/// tampering. Sizes are counted as the bytes are inflated, not taken from the headers, so a
/// zip bomb stops at the limit.
public struct DICOMArchiveDecoder: VolumeDecoder {
    static let maxEntries = 10_000

    public init() {}

    public var name: String { "zip of DICOM files" }

    public func recognizes(prefix: [UInt8]) -> Bool { prefix.starts(with: [0x50, 0x4B, 0x03, 0x04]) }

    public func decode(from url: URL, options: DecodeOptions) throws -> StoredVolume { try DICOMInput.stored(url, options: options) }

    public func describe(from url: URL, options: DecodeOptions) throws -> VolumeDescription { try DICOMInput.description(url, options: options) }

    /// The most bytes an archive may inflate to: two bytes a voxel at the voxel limit, plus a
    /// megabyte a file for headers.
    static func maxBytes(_ limits: VolumeLimits) -> Int { limits.maxVoxels * 2 + maxEntries << 10 }

    static func withUnpacked<T>(_ url: URL, limits: VolumeLimits, _ body: (URL) throws -> T) throws -> T {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("kidneyseg-zip-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(at: folder) }
        try unpack(url, into: folder, maxBytes: maxBytes(limits))
        return try body(folder)
    }

    static func unpack(_ url: URL, into folder: URL, maxBytes: Int) throws {
        var status: Int32 = 0
        guard let archive = zip_open(url.path, ZIP_RDONLY, &status) else {
            throw VolumeIOError.invalidArchive("not a readable zip (libzip error \(status))")
        }
        defer { zip_discard(archive) }
        let count = Int(zip_get_num_entries(archive, 0))
        guard count <= maxEntries else { throw VolumeIOError.invalidArchive("\(count) entries, over the limit of \(maxEntries)") }
        var total = 0
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        for index in 0..<count {
            var stat = zip_stat_t()
            zip_stat_init(&stat)
            guard zip_stat_index(archive, zip_uint64_t(index), 0, &stat) == 0, let cName = stat.name else {
                throw VolumeIOError.invalidArchive("entry \(index) cannot be read")
            }
            let name = String(cString: cName)
            let parts = name.split(separator: "/", omittingEmptySubsequences: false)
            guard !name.hasPrefix("/"), !name.contains("\\"), !parts.contains("..") else {
                throw VolumeIOError.invalidArchive("an entry is named \(name.debugDescription), outside the archive")
            }
            if name.hasSuffix("/") || isLink(archive, index) { continue }
            if stat.valid & UInt64(ZIP_STAT_ENCRYPTION_METHOD) != 0 && stat.encryption_method != UInt16(ZIP_EM_NONE) {
                throw VolumeIOError.invalidArchive("\(name) is encrypted")
            }
            // An entry that says it is too big is refused before a byte is inflated; one that
            // lies about its size is still stopped by the count below.
            if stat.valid & UInt64(ZIP_STAT_SIZE) != 0, stat.size > UInt64(maxBytes - total) {
                throw bomb(maxBytes)
            }
            guard let entry = zip_fopen_index(archive, zip_uint64_t(index), 0) else {
                throw VolumeIOError.invalidArchive("\(name) cannot be opened")
            }
            defer { zip_fclose(entry) }
            let destination = folder.appendingPathComponent(String(format: "entry-%05d", index))
            FileManager.default.createFile(atPath: destination.path, contents: nil)
            guard let output = FileHandle(forWritingAtPath: destination.path) else { throw VolumeIOError.invalidArchive("cannot unpack \(name)") }
            defer { try? output.close() }
            while true {
                let read = zip_fread(entry, &buffer, zip_uint64_t(buffer.count))
                guard read >= 0 else { throw VolumeIOError.invalidArchive("\(name) is damaged") }
                if read == 0 { break }
                total += Int(read)
                guard total <= maxBytes else { throw bomb(maxBytes) }
                do { try output.write(contentsOf: buffer[0..<Int(read)]) } catch {
                    throw VolumeIOError.writeFailed(path: destination.path, reason: error.localizedDescription)
                }
            }
        }
    }

    private static func bomb(_ maxBytes: Int) -> VolumeIOError {
        .invalidArchive("it inflates to more than \(maxBytes >> 20) MiB (a zip bomb?)")
    }

    /// Whether the entry is a Unix symbolic link: left out, as it points nowhere useful.
    private static func isLink(_ archive: OpaquePointer, _ index: Int) -> Bool {
        var system: UInt8 = 0
        var attributes: UInt32 = 0
        guard zip_file_get_external_attributes(archive, zip_uint64_t(index), 0, &system, &attributes) == 0 else { return false }
        return UInt32(system) == ZIP_OPSYS_UNIX && (attributes >> 16) & 0o170000 == 0o120000
    }
}
