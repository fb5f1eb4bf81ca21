import Foundation
import Imaging
import TestSupport
import Testing

/// What an upload is checked for before it is stored: nothing that fails here reaches the job
/// folder or the queue.
extension ServiceTests {
    /// A 4 x 4 x 4 NIfTI with 0.8 x 0.8 x 2.5 mm voxels: int16 CT, or uint8 labels.
    func volume(_ name: String, labels: Bool = false, sform: [[Double]] = [[0.8, 0, 0, 0], [0, 0.8, 0, 0], [0, 0, 2.5, 0]],
                values: [Double]? = nil, datatype: Int16? = nil) throws -> URL {
        var fixture = NIfTIFixture()
        fixture.dims = [3, 4, 4, 4, 1, 1, 1, 1]
        fixture.datatype = datatype ?? (labels ? 2 : 4)
        fixture.sform = sform
        fixture.pixdim = [1] + (0..<3).map { axis in (sform[axis][axis] * sform[axis][axis]).squareRoot() }
        fixture.values = values ?? [Double](repeating: labels ? 0 : 40, count: 64)
        return try fixture.write(named: name, in: scratch.url)
    }

    func errorCode(_ body: String) -> String? { (json(body)["error"] as? [String: Any])?["code"] as? String }

    @Test func refusesVoxelsThatAreNotNumbersAtUpload() throws {
        try withService { running in
            let client = try running.client()
            let image = try volume("nan.nii", values: [Double](repeating: 40, count: 63) + [.nan], datatype: 16)
            let refused = try #require(try post(client, image))
            #expect(refused.status == 422)
            #expect(errorCode(refused.body) == "invalid_image")
            #expect(refused.body.contains("1 voxels are NaN or infinite"))
            #expect(try running.store.jobs(status: nil, limit: 10, after: nil).isEmpty)
        }
    }

    /// A reference on the image's dims but with other voxels, or placed elsewhere, is refused at
    /// upload, with the multipart body and with PUT, and nothing of it is stored.
    @Test func refusesAReferenceOffTheImagesVoxels() throws {
        try withService { running in
            running.service.stop()  // the job stays queued
            let client = try running.client()
            let image = try volume("image.nii")
            let coarser = try volume("coarser.nii", labels: true, sform: [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 3, 0]])
            let moved = try volume("moved.nii", labels: true, sform: [[0.8, 0, 0, 0], [0, 0.8, 0, 0], [0, 0, 2.5, 40]])
            let body = try multipart([("image", image), ("reference", coarser)])
            client.send("POST /v1/jobs HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=kidneyseg-test-boundary\r\nContent-Length: \(body.count)\r\n\r\n")
            client.send(body)
            let refused = try #require(client.response())
            #expect(refused.status == 422)
            #expect(errorCode(refused.body) == "invalid_reference")
            #expect(refused.body.contains("its voxels (1 x 1 x 3 mm) differ from the image's (0.8 x 0.8 x 2.5 mm)"))
            #expect(try running.store.jobs(status: nil, limit: 10, after: nil).isEmpty)

            let location = try #require(try post(client, image)?.headers["location"])
            let id = String(location.split(separator: "/").last!)
            for reference in [coarser, moved] {
                let bytes = try [UInt8](Data(contentsOf: reference))
                client.send("PUT \(location)/reference HTTP/1.1\r\nContent-Length: \(bytes.count)\r\n\r\n")
                client.send(bytes)
                let answer = try #require(client.response())
                #expect(answer.status == 422)
                #expect(errorCode(answer.body) == "invalid_reference")
                let folder = scratch.url.appendingPathComponent("data/jobs/\(id)")
                #expect(try !FileManager.default.contentsOfDirectory(atPath: folder.path).contains { $0.hasPrefix("reference") })
            }
            let matching = try [UInt8](Data(contentsOf: try volume("matching.nii", labels: true)))
            client.send("PUT \(location)/reference HTTP/1.1\r\nContent-Length: \(matching.count)\r\n\r\n")
            client.send(matching)
            #expect(client.response()?.status == 200)
        }
    }
}
