import Foundation
import HTTP
import Imaging
import NeuralNet

/// The clinician's page, `GET /v1/jobs/{id}/view`: while the job waits or runs, its progress,
/// refreshing itself; when it failed, why; when it succeeded, a viewer (Resources/viewer.html)
/// that draws axial, coronal and sagittal views in the browser from the CT, labels and any
/// reference (`GET /v1/jobs/{id}/view/{layer}`), so that windowing is instant. Opened by its
/// signed link, the page passes the signature on to everything it loads.
extension KidneySegService {
    /// The page's warning, with what the loaded models were validated on in the words of their
    /// `ensemble.json`, so that it changes with the models.
    var notice: String {
        Self.escapeHTML("Research software, not for diagnosis. "
            + (ensemble.validation ?? "These models come with no statement of what they were validated on.") + " Check every result.")
    }

    static let viewerTemplate: String = {
        guard let url = Bundle.module.url(forResource: "viewer", withExtension: "html"), let text = try? String(contentsOf: url, encoding: .utf8) else {
            preconditionFailure("viewer.html is missing from the Service resource bundle")
        }
        return text
    }()

    /// What the page draws from, embedded in it as JSON.
    struct ViewerMeta: Encodable {
        struct Volume: Encodable { var `class`: String; var millilitres: Double }
        struct Metric: Encodable { var `class`: String; var dice: Double? }
        struct Model: Encodable { var name: String; var weight: Double }
        var size: [Int]
        var spacing: [Double]
        var originLPS: [Double]
        var stepsLPS: [[Double]]
        var input: String
        /// Window width and level of the input's own range (8-bit PNG); nil: the data's.
        var native: [Double]?
        var reference: Bool
        var volumes: [Volume]
        var sides: [KidneySides.Volumes]
        var metrics: [Metric]
        var models: [Model]
        var maskName: String
        var links: [String: String]
    }

    func viewer(_ id: String, _ query: [String: String]) throws -> HTTPResponse {
        let job = try existingJob(id)
        // Digits and hex only, so nothing else from the query reaches the page.
        var signed = ""
        if let expires = query["expires"], let signature = query["signature"],
           expires.allSatisfy({ $0.isASCII && $0.isNumber }), signature.allSatisfy({ $0.isASCII && $0.isHexDigit }), !expires.isEmpty, !signature.isEmpty {
            signed = "expires=\(expires)&signature=\(signature)"
        }
        let title = Self.escapeHTML(job.caseID ?? job.id)
        switch job.status {
        case .queued, .running:
            let progress = job.progressTotal > 0 ? " (\(job.progressDone) of \(job.progressTotal) slices)" : ""
            return page(title: title, refresh: true, body: "<p id=\"status\">The job is \(job.status.rawValue)\(progress). This page refreshes itself.</p>")
        case .failed, .cancelled:
            return page(title: title, refresh: false, body: "<p id=\"status\">The job \(job.status.rawValue): \(Self.escapeHTML(job.reason ?? "no reason recorded")).</p>")
        case .succeeded:
            break
        }
        let summary = try files.readSummary(id)
        let results = try JSONDecoder().decode(JobResults.self, from: Data(contentsOf: files.result(id)))
        guard let grid = try? files.readViewerGrid(id) else {
            // Finished by a version before the viewer: its mask and overlays are still there.
            return page(title: title, refresh: false, body: "<p id=\"status\">This job was finished by an earlier version of kidneyseg, which kept no data for the viewer. <a href=\"mask\(signed.isEmpty ? "" : "?" + signed)\">Download its mask</a>.</p>")
        }
        let withSignature = { (path: String) in signed.isEmpty ? path : path + (path.contains("?") ? "&" : "?") + signed }
        var links = ["ct": withSignature("view/ct"), "labels": withSignature("view/labels"), "mask": withSignature("mask"),
                     "json": withSignature("/v1/jobs/\(id)")]
        let hasReference = FileManager.default.fileExists(atPath: files.viewerLayer(id, .reference).path)
        if hasReference { links["reference"] = withSignature("view/reference") }
        if FileManager.default.fileExists(atPath: files.segmentation(id).path) { links["seg"] = withSignature("mask?format=dicom-seg") }
        let meta = ViewerMeta(
            size: grid.size, spacing: grid.spacing, originLPS: grid.originLPS, stepsLPS: grid.stepsLPS,
            input: "\(summary.format), \(summary.dims.map(String.init).joined(separator: " x ")) voxels of \(summary.spacingMillimetres.map { String(format: "%g", $0) }.joined(separator: " x ")) mm, axis codes \(summary.orientation)",
            native: summary.huRange.map { [Double($0[1] - $0[0]), Double($0[1] + $0[0]) / 2] },
            reference: hasReference,
            volumes: results.volumes.map { .init(class: $0.label.name, millilitres: $0.millilitres) },
            sides: results.sides ?? [],
            metrics: (results.metrics ?? []).map { .init(class: $0.label.name, dice: $0.dice) },
            models: zip(ensemble.members, ensemble.weights).map { .init(name: $0.folder.lastPathComponent, weight: $1) },
            maskName: summary.maskFile, links: links)
        // Inside <script>, "</" could end the element: JSON allows it escaped.
        let json = String(decoding: try JSONEncoder.api.encode(meta), as: UTF8.self).replacingOccurrences(of: "</", with: "<\\/")
        let html = Self.viewerTemplate.replacingOccurrences(of: "{{TITLE}}", with: title)
            .replacingOccurrences(of: "{{NOTICE}}", with: notice).replacingOccurrences(of: "{{META}}", with: json)
        return HTTPResponse(status: 200, headers: [("Content-Type", "text/html; charset=utf-8")], body: .bytes(Data(html.utf8)))
    }

    /// A page for a job that has no result to draw.
    private func page(title: String, refresh: Bool, body: String) -> HTTPResponse {
        let html = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>kidneyseg \(title)</title>\(refresh ? "<meta http-equiv=\"refresh\" content=\"2\">" : "")
            <style>body{font-family:system-ui,sans-serif;margin:2em;background:#101214;color:#e8e8e8}</style></head>
            <body><h1>\(title)</h1>\(body)<p>\(notice)</p></body></html>
            """
        return HTTPResponse(status: 200, headers: [("Content-Type", "text/html; charset=utf-8")], body: .bytes(Data(html.utf8)))
    }

    /// One of the page's layers, gzipped on disk and sent as such (Content-Encoding: gzip).
    func viewLayer(_ id: String, _ name: String) throws -> HTTPResponse {
        _ = try succeededJob(id, "its view exists")
        guard let layer = JobFiles.ViewerLayer(rawValue: name) else {
            throw APIError.notFound("layer \(name) (the layers are ct, labels and reference)")
        }
        let url = files.viewerLayer(id, layer)
        if layer == .reference, !FileManager.default.fileExists(atPath: url.path) { throw APIError.notFound("a reference for job \(id)") }
        return try fileResponse(url, type: "application/octet-stream", headers: [("Content-Encoding", "gzip")])
    }

    static func escapeHTML(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
