import Foundation
import HTTP
import Imaging
import NeuralNet
import Service
import Store
import TestSupport
import Testing

/// The API over a real socket on loopback, with a real SQLite file and seeded random models.
@Suite(.serialized) struct ServiceTests {
    let scratch = ScratchDirectory()

    struct Running {
        let service: KidneySegService
        let server: HTTPServer
        let store: SQLiteJobStore
        func client() throws -> RawClient { try RawClient(port: server.port) }
    }

    /// A service on a free port with one small random-weight model, or with `shippedModels` the
    /// default ensemble (where a test needs labels in its masks).
    func withService(tokens: [String] = [], maxQueuedJobs: Int = 100, workers: Int = 1, shippedModels: Bool = false,
                     _ body: (Running) throws -> Void) throws {
        _ = TestLogging.toFile
        var models = scratch.url.appendingPathComponent("models")
        if shippedModels {
            models = ConfigurationDocumentationTests.repository.appendingPathComponent("Models")
        } else {
            try RandomModels.write(.resnet18, seed: 3, into: models)
        }
        var configuration = ServiceConfiguration()
        configuration.tokens = tokens
        configuration.maxQueuedJobs = maxQueuedJobs
        configuration.workers = workers
        configuration.dicomReader = BuiltProducts.kidneyseg  // as `serve` sets it
        let data = scratch.url.appendingPathComponent("data")
        let store = try SQLiteJobStore(path: scratch.url.appendingPathComponent("jobs.sqlite").path)
        let service = KidneySegService(configuration: configuration, store: store, files: try JobFiles(dataDirectory: data),
                                       ensemble: try Ensemble(folder: models), cores: 2)
        try service.start()
        let server = HTTPServer(configuration: HTTPServerConfiguration(port: 0), responder: service)
        try server.start()
        defer {
            server.stop()
            // No worker may still be segmenting once the test is over: the process could end
            // with OpenBLAS mid-call (a crash at exit, seen once in CI).
            service.drain(deadline: 0)
        }
        try body(Running(service: service, server: server, store: store))
    }

    func post(_ client: RawClient, _ file: URL, target: String = "/v1/jobs", headers: String = "") throws -> (status: Int, headers: [String: String], body: String)? {
        let bytes = try [UInt8](Data(contentsOf: file))
        client.send("POST \(target) HTTP/1.1\r\nContent-Length: \(bytes.count)\r\n\(headers)\r\n")
        client.send(bytes)
        return client.response()
    }

    func json(_ text: String) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
    }

    /// Polls the job until it leaves queued and running.
    func waitForJob(_ client: RawClient, _ location: String) -> [String: Any] {
        for _ in 0..<600 {
            client.send("GET \(location) HTTP/1.1\r\n\r\n")
            let job = json(client.response()?.body ?? "")
            if let status = job["status"] as? String, status != "queued", status != "running" { return job }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return [:]
    }

    @Test func segmentsAnUploadedVolumeAndServesItsMask() throws {
        try withService { running in
            let client = try running.client()
            let accepted = try #require(try post(client, SharedData.exampleCT, target: "/v1/jobs?case_id=example%20ct"))
            #expect(accepted.status == 202)
            let location = try #require(accepted.headers["location"])
            #expect(json(accepted.body)["case_id"] as? String == "example ct")
            client.send("GET \(location) HTTP/1.1\r\n\r\n")
            let polled = try #require(client.response())
            if ["queued", "running"].contains(json(polled.body)["status"] as? String) { #expect(polled.headers["retry-after"] == "2") }
            let job = waitForJob(client, location)
            client.send("GET \(location) HTTP/1.1\r\n\r\n")
            #expect(client.response()?.headers["retry-after"] == nil)  // finished: nothing to wait for
            #expect(job["status"] as? String == "succeeded")
            let input = try #require(job["input"] as? [String: Any])
            #expect(input["dims"] as? [Int] == [122, 101, 112])
            #expect(input["orientation"] as? String == "RAS")
            #expect(((job["results"] as? [String: Any])?["volumes"] as? [Any])?.count == 2)
            let sides = try #require((job["results"] as? [String: Any])?["sides"] as? [[String: Any]])
            #expect(sides.compactMap { $0["side"] as? String } == ["right", "left"])
            #expect((job["progress"] as? [String: Any])?["done"] as? Int == 112)

            client.send("GET \(location)/mask HTTP/1.1\r\n\r\n")
            let mask = try #require(client.response())
            #expect(mask.status == 200)
            #expect(mask.headers["content-type"] == "application/gzip")
        }
    }

    @Test func theMaskReadsBackWithTheInputsGeometry() throws {
        try withService { running in
            let client = try running.client()
            let location = try #require(try post(client, SharedData.pancreasSlice)?.headers["location"])
            #expect(waitForJob(client, location)["status"] as? String == "succeeded")
            let id = String(location.split(separator: "/").last!)
            let mask = scratch.url.appendingPathComponent("data/jobs/\(id)/mask.nii.gz")
            let labels = try VolumeReader().readLabels(from: mask)
            #expect(labels.geometry == (try VolumeReader().readCT(from: SharedData.pancreasSlice)).geometry)
        }
    }

    /// A PNG stores no spacing: the request gives it, and the input summary records the one used.
    @Test func takesAPNGsPixelSpacingFromTheRequest() throws {
        try withService { running in
            let client = try running.client()
            let slice = SharedData.curvasSlice
            let location = try #require(try post(client, slice, target: "/v1/jobs?hu_range=0,255&pixel_spacing=0.7")?.headers["location"])
            let input = try #require(waitForJob(client, location)["input"] as? [String: Any])
            #expect(input["spacing_mm"] as? [Double] == [0.7, 0.7, 0.7])
            #expect(input["hu_range"] as? [Double] == [0, 255])  // how the 8-bit pixels were read
            let unspecified = try #require(try post(client, slice)?.headers["location"])
            let defaults = try #require(waitForJob(client, unspecified)["input"] as? [String: Any])
            #expect(defaults["spacing_mm"] as? [Double] == [0.8, 0.8, 0.8])
            #expect(defaults["hu_range"] as? [Double] == [-125, 225])
            for bad in ["0", "-1", "wide", "11"] {
                // Refused before its body is read, so each on a connection of its own.
                let refused = try #require(try post(running.client(), slice, target: "/v1/jobs?pixel_spacing=\(bad)"))
                #expect(refused.status == 400)
                #expect((json(refused.body)["error"] as? [String: Any])?["code"] as? String == "invalid_pixel_spacing")
            }
        }
    }

    /// After a kill -9: a half-received upload and a half-written mask go at the next start;
    /// files the service did not name that way stay.
    @Test func removesWhatAKilledProcessLeftHalfWritten() throws {
        let data = scratch.url.appendingPathComponent("leftovers")
        let files = try JobFiles(dataDirectory: data)
        let upload = data.appendingPathComponent("incoming/\(UUID().uuidString.lowercased())")
        let job = files.folder("a1")
        try FileManager.default.createDirectory(at: job, withIntermediateDirectories: true)
        let mask = job.appendingPathComponent(".mask.nii.gz.\(UUID().uuidString).nii.gz")
        let kept = [data.appendingPathComponent("incoming/notes.txt"), job.appendingPathComponent("input.nii.gz"), job.appendingPathComponent(".hidden.nii")]
        for url in [upload, mask] + kept { try Data("x".utf8).write(to: url) }
        #expect(Set(files.removeLeftovers()) == [upload.path, mask.path])
        #expect(kept.allSatisfy { FileManager.default.fileExists(atPath: $0.path) })
        #expect(!FileManager.default.fileExists(atPath: upload.path) && !FileManager.default.fileExists(atPath: mask.path))
    }

    @Test func returnsTheSameJobForARetriedIdempotencyKey() throws {
        try withService { running in
            let client = try running.client()
            let first = try #require(try post(client, SharedData.pancreasSlice, headers: "Idempotency-Key: pacs-123\r\n"))
            let retry = try #require(try post(client, SharedData.pancreasSlice, headers: "Idempotency-Key: pacs-123\r\n"))
            #expect(first.headers["location"] == retry.headers["location"])
            #expect(try running.store.jobs(status: nil, limit: 10, after: nil).count == 1)
            // The same key with another study once returned the first study's job.
            let reused = try #require(try post(running.client(), SharedData.exampleCT, headers: "Idempotency-Key: pacs-123\r\n"))
            #expect(reused.status == 422)
            #expect((json(reused.body)["error"] as? [String: Any])?["code"] as? String == "idempotency_key_reused")
            #expect(try running.store.jobs(status: nil, limit: 10, after: nil).count == 1)
        }
    }

    @Test func answersBadRequestsWithJSONErrors() throws {
        try withService { running in
            let client = try running.client()
            let notes = scratch.url.appendingPathComponent("notes.txt")
            try Data("not an image".utf8).write(to: notes)
            #expect(try post(client, notes)?.status == 415)

            let truncated = scratch.url.appendingPathComponent("truncated.nii.gz")
            let whole = try Data(contentsOf: SharedData.exampleCT)
            try whole.prefix(whole.count / 2).write(to: truncated)
            let refused = try #require(try post(client, truncated))
            #expect(refused.status == 422)
            #expect((json(refused.body)["error"] as? [String: Any])?["code"] as? String == "invalid_image")

            client.send("GET /v1/jobs/no-such-job HTTP/1.1\r\n\r\n")
            #expect(client.response()?.status == 404)
            client.send("DELETE /healthz HTTP/1.1\r\n\r\n")
            #expect(client.response()?.status == 405)
            client.send("GET /nowhere/else HTTP/1.1\r\n\r\n")
            let nowhere = try #require(client.response())
            #expect(nowhere.status == 404)
            #expect(nowhere.body.contains("/nowhere/else does not exist"))  // slashes unescaped
            #expect(try running.store.jobs(status: nil, limit: 10, after: nil).isEmpty)
        }
    }

    @Test func requiresABearerTokenWhenConfigured() throws {
        try withService(tokens: ["s3cret"]) { running in
            let client = try running.client()
            client.send("GET /v1/jobs/x HTTP/1.1\r\n\r\n")
            let refused = try #require(client.response())
            #expect(refused.status == 401)
            #expect(refused.headers["www-authenticate"] == "Bearer")
            client.send("GET /v1/jobs/x HTTP/1.1\r\nAuthorization: Bearer wrong\r\n\r\n")
            #expect(client.response()?.status == 401)
            client.send("GET /v1/jobs/x HTTP/1.1\r\nAuthorization: Bearer s3cret\r\n\r\n")
            #expect(client.response()?.status == 404)
            client.send("GET /healthz HTTP/1.1\r\n\r\n")
            #expect(client.response()?.status == 200)
        }
    }

    @Test func refusesUploadsWhenTheQueueIsFull() throws {
        try withService(maxQueuedJobs: 1, workers: 1) { running in
            running.service.stop()  // nothing drains the queue
            let client = try running.client()
            #expect(try post(client, SharedData.pancreasSlice)?.status == 202)
            let full = try #require(try post(client, SharedData.pancreasSlice))
            #expect(full.status == 429)
            #expect(full.headers["retry-after"] == "30")
            // A body not read in full cannot be skipped: the server closes, unless the whole body
            // had already arrived, and then the connection serves on.
            if full.headers["connection"] == "close" {
                #expect(client.isClosed())
            } else {
                client.send("GET /healthz HTTP/1.1\r\n\r\n")
                #expect(client.response()?.status == 200)
            }
            let probe = try running.client()
            probe.send("GET /readyz HTTP/1.1\r\n\r\n")
            #expect(probe.response()?.status == 503)
        }
    }
}

extension ServiceTests {
    /// A multipart/form-data body with the given file parts.
    func multipart(_ parts: [(name: String, file: URL)], boundary: String = "kidneyseg-test-boundary") throws -> [UInt8] {
        var body: [UInt8] = []
        for part in parts {
            body += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(part.name)\"; filename=\"\(part.file.lastPathComponent)\"\r\nContent-Type: application/octet-stream\r\n\r\n".utf8)
            body += try [UInt8](Data(contentsOf: part.file))
            body += Array("\r\n".utf8)
        }
        return body + Array("--\(boundary)--\r\n".utf8)
    }

    @Test func scoresAJobAgainstAReferenceSentWithIt() throws {
        try withService { running in
            let client = try running.client()
            let body = try multipart([("image", SharedData.exampleCT), ("reference", SharedData.exampleKidneyReference)])
            client.send("POST /v1/jobs HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=kidneyseg-test-boundary\r\nContent-Length: \(body.count)\r\n\r\n")
            client.send(body)
            let accepted = try #require(client.response())
            #expect(accepted.status == 202, "\(accepted.body)")
            let job = waitForJob(client, try #require(accepted.headers["location"]))
            #expect(job["status"] as? String == "succeeded")
            let metrics = try #require((job["results"] as? [String: Any])?["metrics"] as? [[String: Any]])
            // The random model finds no kidney: TP 0, FN = the reference's 12224 kidney voxels.
            #expect(metrics.first?["label"] as? String == "kidney")
            #expect(metrics.first?["false_negatives"] as? Int == 12224)
            #expect(try running.store.allCaseMetrics().count == 1)

            client.send("GET /v1/metrics/summary HTTP/1.1\r\n\r\n")
            let summary = json(try #require(client.response()).body)
            #expect(summary["cases"] as? Int == 1)
        }
    }

    @Test func attachesAReferenceAfterTheFact() throws {
        try withService { running in
            let client = try running.client()
            let location = try #require(try post(client, SharedData.exampleCT)?.headers["location"])
            #expect(waitForJob(client, location)["status"] as? String == "succeeded")
            let reference = try [UInt8](Data(contentsOf: SharedData.exampleKidneyReference))
            client.send("PUT \(location)/reference HTTP/1.1\r\nContent-Length: \(reference.count)\r\n\r\n")
            client.send(reference)
            #expect(client.response()?.status == 200)
            #expect(try running.store.metrics(for: String(location.split(separator: "/").last!)).map(\.label.name) == ["kidney", "tumour"])

            let wrongGrid = try [UInt8](Data(contentsOf: SharedData.kitsLabels(61)))
            client.send("PUT \(location)/reference HTTP/1.1\r\nContent-Length: \(wrongGrid.count)\r\n\r\n")
            client.send(wrongGrid)
            let refused = try #require(client.response())
            #expect(refused.status == 422)
            #expect((json(refused.body)["error"] as? [String: Any])?["code"] as? String == "invalid_reference")
        }
    }
}

extension ServiceTests {
    @Test func listsCancelsAndDeletesJobs() throws {
        try withService { running in
            running.service.stop()  // keep the jobs queued
            let client = try running.client()
            var locations: [String] = []
            for _ in 0..<3 { locations.append(try #require(try post(client, SharedData.pancreasSlice)?.headers["location"])) }
            client.send("GET /v1/jobs?limit=2 HTTP/1.1\r\n\r\n")
            let page = json(try #require(client.response()).body)
            #expect((page["jobs"] as? [[String: Any]])?.count == 2)
            let next = try #require(page["next"] as? String)
            client.send("GET /v1/jobs?limit=2&after=\(next) HTTP/1.1\r\n\r\n")
            let rest = json(try #require(client.response()).body)
            #expect((rest["jobs"] as? [[String: Any]])?.map { $0["id"] as? String } == [String(locations[2].split(separator: "/").last!)])
            #expect(rest["next"] is NSNull)

            client.send("DELETE \(locations[0]) HTTP/1.1\r\n\r\n")
            #expect(json(try #require(client.response()).body)["status"] as? String == "cancelled")
            client.send("GET /v1/jobs?status=cancelled HTTP/1.1\r\n\r\n")
            #expect((json(try #require(client.response()).body)["jobs"] as? [Any])?.count == 1)
            client.send("DELETE \(locations[0]) HTTP/1.1\r\n\r\n")
            #expect(client.response()?.status == 204)
            client.send("GET \(locations[0]) HTTP/1.1\r\n\r\n")
            #expect(client.response()?.status == 404)
            client.send("GET /v1/jobs?status=lost HTTP/1.1\r\n\r\n")
            #expect(client.response()?.status == 400)
        }
    }
}

extension ServiceTests {
    @Test func drawsOverlaysAndListsTheModels() throws {
        try withService { running in
            let client = try running.client()
            let location = try #require(try post(client, SharedData.exampleCT)?.headers["location"])
            #expect(waitForJob(client, location)["status"] as? String == "succeeded")
            client.send("GET \(location)/overlay.png?slice=80 HTTP/1.1\r\n\r\n")
            let overlay = try #require(client.response())
            #expect(overlay.status == 200)
            #expect(overlay.headers["content-type"] == "image/png")
            client.send("GET \(location)/overlay.png?slice=112 HTTP/1.1\r\n\r\n")
            #expect(client.response()?.status == 400)

            client.send("GET \(location)/view HTTP/1.1\r\n\r\n")
            let page = try #require(client.response())
            #expect(page.headers["content-type"] == "text/html; charset=utf-8")
            // The viewer's grid: the RAS example in canonical order (x left, y posterior, z up).
            #expect(page.body.contains(#""size":[122,101,112]"#))
            #expect(page.body.contains(#""spacing":[3,3,3]"#))

            client.send("GET /v1/models HTTP/1.1\r\n\r\n")
            let listing = try #require(client.response())
            let models = try #require(json(listing.body)["models"] as? [[String: Any]])
            #expect(models.count == 1)
            #expect(((models.first?["manifest"] as? [String: Any])?["architecture"] as? [String: Any])?["encoder"] as? String == "resnet18")
        }
    }
}

extension ServiceTests {
    @Test func exposesPrometheusMetrics() throws {
        try withService { running in
            let client = try running.client()
            let location = try #require(try post(client, SharedData.pancreasSlice)?.headers["location"])
            #expect(waitForJob(client, location)["status"] as? String == "succeeded")
            client.send("GET /v1/jobs/nope HTTP/1.1\r\n\r\n")
            _ = client.response()
            client.send("GET /metrics HTTP/1.1\r\n\r\n")
            let exposition = try #require(client.response())
            #expect(exposition.headers["content-type"] == "text/plain; version=0.0.4")
            let text = exposition.body
            #expect(text.contains(#"kidneyseg_http_requests_total{route="/v1/jobs",status="202"} 1"#))
            #expect(text.contains(#"kidneyseg_http_requests_total{route="/v1/jobs/{id}",status="404"} 1"#))
            #expect(text.contains(#"kidneyseg_jobs{status="succeeded"} 1"#))
            #expect(text.contains("kidneyseg_queue_depth 0"))
            #expect(text.contains("kidneyseg_inference_seconds_count 1"))
            #expect(text.contains(#"kidneyseg_build_info{version="\#(kidneysegVersion)",openblas_kernels="\#(BLASKernels.current)"} 1"#))
        }
    }

    /// A client that hangs up mid-upload is a client error: 400 in the metrics, never 500, and
    /// its partial upload is gone.
    @Test func countsAnAbandonedUploadAsAClientError() throws {
        try withService { running in
            do {
                let quitter = try running.client()
                quitter.send("POST /v1/jobs HTTP/1.1\r\nContent-Length: 100000\r\n\r\n")
                quitter.send([UInt8](repeating: 7, count: 1000))
            }  // closed here, 99,000 bytes short
            let client = try running.client()
            var text = ""
            for _ in 0..<100 where !text.contains(#"route="/v1/jobs",status="400"} 1"#) {
                Thread.sleep(forTimeInterval: 0.05)
                client.send("GET /metrics HTTP/1.1\r\n\r\n")
                text = client.response()?.body ?? ""
            }
            #expect(text.contains(#"kidneyseg_http_requests_total{route="/v1/jobs",status="400"} 1"#))
            #expect(!text.contains(#"status="500""#))
            let incoming = scratch.url.appendingPathComponent("data/incoming")
            #expect(try FileManager.default.contentsOfDirectory(atPath: incoming.path).isEmpty)
        }
    }

    /// An empty image part is an empty body (400), not an unknown format (415).
    @Test func refusesAnEmptyImagePart() throws {
        try withService { running in
            let client = try running.client()
            let body = "--B\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\n\r\n--B--\r\n"
            client.send("POST /v1/jobs HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=B\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
            let refused = try #require(client.response())
            #expect(refused.status == 400)
            #expect((json(refused.body)["error"] as? [String: Any])?["code"] as? String == "empty_body")
        }
    }

    /// The request that once killed the server (an empty parameter in Content-Disposition) is
    /// an ordinary bad upload, and the server answers the next request.
    @Test func survivesAnEmptyDispositionParameter() throws {
        try withService { running in
            let client = try running.client()
            let body = "--B\r\nContent-Disposition: form-data; name=\"image\";\r\n\r\nxxx\r\n--B--\r\n"
            client.send("POST /v1/jobs HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=B\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
            #expect(client.response()?.status == 415)  // xxx is not an image
            client.send("GET /healthz HTTP/1.1\r\n\r\n")
            #expect(client.response()?.status == 200)
        }
    }
}
