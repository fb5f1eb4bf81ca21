import Foundation
import TestSupport
import Testing

/// The job page in a real browser: Debian's Chromium, driven by Playwright
/// (Tests/Scripts/viewer_check.py), opens a finished job's page by its signed link with tokens on.
enum Browser {
    static let chromium = "/usr/bin/chromium"
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Scripts/viewer_check.py")

    static func python(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3"] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }

    static let isAvailable: Bool = FileManager.default.isExecutableFile(atPath: chromium)
        && (try? python(["-c", "import playwright.sync_api"]).status) == 0

    /// Where the screenshot goes: $KIDNEYSEG_ARTIFACTS, else /tmp/kidneyseg-artifacts.
    static var artifacts: URL {
        URL(fileURLWithPath: ProcessInfo.processInfo.environment["KIDNEYSEG_ARTIFACTS"] ?? "/tmp/kidneyseg-artifacts")
    }
}

extension ServiceTests {
    @Test(.enabled(if: Browser.isAvailable, "chromium or Playwright is not installed"))
    func theJobPageWorksInARealBrowserThroughItsSignedLink() throws {
        try withService(tokens: ["secret"], shippedModels: true) { running in
            let client = try running.client()
            let body = try multipart([("image", SharedData.exampleCT), ("reference", SharedData.exampleKidneyReference)])
            client.send("POST /v1/jobs HTTP/1.1\r\nAuthorization: Bearer secret\r\nContent-Type: multipart/form-data; boundary=kidneyseg-test-boundary\r\nContent-Length: \(body.count)\r\n\r\n")
            client.send(body)
            let accepted = try #require(client.response())
            #expect(accepted.status == 202, "\(accepted.body)")
            let location = try #require(accepted.headers["location"])
            var job: [String: Any] = [:]
            for _ in 0..<600 {
                client.send("GET \(location) HTTP/1.1\r\nAuthorization: Bearer secret\r\n\r\n")
                job = json(client.response()?.body ?? "")
                if job["status"] as? String == "succeeded" || job["status"] as? String == "failed" { break }
                Thread.sleep(forTimeInterval: 0.1)
            }
            #expect(job["status"] as? String == "succeeded", "\(job)")
            let signed = try #require((job["links"] as? [String: String])?["view_signed"])
            // Without the signature a browser gets 401; the layers need it too.
            client.send("GET \(location)/view HTTP/1.1\r\n\r\n")
            #expect(client.response()?.status == 401)
            client.send("GET \(location)/view/ct HTTP/1.1\r\n\r\n")
            #expect(client.response()?.status == 401)

            try FileManager.default.createDirectory(at: Browser.artifacts, withIntermediateDirectories: true)
            let screenshot = Browser.artifacts.appendingPathComponent("viewer.png")
            let (status, output) = try Browser.python([Browser.script.path, "http://127.0.0.1:\(running.server.port)\(signed)", screenshot.path])
            print("viewer screenshot: \(screenshot.path)")
            #expect(status == 0, "\(output)")
            let report = json(output)
            #expect(report["error"] is NSNull, "\(output)")
            let views = try #require(report["views"] as? [String: [String: Any]])
            // Each view has CT and labels in it, and keeps the voxels' aspect (3 x 3 x 3 mm here).
            for name in ["axial", "coronal", "sagittal"] {
                let view = try #require(views[name])
                #expect((view["nonBlack"] as? Int ?? 0) > 1000, "\(name)")
                #expect((view["red"] as? Int ?? 0) > 0, "\(name): no kidney drawn")
                let (width, height) = (view["width"] as? Double ?? 0, view["height"] as? Double ?? 1)
                let (cssWidth, cssHeight) = (view["cssWidth"] as? Double ?? 0, view["cssHeight"] as? Double ?? 1)
                #expect(abs(cssWidth / cssHeight - width / height) < 0.02, "\(name)")
            }
            let before = try #require(report["scrolled_from"] as? [String: Any]), scrolled = try #require(report["scrolled"] as? [String: Any])
            #expect(Int(scrolled["slice"] as? String ?? "") == Int(before["slice"] as? String ?? "").map { $0 + 1 })
            #expect(scrolled["hash"] as? Int != before["hash"] as? Int)
            let bone = try #require(report["bone"] as? [String: Any])
            #expect(bone["hash"] as? Int != scrolled["hash"] as? Int)
            #expect(report["window"] as? String == "W 2000 L 500")
            let hidden = try #require(report["kidney_hidden"] as? [String: Any])
            #expect((bone["red"] as? Int ?? 0) > 0 && hidden["red"] as? Int == 0)
            let downloads = try #require(report["downloads"] as? [String: Int])
            #expect(downloads == ["mask (mask.nii.gz)": 200, "job JSON": 200])
            // The warning names what the shipped models were validated on, from their ensemble.json.
            let settings = try JSONSerialization.jsonObject(with: Data(contentsOf: ConfigurationDocumentationTests.repository.appendingPathComponent("Models/ensemble.json")))
            let validation = try #require((settings as? [String: Any])?["validation"] as? String)
            #expect((report["notice"] as? String)?.contains("not for diagnosis") == true)
            #expect((report["notice"] as? String)?.contains(validation) == true, "\(report["notice"] ?? "")")
        }
    }

    /// A job that has not finished gets a page that says so and refreshes itself: the last of
    /// three sent at once, behind one worker.
    @Test func thePageOfAWaitingJobRefreshesItself() throws {
        try withService { running in
            let client = try running.client()
            var location = ""
            for _ in 0..<3 { location = try #require(try post(client, SharedData.exampleCT)?.headers["location"]) }
            client.send("GET \(location)/view HTTP/1.1\r\n\r\n")
            let page = try #require(client.response())
            #expect(page.status == 200)
            #expect(page.body.contains("The job is queued") || page.body.contains("The job is running"), "\(page.body)")
            #expect(page.body.contains("This page refreshes itself.") && page.body.contains("<meta http-equiv=\"refresh\" content=\"2\">"))
        }
    }
}
