import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Imaging
import TestSupport
import Testing

/// The PACS round trip with a real Orthanc (Debian's) on loopback: a CT series stored in Orthanc
/// goes, through Deploy/orthanc/kidneyseg.lua and the PACS bridge, to a real `kidneyseg serve`,
/// and its DICOM SEG comes back into the same study in Orthanc.
@Suite struct OrthancRoundTripTests {
    static let orthanc = "/usr/sbin/Orthanc"
    let scratch = ScratchDirectory()

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: orthanc) && SEGCheck.isAvailable, "Orthanc, dciodvfy or pydicom is not installed"))
    func aSeriesStoredInOrthancGetsItsSEGBackInTheSameStudy() throws {
        let repository = DeploymentTests.repository
        let (server, port, _) = try CLI.startServer(models: repository.appendingPathComponent("Models"),
                                                    data: scratch.url.appendingPathComponent("data"), logs: scratch.url)
        defer {
            server.terminate()
            server.waitUntilExit()
        }
        let results = scratch.url.appendingPathComponent("bridge")
        let pacs = try Orthanc.start(in: scratch.url.appendingPathComponent("orthanc"), environment: [
            "KIDNEYSEG_URL": "http://127.0.0.1:\(port)",
            "KIDNEYSEG_BRIDGE": repository.appendingPathComponent("Deploy/pacs-bridge.sh").path,
            "KIDNEYSEG_BRIDGE_RESULTS": results.path,
        ], luaScript: repository.appendingPathComponent("Deploy/orthanc/kidneyseg.lua"))
        defer { pacs.stop() }

        let series = try SEGCheck.exampleSeriesWithUIDs(in: scratch.url)
        for file in try FileManager.default.contentsOfDirectory(at: series, includingPropertiesForKeys: nil) {
            let (status, body) = try pacs.request("POST", "/instances", file: file)
            #expect(status == 200, "\(body)")
        }
        let studies = try #require(try pacs.json("/studies") as? [String])
        #expect(studies.count == 1)
        let study = try #require(studies.first)

        // Orthanc calls the series stable after 2 s; then the bridge segments it and stores the
        // SEG, and says so once Orthanc has answered.
        var segSeries: [String: Any]?
        var log = "no bridge log"
        for _ in 0..<240 where segSeries == nil || !log.contains("stored the SEG in Orthanc") {
            Thread.sleep(forTimeInterval: 0.5)
            let all = try pacs.json("/studies/\(study)/series?expand") as? [[String: Any]] ?? []
            segSeries = all.first { (($0["MainDicomTags"] as? [String: Any])?["Modality"] as? String) == "SEG" }
            log = (try? String(contentsOf: results.appendingPathComponent("bridge.log"), encoding: .utf8)) ?? log
        }
        let found = try #require(segSeries, "no SEG series in the study; the bridge said: \(log)")
        #expect(log.contains("stored the SEG in Orthanc"), "\(log)")
        #expect(try pacs.json("/studies") as? [String] == [study])  // the same study, no new one
        let instances = try #require(found["Instances"] as? [String])
        #expect(instances.count == 1)

        // What Orthanc holds is the bridge's SEG, valid, and frame for frame the mask.
        let stored = scratch.url.appendingPathComponent("from-orthanc.dcm")
        try pacs.download("/instances/\(instances[0])/file", to: stored)
        let seriesID = try #require(try FileManager.default.contentsOfDirectory(atPath: results.path).first { !$0.hasSuffix(".log") })
        let output = results.appendingPathComponent(seriesID)
        #expect(try Data(contentsOf: stored) == Data(contentsOf: output.appendingPathComponent("mask.seg.dcm")))
        #expect(try SEGCheck.validityErrors(stored) == [])
        let readBack = try SEGCheck.read(stored, source: series, scratch: scratch.url)
        let labels = try VolumeReader().readLabels(from: output.appendingPathComponent("mask.nii.gz"))
        #expect(SEGCheck.mismatches(readBack, labels: labels, segmentLabels: [1, 2]) == [])
        #expect(readBack.referenced_series.map(\.uid) == [readBack.source_series_instance_uid])
    }
}

/// A real Orthanc on free loopback ports, with its database in a scratch folder.
struct Orthanc {
    let process: Process
    let port: Int

    static func start(in folder: URL, environment: [String: String], luaScript: URL) throws -> Orthanc {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let (http, dicom) = (try freePort(), try freePort())
        let configuration: [String: Any] = [
            "Name": "kidneyseg-test", "StorageDirectory": folder.appendingPathComponent("storage").path,
            "IndexDirectory": folder.appendingPathComponent("storage").path, "HttpPort": http, "DicomPort": dicom,
            "RemoteAccessAllowed": false, "AuthenticationEnabled": false, "StableAge": 2,
            "LuaScripts": [luaScript.path], "Plugins": [String](),
        ]
        let file = folder.appendingPathComponent("orthanc.json")
        try JSONSerialization.data(withJSONObject: configuration).write(to: file)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: OrthancRoundTripTests.orthanc)
        process.arguments = [file.path]
        let orthancURL = "http://127.0.0.1:\(http)"
        process.environment = ProcessInfo.processInfo.environment.merging(environment.merging(["KIDNEYSEG_ORTHANC_URL": orthancURL]) { $1 }) { $1 }
        let log = folder.appendingPathComponent("orthanc.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: log)
        process.standardError = process.standardOutput
        try process.run()
        let orthanc = Orthanc(process: process, port: http)
        for _ in 0..<100 {
            if (try? orthanc.request("GET", "/system").status) == 200 { return orthanc }
            Thread.sleep(forTimeInterval: 0.1)
        }
        orthanc.stop()
        throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "Orthanc did not start: \((try? String(contentsOf: log, encoding: .utf8)) ?? "")"])
    }

    /// SIGKILL: a process started from a test's thread inherits that thread's blocked signals,
    /// SIGTERM among them, and its database is scratch anyway.
    func stop() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// A REST call with curl: the HTTP status and the body.
    func request(_ method: String, _ path: String, file: URL? = nil, saveTo output: URL? = nil) throws -> (status: Int, body: String) {
        let curl = Process()
        curl.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        curl.arguments = ["-sS", "-X", method, "-w", "\n%{http_code}", "http://127.0.0.1:\(port)\(path)"]
            + (file.map { ["--data-binary", "@\($0.path)", "-H", "Content-Type: application/dicom"] } ?? [])
            + (output.map { ["-o", $0.path] } ?? [])
        let pipe = Pipe()
        curl.standardOutput = pipe
        try curl.run()
        let printed = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        curl.waitUntilExit()
        let lines = printed.split(separator: "\n", omittingEmptySubsequences: false)
        return (Int(lines.last ?? "") ?? 0, lines.dropLast().joined(separator: "\n"))
    }

    func json(_ path: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(request("GET", path).body.utf8))
    }

    func download(_ path: String, to url: URL) throws {
        let (status, _) = try request("GET", path, saveTo: url)
        guard status == 200 else { throw CocoaError(.fileReadUnknown) }
    }

    /// A TCP port nothing listens on now.
    static func freePort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0 }
        }
        guard bound else { throw CocoaError(.fileWriteUnknown) }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
