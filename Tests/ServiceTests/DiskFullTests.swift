import Foundation
import HTTP
import Imaging
import NeuralNet
import Service
import Store
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A real full disk: the service's data and database on a 16 MiB tmpfs, filled to the last
/// block. Mounting needs root, as CI and the development machine have.
@Suite(.serialized, .enabled(if: geteuid() == 0, "mounting a tmpfs needs root"))
struct DiskFullTests {
    let scratch = ScratchDirectory()

    func withServiceOnASmallDisk(_ body: (URL, RawClient) throws -> Void) throws {
        _ = TestLogging.toFile
        let disk = scratch.url.appendingPathComponent("disk")
        try FileManager.default.createDirectory(at: disk, withIntermediateDirectories: true)
        guard mount("tmpfs", disk.path, "tmpfs", 0, "size=16m") == 0 else {
            Issue.record("cannot mount a tmpfs: \(String(cString: strerror(errno)))")
            return
        }
        defer { umount2(disk.path, Int32(MNT_DETACH)) }
        let models = scratch.url.appendingPathComponent("models")
        try RandomModels.write(.resnet18, seed: 3, into: models)
        let store = try SQLiteJobStore(path: disk.appendingPathComponent("jobs.sqlite").path)
        let service = KidneySegService(configuration: ServiceConfiguration(), store: store,
                                       files: try JobFiles(dataDirectory: disk.appendingPathComponent("data")),
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
        try body(disk, try RawClient(port: server.port))
    }

    /// Writes zeros into `disk/filler` until the disk refuses more.
    func fill(_ disk: URL) -> URL {
        let filler = disk.appendingPathComponent("filler")
        let descriptor = open(filler.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let zeros = [UInt8](repeating: 0, count: 16 << 10)
        while zeros.withUnsafeBytes({ write(descriptor, $0.baseAddress, $0.count) }) > 0 {}
        close(descriptor)
        return filler
    }

    func submit(_ client: RawClient, _ file: URL) throws -> String {
        let bytes = try [UInt8](Data(contentsOf: file))
        client.send("POST /v1/jobs HTTP/1.1\r\nContent-Length: \(bytes.count)\r\n\r\n")
        client.send(bytes)
        return try #require(client.response()?.headers["location"])
    }

    func status(_ client: RawClient, _ location: String) -> (status: String?, reason: String?, done: Int, total: Int) {
        client.send("GET \(location) HTTP/1.1\r\n\r\n")
        let job = (try? JSONSerialization.jsonObject(with: Data((client.response()?.body ?? "").utf8))) as? [String: Any]
        let progress = job?["progress"] as? [String: Any]
        return (job?["status"] as? String, job?["reason"] as? String, progress?["done"] as? Int ?? 0, progress?["total"] as? Int ?? 0)
    }

    /// DELETE frees space on a full disk: it removes the job's files first, which makes the room
    /// SQLite needs. It answered 500 "database or disk is full" before.
    @Test func deletesAJobOnAFullDisk() throws {
        try withServiceOnASmallDisk { disk, client in
            let location = try submit(client, SharedData.pancreasSlice)
            for _ in 0..<300 where status(client, location).status != "succeeded" { Thread.sleep(forTimeInterval: 0.05) }
            #expect(status(client, location).status == "succeeded")
            _ = fill(disk)
            client.send("DELETE \(location) HTTP/1.1\r\n\r\n")
            let deleted = try #require(client.response())
            #expect(deleted.status == 204, "\(deleted.body)")
            client.send("GET \(location) HTTP/1.1\r\n\r\n")
            #expect(client.response()?.status == 404)
        }
    }

    /// A job whose end cannot be recorded (the disk filled while it ran) is not left "running":
    /// the worker retries, and the job is marked failed once there is room again.
    @Test func recordsAJobsFailureOnceTheDiskHasRoom() throws {
        // The example CT four times over, 448 slices: long enough to fill the disk while it runs.
        let ct = try VolumeReader().readCT(from: SharedData.exampleCT)
        var geometry = ct.geometry
        geometry.size.z *= 4
        let long = scratch.url.appendingPathComponent("long.nii.gz")
        try NIfTIWriter.write(hounsfield: Volume(geometry: geometry, voxels: Array([[Float]](repeating: ct.voxels, count: 4).joined()), source: ct.source), to: long)
        try withServiceOnASmallDisk { disk, client in
            let location = try submit(client, long)
            // Fill the disk when most slices are done, so that the job ends soon after.
            var seen = status(client, location)
            for _ in 0..<3000 where seen.status == "queued" || (seen.status == "running" && seen.done * 10 < seen.total * 8) {
                Thread.sleep(forTimeInterval: 0.005)
                seen = status(client, location)
            }
            let filler = fill(disk)
            #expect(seen.status == "running")
            // The job ends meanwhile: its mask cannot be written, and the worker says so in the log.
            let id = String(location.split(separator: "/").last!)
            for _ in 0..<600 {
                let log = (try? String(contentsOf: TestLogging.file, encoding: .utf8)) ?? ""
                if log.contains("job \(id) failed") { break }
                Thread.sleep(forTimeInterval: 0.1)
            }
            try FileManager.default.removeItem(at: filler)
            var final = status(client, location)
            for _ in 0..<100 where final.status == "running" {
                Thread.sleep(forTimeInterval: 0.1)
                final = status(client, location)
            }
            #expect(final.status == "failed")
            #expect(final.reason?.contains("space") == true || final.reason?.contains("full") == true, "\(final.reason ?? "no reason")")
        }
    }
}
