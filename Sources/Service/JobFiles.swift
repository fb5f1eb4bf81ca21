import Foundation
import Imaging

/// Every file of every job, in one place: `<data>/jobs/<id>/` holds the input, the reference,
/// the mask and the summaries. Uploads land in `<data>/incoming/` first and are fsynced and
/// renamed into place, so an accepted job always has its whole input.
public struct JobFiles: Sendable {
    public let root: URL

    public init(dataDirectory: URL) throws {
        root = dataDirectory
        for folder in ["jobs", "incoming"] {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(folder), withIntermediateDirectories: true)
        }
    }

    /// Bytes free for this process on the data directory's file system.
    public func freeBytes() -> Int {
        var stats = statvfs()
        guard statvfs(root.path, &stats) == 0 else { return 0 }
        return Int(stats.f_bavail) * Int(stats.f_frsize)
    }

    public func folder(_ id: String) -> URL { root.appendingPathComponent("jobs/\(id)") }

    /// The input under its format's extension, so that it reads back by name as well as by bytes.
    public func input(_ id: String, format: ImageFormat) -> URL { folder(id).appendingPathComponent("input" + Self.suffix(format)) }
    /// Where a DICOM series sent as many multipart parts is kept: a folder of its files.
    public func inputSeries(_ id: String) -> URL { folder(id).appendingPathComponent("input-series") }
    public func mask(_ id: String, format: ImageFormat) -> URL { folder(id).appendingPathComponent("mask" + Self.suffix(format.labelMapFormat)) }
    /// A DICOM input's mask as DICOM SEG, beside the NIfTI one.
    public func segmentation(_ id: String) -> URL { folder(id).appendingPathComponent("mask.seg.dcm") }
    /// Why the SEG could not be written, when it could not.
    public func segmentationFailure(_ id: String) -> URL { folder(id).appendingPathComponent("mask.seg.error.txt") }
    public func reference(_ id: String, format: ImageFormat) -> URL { folder(id).appendingPathComponent("reference" + Self.suffix(format)) }
    public func summary(_ id: String) -> URL { folder(id).appendingPathComponent("input.json") }
    public func result(_ id: String) -> URL { folder(id).appendingPathComponent("result.json") }
    /// Axial slice `slice` (canonical order, 0 = most inferior) in grey with the segmentation on top.
    public func overlay(_ id: String, slice: Int) -> URL { folder(id).appendingPathComponent("overlays/\(slice).png") }

    /// Renders every axial slice's overlay once, when the job finishes, so that the viewer's
    /// requests are plain file reads.
    func writeOverlays(ct: AxialStack<Float>, labels: AxialStack<UInt8>, for id: String) throws {
        try FileManager.default.createDirectory(at: overlay(id, slice: 0).deletingLastPathComponent(), withIntermediateDirectories: true)
        let style = OverlayStyle()
        for slice in 0..<ct.sliceCount {
            try PNGCodec.encode(rgb: style.render(ct: ct.slice(slice), labels: labels.slice(slice))).write(to: overlay(id, slice: slice))
        }
    }

    static func suffix(_ format: ImageFormat) -> String {
        switch format {
        case let .nifti(_, gzipped): gzipped ? ".nii.gz" : ".nii"
        case .png: ".png"
        case .dicom: ".dcm"
        }
    }

    /// Writes the bytes `next()` yields into a new file under `incoming/`, refusing more than
    /// `limit` bytes, and fsyncs it. Returns its URL; the caller renames or removes it.
    public func receive(limit: Int, _ next: () throws -> [UInt8]?) throws -> URL {
        let upload = try incoming()
        do {
            while let piece = try next() { try upload.append(piece, limit: limit) }
            guard upload.size > 0 else { throw APIError(400, "empty_body", "the request has no body: send a NIfTI or PNG file") }
            return try upload.finish()
        } catch {
            upload.discard()
            throw error
        }
    }

    /// Moves a received file to its final place in a job's folder.
    public func place(_ received: URL, at destination: URL) throws {
        try FileManager.default.createDirectory(at: destination.deletingLastPathComponent(), withIntermediateDirectories: true)
        guard rename(received.path, destination.path) == 0 else {
            throw APIError(500, "storage_error", "cannot move the upload into place: \(String(cString: strerror(errno)))")
        }
    }

    /// A new file under `incoming/` to receive an upload into.
    func incoming() throws -> IncomingFile { try IncomingFile(in: root.appendingPathComponent("incoming")) }

    /// Gathers received files into one new folder under `incoming/` (named as `IncomingFile`
    /// names files, so that start-up removes it if the process dies first).
    func gather(_ parts: [URL]) throws -> URL {
        let folder = root.appendingPathComponent("incoming").appendingPathComponent(UUID().uuidString.lowercased())
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: false)
            for (index, part) in parts.enumerated() {
                try FileManager.default.moveItem(at: part, to: folder.appendingPathComponent(String(format: "part-%05d", index)))
            }
        } catch {
            try? FileManager.default.removeItem(at: folder)
            throw APIError(507, "insufficient_storage", "the upload could not be stored: \(error.localizedDescription)")
        }
        return folder
    }

    public func delete(_ id: String) { try? FileManager.default.removeItem(at: folder(id)) }

    /// Removes what a process killed mid-write left behind, and nothing else: uploads under
    /// `incoming/` (named by `IncomingFile`, a UUID each) and the hidden temporary files that
    /// `NIfTIWriter` renames into a job's folder. Call at start-up, before anything is received.
    /// Returns the paths removed.
    public func removeLeftovers() -> [String] {
        let manager = FileManager.default
        let incoming = root.appendingPathComponent("incoming")
        var leftovers = ((try? manager.contentsOfDirectory(atPath: incoming.path)) ?? [])
            .filter { IncomingFile.isIncomingName($0) }.map { incoming.appendingPathComponent($0) }
        for id in (try? manager.contentsOfDirectory(atPath: root.appendingPathComponent("jobs").path)) ?? [] {
            let names = (try? manager.contentsOfDirectory(atPath: folder(id).path)) ?? []
            leftovers += names.filter(NIfTIWriter.isTemporaryName).map { folder(id).appendingPathComponent($0) }
        }
        return leftovers.filter { (try? manager.removeItem(at: $0)) != nil }.map(\.path)
    }
}

/// A file being received under `incoming/`: appended to, then fsynced, or discarded.
final class IncomingFile {
    let url: URL
    private let handle: FileHandle
    private(set) var size = 0

    init(in folder: URL) throws {
        url = folder.appendingPathComponent(UUID().uuidString.lowercased())
        guard FileManager.default.createFile(atPath: url.path, contents: nil), let handle = FileHandle(forWritingAtPath: url.path) else {
            throw APIError(507, "insufficient_storage", "cannot create an upload file in \(folder.path)")
        }
        self.handle = handle
    }

    func append(_ bytes: [UInt8], limit: Int) throws {
        size += bytes.count
        guard size <= limit else { throw APIError(413, "body_too_large", "the upload is larger than \(limit) bytes") }
        do { try handle.write(contentsOf: bytes) } catch {
            throw APIError(507, "insufficient_storage", "the upload could not be stored: \(error.localizedDescription)")
        }
    }

    /// Flushes the file to disk and closes it.
    func finish() throws -> URL {
        do {
            try handle.synchronize()
            try handle.close()
        } catch {
            throw APIError(507, "insufficient_storage", "the upload could not be stored: \(error.localizedDescription)")
        }
        return url
    }

    static func isIncomingName(_ name: String) -> Bool { UUID(uuidString: name) != nil && name == name.lowercased() }

    func discard() {
        try? handle.close()
        try? FileManager.default.removeItem(at: url)
    }
}
