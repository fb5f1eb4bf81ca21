import Foundation
import HTTP
import Imaging

/// `GET /v1/jobs/{id}/mask`: the label map in the input's own format, or as DICOM SEG for a
/// DICOM input, chosen by `?format=` or else by the Accept header. A format the job does not
/// have is 406.
extension KidneySegService {
    public enum MaskFormat: String, CaseIterable, Sendable {
        case nifti, png, dicomSEG = "dicom-seg"

        /// The media types that ask for it.
        var mediaTypes: [String] {
            switch self {
            case .nifti: ["application/gzip", "application/octet-stream"]
            case .png: ["image/png"]
            case .dicomSEG: [DICOMSegmentation.mediaType]
            }
        }
    }

    func mask(_ id: String, _ query: [String: String], accept: String?) throws -> HTTPResponse {
        _ = try succeededJob(id, "its mask exists")
        let summary = try files.readSummary(id)
        let native: MaskFormat = summary.maskFile.hasSuffix(".png") ? .png : .nifti
        var available = [native]
        var unavailable = "a DICOM SEG is made for DICOM inputs only"
        if let dicom = summary.dicom {
            if let refusal = dicom.segmentationRefusal {
                unavailable = refusal
            } else if let failure = try? String(contentsOf: files.segmentationFailure(id), encoding: .utf8) {
                unavailable = "its DICOM SEG could not be written: \(failure)"
            } else {
                available.append(.dicomSEG)
            }
        }
        let format: MaskFormat
        do {
            format = try Self.negotiate(available, format: query["format"], accept: accept)
        } catch var error as APIError where !available.contains(.dicomSEG) {
            error.message += "; \(unavailable)"
            throw error
        }
        let url = format == .dicomSEG ? files.segmentation(id) : files.folder(id).appendingPathComponent(summary.maskFile)
        let name = url.lastPathComponent
        let type = format == .dicomSEG ? DICOMSegmentation.mediaType : name.hasSuffix(".png") ? "image/png" : name.hasSuffix(".gz") ? "application/gzip" : "application/octet-stream"
        return try fileResponse(url, type: type, headers: [("Content-Disposition", "attachment; filename=\"\(name)\"")])
    }

    /// `format` names one; otherwise the first of `available` that Accept takes, by quality
    /// (no Accept header takes the first). Public for the fuzz harness.
    public static func negotiate(_ available: [MaskFormat], format: String?, accept: String?) throws -> MaskFormat {
        let offered = available.map(\.rawValue).joined(separator: ", ")
        if let format {
            guard let chosen = MaskFormat(rawValue: format), available.contains(chosen) else {
                throw APIError(406, "not_acceptable", "this job's mask is available as \(offered), not \(format)")
            }
            return chosen
        }
        guard let accept, !accept.trimmingCharacters(in: .whitespaces).isEmpty else { return available[0] }
        // Each media range with its quality, highest first; q=0 refuses.
        let ranges = accept.split(separator: ",").compactMap { item -> (type: String, quality: Double)? in
            let parts = item.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            guard let type = parts.first, !type.isEmpty else { return nil }
            let quality = parts.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) } ?? 1
            return (type, quality)
        }.filter { $0.quality > 0 }.sorted { $0.quality > $1.quality }
        for range in ranges {
            let matches = available.filter { format in
                format.mediaTypes.contains { type in
                    range.type == "*/*" || range.type == type || (range.type.hasSuffix("/*") && type.hasPrefix(range.type.dropLast()))
                }
            }
            if let first = matches.first { return first }
        }
        throw APIError(406, "not_acceptable", "this job's mask is available as \(offered) (\(available.flatMap(\.mediaTypes).joined(separator: ", "))), none of which Accept takes")
    }
}
