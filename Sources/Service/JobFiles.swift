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

    public func folder(_ id: String) -> URL { root.appendingPathComponent("jobs/\(id)") }

    /// The input under its format's extension, so that it reads back by name as well as by bytes.
    public func input(_ id: String, format: ImageFormat) -> URL { folder(id).appendingPathComponent("input" + Self.suffix(format)) }
    public func mask(_ id: String, format: ImageFormat) -> URL { folder(id).appendingPathComponent("mask" + Self.suffix(format)) }
    public func summary(_ id: String) -> URL { folder(id).appendingPathComponent("input.json") }
    public func result(_ id: String) -> URL { folder(id).appendingPathComponent("result.json") }

    static func suffix(_ format: ImageFormat) -> String {
        switch format {
        case let .nifti(_, gzipped): gzipped ? ".nii.gz" : ".nii"
        case .png: ".png"
        }
    }

    /// Writes the bytes `next()` yields into a new file under `incoming/`, refusing more than
    /// `limit` bytes, and fsyncs it. Returns its URL; the caller renames or removes it.
    public func receive(limit: Int, _ next: () throws -> [UInt8]?) throws -> URL {
        let url = root.appendingPathComponent("incoming/\(UUID().uuidString.lowercased())")
        guard FileManager.default.createFile(atPath: url.path, contents: nil), let handle = FileHandle(forWritingAtPath: url.path) else {
            throw APIError(507, "insufficient_storage", "cannot create an upload file in \(root.path)")
        }
        do {
            defer { try? handle.close() }
            var total = 0
            while let piece = try next() {
                total += piece.count
                guard total <= limit else { throw APIError(413, "body_too_large", "the upload is larger than \(limit) bytes") }
                try handle.write(contentsOf: piece)
            }
            guard total > 0 else { throw APIError(400, "empty_body", "the request has no body: send a NIfTI or PNG file") }
            try handle.synchronize()
        } catch {
            try? FileManager.default.removeItem(at: url)
            if let error = error as? APIError { throw error }
            throw APIError(507, "insufficient_storage", "the upload could not be stored: \(error)")
        }
        return url
    }

    /// Moves a received file to its final place in a job's folder.
    public func place(_ received: URL, at destination: URL) throws {
        try FileManager.default.createDirectory(at: destination.deletingLastPathComponent(), withIntermediateDirectories: true)
        guard rename(received.path, destination.path) == 0 else {
            throw APIError(500, "storage_error", "cannot move the upload into place: \(String(cString: strerror(errno)))")
        }
    }

    public func delete(_ id: String) { try? FileManager.default.removeItem(at: folder(id)) }
}
