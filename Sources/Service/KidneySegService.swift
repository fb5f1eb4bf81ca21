import Foundation
import HTTP
import Imaging
import NeuralNet
import Store

/// The API (v1): routes requests to handlers, and turns every thrown `APIError` into its JSON
/// response in one place.
public final class KidneySegService: HTTPResponder, @unchecked Sendable {
    let configuration: ServiceConfiguration
    let store: any JobStore
    let files: JobFiles
    let ensemble: Ensemble
    private let workers: WorkerPool

    public init(configuration: ServiceConfiguration, store: any JobStore, files: JobFiles, ensemble: Ensemble, cores: Int) {
        self.configuration = configuration
        self.store = store
        self.files = files
        self.ensemble = ensemble
        workers = WorkerPool(count: configuration.workers, threads: configuration.computeThreads(cores: cores), store: store,
                             files: files, pipeline: SegmentationPipeline(ensemble: ensemble))
    }

    /// Queues again the jobs a stopped process left running, then starts the workers.
    public func start() throws {
        _ = try store.requeueInterrupted()
        workers.start()
    }

    public func stop() { workers.stop() }

    /// Stops taking jobs, lets running ones finish for up to `deadline` seconds, and queues the
    /// rest again for the next start.
    public func drain(deadline: TimeInterval) { workers.drain(deadline: deadline) }

    public func respond(to request: HTTPRequest) -> HTTPResponse {
        do {
            try authorize(request)
            return try route(request)
        } catch let error as APIError {
            return error.response
        } catch {
            return HTTPResponse.error(500, code: "internal_error", message: "\(error)")
        }
    }

    private func route(_ request: HTTPRequest) throws -> HTTPResponse {
        let segments = request.head.path.split(separator: "/").map(String.init)
        let method = request.head.method
        let isJob = segments.count >= 3 && segments.count <= 4 && segments[0] == "v1" && segments[1] == "jobs"
        switch (method, segments.count) {
        case ("GET", 1) where segments == ["healthz"]: return .json(200, Data(#"{"status":"ok"}"#.utf8))
        case ("GET", 1) where segments == ["readyz"]: return try readiness()
        case ("POST", 2) where segments == ["v1", "jobs"]: return try submit(request)
        case ("GET", 3) where isJob: return try describe(segments[2])
        case ("GET", 4) where isJob && segments[3] == "mask": return try mask(segments[2])
        default:
            let known = [["healthz"], ["readyz"], ["v1", "jobs"]].contains(segments) || (isJob && (segments.count == 3 || segments[3] == "mask"))
            if known { throw APIError(405, "method_not_allowed", "\(method) is not allowed on \(request.head.path)") }
            throw APIError.notFound(request.head.path)
        }
    }

    private func authorize(_ request: HTTPRequest) throws {
        guard !configuration.tokens.isEmpty else { return }
        if configuration.openHealthEndpoints, ["/healthz", "/readyz", "/metrics"].contains(request.head.path) { return }
        let presented = request.head.value("Authorization").flatMap { value -> String? in
            value.lowercased().hasPrefix("bearer ") ? String(value.dropFirst(7)).trimmingCharacters(in: .whitespaces) : nil
        }
        guard let presented, configuration.tokens.contains(where: { constantTimeEqual($0, presented) }) else {
            throw APIError(401, "unauthorized", "send Authorization: Bearer <token>", headers: ["WWW-Authenticate": "Bearer"])
        }
    }

    private func readiness() throws -> HTTPResponse {
        let queued = try store.count(status: .queued)
        let saturated = queued >= configuration.maxQueuedJobs
        let body = #"{"database":"ok","models":\#(ensemble.members.count),"queued":\#(queued),"ready":\#(!saturated)}"#
        return .json(saturated ? 503 : 200, Data(body.utf8))
    }

    private func submit(_ request: HTTPRequest) throws -> HTTPResponse {
        guard try store.count(status: .queued) < configuration.maxQueuedJobs else {
            throw APIError(429, "queue_full", "the queue holds \(configuration.maxQueuedJobs) jobs; retry later", headers: ["Retry-After": "30"])
        }
        let query = Self.query(request.head.target)
        var options = JobOptions()
        if let range = query["hu_range"] {
            let bounds = range.split(separator: ",").compactMap { Float($0) }
            guard bounds.count == 2, bounds[0] < bounds[1] else { throw APIError(400, "invalid_hu_range", "hu_range must be LO,HI with LO < HI") }
            options.huRange = bounds
        }
        let received = try files.receive(limit: configuration.maxUploadMegabytes << 20) { try request.readBody() }
        var placed: URL?
        do {
            let volume: Volume<Float>
            do {
                volume = try VolumeReader(options: DecodeOptions(png: options.pngMapping)).read(from: received).volume
            } catch VolumeIOError.unrecognizedFormat {
                throw APIError(415, "unsupported_media_type", "the body is not a NIfTI (.nii, .nii.gz) or PNG file")
            } catch {
                throw APIError(422, "invalid_image", "\(error)")
            }
            var job = Job(caseID: query["case_id"], inputFormat: volume.source.format.description, createdAt: Date(),
                          options: String(decoding: try JSONEncoder().encode(options), as: UTF8.self))
            let input = files.input(job.id, format: volume.source.format)
            try files.place(received, at: input)
            placed = input
            try JSONEncoder.api.encode(InputSummary(volume, file: input.lastPathComponent)).write(to: files.summary(job.id), options: .atomic)
            let outcome = try store.submit(job, idempotencyKey: request.head.value("Idempotency-Key"))
            if !outcome.created { files.delete(job.id) }
            job = outcome.job
            workers.wake()
            return try .json(202, representation(of: job), headers: [("Location", "/v1/jobs/\(job.id)")])
        } catch {
            if let placed { files.delete(placed.deletingLastPathComponent().lastPathComponent) }
            try? FileManager.default.removeItem(at: received)
            throw error
        }
    }

    private func describe(_ id: String) throws -> HTTPResponse {
        guard let job = try store.job(id) else { throw APIError.notFound("job \(id)") }
        return try .json(200, representation(of: job))
    }

    private func mask(_ id: String) throws -> HTTPResponse {
        guard let job = try store.job(id) else { throw APIError.notFound("job \(id)") }
        guard job.status == .succeeded else { throw APIError(409, "not_ready", "job \(id) is \(job.status.rawValue); its mask exists once it has succeeded") }
        let summary = try JSONDecoder().decode(InputSummary.self, from: Data(contentsOf: files.summary(id)))
        let mask = files.folder(id).appendingPathComponent(summary.file.replacingOccurrences(of: "input", with: "mask"))
        let type = summary.file.hasSuffix(".png") ? "image/png" : summary.file.hasSuffix(".gz") ? "application/gzip" : "application/octet-stream"
        return HTTPResponse(status: 200, headers: [("Content-Type", type), ("Content-Disposition", "attachment; filename=\"\(mask.lastPathComponent)\"")],
                            body: .file(mask))
    }

    private func representation(of job: Job) throws -> Data {
        let summary = try? JSONDecoder().decode(InputSummary.self, from: Data(contentsOf: files.summary(job.id)))
        let results = try? JSONDecoder().decode(JobResults.self, from: Data(contentsOf: files.result(job.id)))
        return try JSONEncoder.api.encode(JobRepresentation(job, input: summary, results: results))
    }

    /// The query string's parameters, percent-decoded.
    static func query(_ target: String) -> [String: String] {
        guard let start = target.firstIndex(of: "?") else { return [:] }
        var parameters: [String: String] = [:]
        for pair in target[target.index(after: start)...].split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map { String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String($0) }
            if let key = parts.first { parameters[key] = parts.count > 1 ? parts[1] : "" }
        }
        return parameters
    }
}

/// Compares two secrets in time that does not depend on where they differ.
func constantTimeEqual(_ lhs: String, _ rhs: String) -> Bool {
    let a = Array(lhs.utf8)
    let b = Array(rhs.utf8)
    var difference = UInt8(a.count == b.count ? 0 : 1)
    for index in 0..<max(a.count, b.count) {
        difference |= (index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 0)
    }
    return difference == 0
}
