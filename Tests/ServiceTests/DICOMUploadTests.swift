import Foundation
import Imaging
import TestSupport
import Testing

/// DICOM through the API: a zip of a series, and one DICOM file.
extension ServiceTests {
    @Test func segmentsAZippedDICOMSeries() throws {
        try withService { running in
            let archive = scratch.url.appendingPathComponent("series.zip")
            try ZipFixture.write(archive, try ZipFixture.exampleSeriesFiles.map { ($0.lastPathComponent, $0) })
            let client = try running.client()
            let accepted = try #require(try post(client, archive, headers: "Content-Type: application/zip\r\n"))
            #expect(accepted.status == 202, "\(accepted.body)")
            let job = waitForJob(client, try #require(accepted.headers["location"]))
            #expect(job["status"] as? String == "succeeded", "\(job)")
            let input = try #require(job["input"] as? [String: Any])
            #expect(input["format"] as? String == "DICOM")
            #expect(input["dims"] as? [Int] == [512, 512, 20])
            #expect((input["dicom"] as? [String: Any])?["slices"] as? Int == 20)
            // The mask comes back as NIfTI on the series' grid.
            client.send("GET \(accepted.headers["location"]!)/mask HTTP/1.1\r\n\r\n")
            let mask = try #require(client.response())
            #expect(mask.status == 200)
            #expect(mask.headers["content-type"] == "application/gzip")
            #expect(mask.headers["content-disposition"] == "attachment; filename=\"mask.nii.gz\"")
        }
    }

    /// GDCM aborts on this file (an assertion the fuzzer found): the child reader stops, the
    /// upload gets 422, and the service carries on.
    @Test func survivesAFileThatCrashesTheDICOMLibrary() throws {
        try withService { running in
            let client = try running.client()
            let crash = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("Fuzz/corpus/dicom/crash-gdcm-assertion")
            let refused = try #require(try post(client, crash))
            #expect(refused.status == 422)
            #expect(refused.body.contains("the DICOM reader stopped on this input"))
            client.send("GET /healthz HTTP/1.1\r\n\r\n")
            #expect(client.response()?.status == 200)
        }
    }

    @Test func takesOneDICOMFileAndRefusesWhatIsNoImage() throws {
        try withService { running in
            let client = try running.client()
            let accepted = try #require(try post(client, SharedData.pancreasSliceDICOM))
            #expect(accepted.status == 202, "\(accepted.body)")
            let notes = scratch.url.appendingPathComponent("notes.zip")
            let text = scratch.url.appendingPathComponent("notes.txt")
            try Data("notes".utf8).write(to: text)
            try ZipFixture.write(notes, [("notes.txt", text)])
            let refused = try #require(try post(client, notes))
            #expect(refused.status == 415)
            #expect(refused.body.contains("DICOM"))
        }
    }
}

extension ServiceTests {
    /// A series sent as one multipart part per DICOM file, in any order.
    @Test func segmentsADICOMSeriesSentAsManyParts() throws {
        try withService { running in
            let parts = try ZipFixture.exampleSeriesFiles.reversed().map { (name: "image", file: $0) }
            let body = try multipart(parts)
            let client = try running.client()
            client.send("POST /v1/jobs HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=kidneyseg-test-boundary\r\nContent-Length: \(body.count)\r\n\r\n")
            client.send(body)
            let accepted = try #require(client.response())
            #expect(accepted.status == 202, "\(accepted.body)")
            let job = waitForJob(client, try #require(accepted.headers["location"]))
            #expect(job["status"] as? String == "succeeded", "\(job)")
            let input = try #require(job["input"] as? [String: Any])
            #expect(input["dims"] as? [Int] == [512, 512, 20])
            #expect(input["file"] as? String == "input-series")
            client.send("GET \(accepted.headers["location"]!)/mask HTTP/1.1\r\n\r\n")
            #expect(client.response()?.headers["content-disposition"] == "attachment; filename=\"mask.nii.gz\"")
        }
    }
}
