import Foundation
import Imaging
import TestSupport
import Testing

/// The deployment files hold what operators rely on, and the PACS bridge drives a real job.
@Suite(.serialized) struct DeploymentTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let scratch = ScratchDirectory()

    static func text(_ path: String) throws -> String {
        try String(contentsOf: repository.appendingPathComponent(path), encoding: .utf8)
    }

    /// The Dockerfile's instructions, continuation lines joined, comments dropped.
    static func dockerInstructions() throws -> [(keyword: String, arguments: String)] {
        try text("Dockerfile").replacingOccurrences(of: "\\\n", with: " ").split(separator: "\n")
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
            .map { line in
                let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
                return (parts[0].uppercased(), parts.count > 1 ? parts[1] : "")
            }
    }

    @Test func theDockerfileBuildsWithSwiftAndRunsSlimAsAUser() throws {
        let instructions = try Self.dockerInstructions()
        let stages = instructions.filter { $0.keyword == "FROM" }.map(\.arguments)
        #expect(stages.count == 2 && stages[0].hasPrefix("swift:") && stages[1].hasPrefix("debian:") && stages[1].contains("-slim"))
        let runtime = instructions.drop { $0.keyword != "FROM" || !$0.arguments.hasPrefix("debian:") }
        let packages = runtime.filter { $0.keyword == "RUN" }.map(\.arguments).joined(separator: " ")
        for library in ["libopenblas0", "libnifti2", "libpng16", "libsqlite3", "libgdcm3.0", "libzip4"] { #expect(packages.contains(library), "\(library)") }
        #expect(!packages.contains("-dev"), "the runtime image installs development packages")
        let user = try #require(runtime.last { $0.keyword == "USER" }?.arguments)
        #expect(user != "root" && user != "0")
        let environment = runtime.filter { $0.keyword == "ENV" }.map(\.arguments).joined(separator: " ")
        #expect(environment.contains("KIDNEYSEG_DATA_DIR=/var/lib/kidneyseg") && environment.contains("KIDNEYSEG_PORT=8080"))
        #expect(runtime.contains { $0.keyword == "VOLUME" && $0.arguments.contains("/var/lib/kidneyseg") })
        #expect(runtime.contains { $0.keyword == "EXPOSE" && $0.arguments == "8080" })
        #expect(runtime.contains { $0.keyword == "HEALTHCHECK" && $0.arguments.contains("/healthz") && $0.arguments.contains("8080") })
        #expect(runtime.contains { $0.keyword == "COPY" && $0.arguments.hasPrefix("Models ") })
        #expect(instructions.contains { $0.keyword == "RUN" && $0.arguments.contains("kidneyseg_Service.resources") })
        #expect(runtime.last { $0.keyword == "CMD" }?.arguments.contains("\"serve\"") == true)
    }

    @Test func theSystemdUnitIsHardened() throws {
        let unit = try Self.text("Deploy/kidneyseg.service").split(separator: "\n").map(String.init)
        for setting in ["NoNewPrivileges=yes", "ProtectSystem=strict", "ReadWritePaths=/var/lib/kidneyseg", "User=kidneyseg", "KillSignal=SIGTERM"] {
            #expect(unit.contains(setting), "\(setting)")
        }
        #expect(unit.contains { $0.hasPrefix("ExecStart=/usr/local/bin/kidneyseg serve") })
    }

    @Test func theKubernetesManifestsProbeAndScrape() throws {
        let manifest = try Self.text("Deploy/kubernetes/kidneyseg.yaml")
        for needle in ["kind: StatefulSet", "kind: Service", "volumeClaimTemplates:", "mountPath: /var/lib/kidneyseg",
                       "livenessProbe:", "path: /healthz", "readinessProbe:", "path: /readyz", "prometheus.io/scrape: \"true\"",
                       "prometheus.io/path: /metrics", "requests:", "memory: 3Gi", "runAsNonRoot: true"] {
            #expect(manifest.contains(needle), "\(needle)")
        }
    }

    /// Runs the PACS bridge script with curl against the real service, twice: the second call
    /// returns the first call's job (its Idempotency-Key is the study's hash).
    @Test func thePACSBridgeDrivesARealJobToCompletion() throws {
        let models = scratch.url.appendingPathComponent("models")
        try RandomModels.write(.resnet18, seed: 4, into: models)
        let (server, port, _) = try CLI.startServer(models: models, data: scratch.url.appendingPathComponent("data"), logs: scratch.url)
        defer {
            server.terminate()
            server.waitUntilExit()
        }
        var jobs: [String] = []
        for run in 0..<2 {
            let output = scratch.url.appendingPathComponent("result-\(run)")
            let (status, printed) = try Self.bridge([SharedData.exampleCT.path, output.path], url: "http://127.0.0.1:\(port)",
                                                    environment: ["KIDNEYSEG_CASE_ID": "pacs 1"])
            #expect(status == 0, "\(printed)")
            let summary = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: output.appendingPathComponent("summary.json"))) as? [String: Any])
            #expect(summary["status"] as? String == "succeeded" && summary["case_id"] as? String == "pacs 1")
            jobs.append(summary["id"] as? String ?? "")
            let mask = try VolumeReader().readLabels(from: output.appendingPathComponent("mask.nii.gz"))
            #expect(mask.geometry == (try VolumeReader().readCT(from: SharedData.exampleCT)).geometry)
        }
        #expect(jobs[0] == jobs[1] && !jobs[0].isEmpty)
    }

    /// A folder of DICOM files goes as a zip, and its mask comes back named for what it is.
    @Test func thePACSBridgeSendsADICOMFolder() throws {
        let models = scratch.url.appendingPathComponent("models")
        try RandomModels.write(.resnet18, seed: 4, into: models)
        let (server, port, _) = try CLI.startServer(models: models, data: scratch.url.appendingPathComponent("data"), logs: scratch.url)
        defer {
            server.terminate()
            server.waitUntilExit()
        }
        let output = scratch.url.appendingPathComponent("dicom-result")
        let (status, printed) = try Self.bridge([SharedData.exampleDICOMSeries.path, output.path], url: "http://127.0.0.1:\(port)")
        #expect(status == 0, "\(printed)")
        let mask = try VolumeReader().readLabels(from: output.appendingPathComponent("mask.nii.gz"))
        // NIfTI stores the affine as float32: the same grid, to rounding.
        #expect(mask.geometry.gridMismatch(with: try VolumeReader().describe(SharedData.exampleDICOMSeries).geometry) == nil)
        let summary = try String(contentsOf: output.appendingPathComponent("summary.json"), encoding: .utf8)
        #expect(summary.contains(#""format":"DICOM""#))
    }

    /// A service that cannot be reached is exit status 5, with curl's own status printed.
    @Test func thePACSBridgeSaysWhenTheServiceIsUnreachable() throws {
        let (status, printed) = try Self.bridge([SharedData.exampleCT.path, scratch.url.appendingPathComponent("out").path], url: "http://127.0.0.1:9")
        #expect(status == 5)
        #expect(printed.contains("cannot reach kidneyseg at http://127.0.0.1:9 (curl exit status 7)"))
    }

    static func bridge(_ arguments: [String], url: String, environment: [String: String] = [:]) throws -> (Int32, String) {
        let bridge = Process()
        bridge.executableURL = URL(fileURLWithPath: "/bin/bash")
        bridge.arguments = [repository.appendingPathComponent("Deploy/pacs-bridge.sh").path] + arguments
        bridge.environment = ProcessInfo.processInfo.environment.merging(environment.merging(["KIDNEYSEG_URL": url]) { $1 }) { $1 }
        let log = Pipe()
        bridge.standardOutput = log
        bridge.standardError = log
        try bridge.run()
        let printed = String(decoding: log.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        bridge.waitUntilExit()
        return (bridge.terminationStatus, printed)
    }
}
