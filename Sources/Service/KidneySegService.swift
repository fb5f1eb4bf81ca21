import Foundation
import HTTP
import Imaging
import Logging
import SegmentationMetrics
import NeuralNet
import Store

/// The API (v1): routes requests to handlers, and turns every thrown `APIError` into its JSON
/// response in one place.
public final class KidneySegService: HTTPResponder, @unchecked Sendable {
    let configuration: ServiceConfiguration
    let store: any JobStore
    let files: JobFiles
    let ensemble: Ensemble
    let workers: WorkerPool
    public let links: ViewLinks
    private let metrics = ServiceMetrics()
    private let logger = Logger(label: "kidneyseg.service")

    public init(configuration: ServiceConfiguration, store: any JobStore, files: JobFiles, ensemble: Ensemble, cores: Int) {
        self.configuration = configuration
        self.store = store
        self.files = files
        self.ensemble = ensemble
        links = ViewLinks(secret: configuration.linkSecret.isEmpty ? nil : configuration.linkSecret,
                          lifetime: TimeInterval(configuration.linkMinutes * 60))
        workers = WorkerPool(count: configuration.workers, threads: configuration.computeThreads(cores: cores), store: store,
                             files: files, pipeline: SegmentationPipeline(ensemble: ensemble), inferenceSeconds: metrics.inferenceSeconds,
                             dicomReader: configuration.dicomReader)
    }

    /// Removes what a stopped process left half-written, queues again the jobs it left running
    /// (or fails those that keep stopping it), then starts the workers.
    public func start() throws {
        for leftover in files.removeLeftovers() { logger.info("removed \(leftover), left half-written by a stopped process") }
        _ = try store.requeueInterrupted(maxAttempts: configuration.maxAttempts)
        workers.start()
    }

    public func stop() { workers.stop() }

    /// Stops taking jobs, lets running ones finish for up to `deadline` seconds, and queues the
    /// rest again for the next start.
    public func drain(deadline: TimeInterval) { workers.drain(deadline: deadline) }

    public func respond(to request: HTTPRequest) -> HTTPResponse {
        let documented = APIDocument.route(matching: request.head.path)
        let response: HTTPResponse
        do {
            try authorize(request)
            response = try route(request, documented)
        } catch let error as APIError {
            response = error.response
        } catch let error as HTTPServerError {
            // The client went away or stalled mid-body: its fault, not the server's.
            response = APIError(clientFault: error).response
        } catch {
            response = HTTPResponse.error(500, code: "internal_error", message: "\(error)")
        }
        metrics.countRequest(route: documented?.template ?? "unmatched", status: response.status)
        return response
    }

    /// /healthz is answered on the HTTP server's loop: it touches nothing but memory.
    public func answersAtOnce(_ head: HTTPRequestHead) -> Bool { head.method == "GET" && head.target == "/healthz" }

    /// Dispatches on the OpenAPI document's path templates: a path no template matches is 404,
    /// and a method its template does not list is 405.
    private func route(_ request: HTTPRequest, _ documented: APIDocument.Route?) throws -> HTTPResponse {
        let path = request.head.path
        guard let documented else { throw APIError.notFound(path) }
        let segments = path.split(separator: "/").map(String.init)
        let query = Self.query(request.head.target)
        switch (request.head.method, documented.template) {
        case ("GET", "/healthz"): return .json(200, Data(#"{"status":"ok"}"#.utf8))
        case ("GET", "/readyz"): return try readiness()
        case ("GET", "/metrics"):
            return HTTPResponse(status: 200, headers: [("Content-Type", "text/plain; version=0.0.4")],
                                body: .bytes(Data(try metrics.exposition(store: store))))
        case ("GET", "/openapi.json"): return .json(200, APIDocument.json)
        case ("POST", "/v1/jobs"):
            try requireFraming(request)
            return try submit(request)
        case ("GET", "/v1/jobs"): return try list(query)
        case ("GET", "/v1/jobs/{id}"): return try describe(segments[2])
        case ("DELETE", "/v1/jobs/{id}"): return try cancelOrDelete(segments[2])
        case ("GET", "/v1/jobs/{id}/mask"): return try mask(segments[2], query, accept: request.head.value("Accept"))
        case ("GET", "/v1/jobs/{id}/overlay.png"): return try overlay(segments[2], query)
        case ("GET", "/v1/jobs/{id}/view"): return try viewer(segments[2], query)
        case ("GET", "/v1/jobs/{id}/view/{layer}"): return try viewLayer(segments[2], segments[4])
        case ("PUT", "/v1/jobs/{id}/reference"):
            try requireFraming(request)
            return try attachReference(request, to: segments[2])
        case ("GET", "/v1/models"): return try models()
        case ("GET", "/v1/metrics/summary"): return try metricsSummary()
        default:
            let allowed = documented.methods.joined(separator: ", ")
            throw APIError(405, "method_not_allowed", "\(request.head.method) is not allowed on \(path); use \(allowed)", headers: ["Allow": allowed])
        }
    }

    private func authorize(_ request: HTTPRequest) throws {
        guard !configuration.tokens.isEmpty else { return }
        if configuration.openHealthEndpoints, ["/healthz", "/readyz", "/metrics"].contains(request.head.path) { return }
        let presented = request.head.value("Authorization").flatMap { value -> String? in
            value.lowercased().hasPrefix("bearer ") ? String(value.dropFirst(7)).trimmingCharacters(in: .whitespaces) : nil
        }
        if let presented, configuration.tokens.contains(where: { constantTimeEqual($0, presented) }) { return }
        // A browser has no token: a job's signed link opens its page and what the page loads.
        let segments = request.head.path.split(separator: "/").map(String.init)
        if request.head.method == "GET", Self.isPageResource(segments) {
            guard let refusal = links.refusal(of: Self.query(request.head.target), for: segments[2], now: Date()) else { return }
            throw APIError(401, "unauthorized", refusal, headers: ["WWW-Authenticate": "Bearer"])
        }
        throw APIError(401, "unauthorized", "send Authorization: Bearer <token>", headers: ["WWW-Authenticate": "Bearer"])
    }

    /// What a job's page opens or loads: the job's JSON, the page, its layers, overlays and mask.
    static func isPageResource(_ segments: [String]) -> Bool {
        guard segments.count >= 3, segments.count <= 5, segments[0] == "v1", segments[1] == "jobs" else { return false }
        switch segments.count {
        case 3: return true
        case 4: return ["view", "overlay.png", "mask"].contains(segments[3])
        default: return segments[3] == "view"
        }
    }

    /// Ready when the models are loaded, the database takes a write, the data directory has room
    /// for two uploads of the largest size, and the queue has room.
    private func readiness() throws -> HTTPResponse {
        struct Readiness: Encodable {
            var ready: Bool
            var models: Int
            var database: String
            var diskFreeMegabytes: Int
            var queued: Int
            var problems: [String]

            enum CodingKeys: String, CodingKey {
                case ready, models, database, queued, problems
                case diskFreeMegabytes = "disk_free_mb"
            }
        }
        var problems: [String] = []
        if ensemble.members.isEmpty { problems.append("no models are loaded") }
        var database = "ok"
        do { try store.checkWritable(at: Date()) } catch {
            database = "\(error)"
            problems.append("the database does not take writes")
        }
        let free = files.freeBytes() >> 20
        if free < 2 * configuration.maxUploadMegabytes {
            problems.append("\(free) MB free in the data directory; uploads need \(2 * configuration.maxUploadMegabytes)")
        }
        let queued = try store.count(status: .queued)
        if queued >= configuration.maxQueuedJobs { problems.append("the queue is full (\(queued) jobs)") }
        let body = Readiness(ready: problems.isEmpty, models: ensemble.members.count, database: database, diskFreeMegabytes: free,
                             queued: queued, problems: problems)
        return try .json(problems.isEmpty ? 200 : 503, JSONEncoder.api.encode(body))
    }

    /// One axial slice's overlay (the middle one by default), as the worker rendered it.
    private func overlay(_ id: String, _ query: [String: String]) throws -> HTTPResponse {
        _ = try succeededJob(id, "overlays exist")
        let slices = try files.readSummary(id).axialSlices
        let slice = try query["slice"].map { text -> Int in
            guard let slice = Int(text), (0..<slices).contains(slice) else {
                throw APIError(400, "invalid_slice", "slice must be 0 to \(slices - 1)")
            }
            return slice
        } ?? slices / 2
        return try fileResponse(files.overlay(id, slice: slice), type: "image/png")
    }

    /// The ensemble's members and their manifests.
    private func models() throws -> HTTPResponse {
        struct Member: Encodable {
            var folder: String
            var weight: Double
            var manifest: ModelManifest
        }
        let members = zip(ensemble.members, ensemble.weights).map { Member(folder: $0.folder.lastPathComponent, weight: $1, manifest: $0.manifest) }
        return try .json(200, JSONEncoder.api.encode(["models": members]))
    }

    private func metricsSummary() throws -> HTTPResponse {
        let cases = try store.allCaseMetrics()
        struct Summary: Encodable {
            var cases: Int
            var classes: [ClassSummary]
        }
        return try .json(200, JSONEncoder.api.encode(Summary(cases: cases.count, classes: summarize(cases))))
    }

    private func list(_ query: [String: String]) throws -> HTTPResponse {
        let status = try query["status"].map { name -> Job.Status in
            guard let status = Job.Status(rawValue: name) else {
                throw APIError(400, "invalid_status", "status must be one of " + Job.Status.allCases.map(\.rawValue).joined(separator: ", "))
            }
            return status
        }
        let limit = try query["limit"].map { text -> Int in
            guard let limit = Int(text), (1...500).contains(limit) else { throw APIError(400, "invalid_limit", "limit must be 1 to 500") }
            return limit
        } ?? 50
        let jobs = try store.jobs(status: status, limit: limit, after: query["after"])
        let items = try jobs.map { try JSONSerialization.jsonObject(with: representation(of: $0)) }
        let page: [String: Any] = ["jobs": items, "next": jobs.count == limit ? jobs.last!.id : NSNull()]
        return .json(200, try JSONSerialization.data(withJSONObject: page, options: [.sortedKeys, .withoutEscapingSlashes]))
    }

    /// Cancels a queued or running job; deletes a finished one with its files.
    private func cancelOrDelete(_ id: String) throws -> HTTPResponse {
        let job = try existingJob(id)
        guard job.status.isFinished else {
            do {
                return try .json(200, representation(of: store.transition(id, .cancel(reason: "cancelled by the client"), at: Date())))
            } catch let error as JobTransitionError {
                throw APIError(409, "conflict", "\(error)")  // it finished meanwhile
            }
        }
        // The files first: on a full disk, removing them makes the room SQLite needs to delete.
        files.delete(id)
        do { try store.delete(id) } catch {
            throw APIError(507, "insufficient_storage", "the job's files are deleted but its record could not be (\(error)); retry the DELETE")
        }
        return HTTPResponse(status: 204)
    }

    func existingJob(_ id: String) throws -> Job {
        guard let job = try store.job(id) else { throw APIError.notFound("job \(id)") }
        return job
    }

    /// The job, which must have succeeded for `what` to exist.
    func succeededJob(_ id: String, _ what: String) throws -> Job {
        let job = try existingJob(id)
        guard job.status == .succeeded else { throw APIError(409, "not_ready", "job \(id) is \(job.status.rawValue); \(what) once it has succeeded") }
        return job
    }

    /// The job; while it is queued or running, `Retry-After` tells a poller when to ask again.
    private func describe(_ id: String) throws -> HTTPResponse {
        let job = try existingJob(id)
        return try .json(200, representation(of: job), headers: job.status.isFinished ? [] : [("Retry-After", "2")])
    }

    /// A result file, streamed from disk; a succeeded job lacking it has lost files.
    func fileResponse(_ url: URL, type: String, headers: [(String, String)] = []) throws -> HTTPResponse {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw APIError(500, "missing_result", "\(url.lastPathComponent) is missing from the job's folder")
        }
        return HTTPResponse(status: 200, headers: [("Content-Type", type)] + headers, body: .file(url))
    }

    func representation(of job: Job) throws -> Data {
        let summary = try? files.readSummary(job.id)
        let results = try? JSONDecoder().decode(JobResults.self, from: Data(contentsOf: files.result(job.id)))
        var representation = JobRepresentation(job, input: summary, results: results)
        representation.links["view_signed"] = links.link(for: job.id, now: Date())
        return try JSONEncoder.api.encode(representation)
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
