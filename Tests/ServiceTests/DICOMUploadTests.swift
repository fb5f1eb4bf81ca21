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
            // Its anonymiser blanked the Study and Series UIDs, so no SEG can refer to it.
            client.send("GET \(accepted.headers["location"]!)/mask?format=dicom-seg HTTP/1.1\r\n\r\n")
            let seg = try #require(client.response())
            #expect(seg.status == 406)
            #expect(seg.body.contains("this job's mask is available as nifti, not dicom-seg; the source series has no Study or Series Instance UID"), "\(seg.body)")
        }
    }

    /// A series with its UIDs: the mask is also DICOM SEG, by `?format=dicom-seg` or by Accept,
    /// valid to dciodvfy and, read back by pydicom, the NIfTI mask frame for frame.
    @Test(.enabled(if: SEGCheck.isAvailable, "dciodvfy or pydicom is not installed"))
    func servesTheMaskAsDICOMSEG() throws {
        try withService(shippedModels: true) { running in
            let series = try SEGCheck.exampleSeriesWithUIDs(in: scratch.url)
            let archive = scratch.url.appendingPathComponent("series.zip")
            try ZipFixture.write(archive, try FileManager.default.contentsOfDirectory(at: series, includingPropertiesForKeys: nil).map { ($0.lastPathComponent, $0) })
            let client = try running.client()
            let accepted = try #require(try post(client, archive, headers: "Content-Type: application/zip\r\n"))
            let location = try #require(accepted.headers["location"])
            let job = waitForJob(client, location)
            #expect(job["status"] as? String == "succeeded", "\(job)")
            let id = try #require(job["id"] as? String)
            let folder = scratch.url.appendingPathComponent("data/jobs/\(id)")
            let stored = folder.appendingPathComponent("mask.seg.dcm")
            let size = try #require(try FileManager.default.attributesOfItem(atPath: stored.path)[.size] as? Int)
            for request in ["\(location)/mask?format=dicom-seg HTTP/1.1\r\n", "\(location)/mask HTTP/1.1\r\nAccept: application/dicom\r\n"] {
                client.send("GET \(request)\r\n")
                let seg = try #require(client.response())
                #expect(seg.status == 200)
                #expect(seg.headers["content-type"] == "application/dicom")
                #expect(seg.headers["content-disposition"] == "attachment; filename=\"mask.seg.dcm\"")
                #expect(seg.headers["content-length"] == "\(size)")
            }
            #expect(try SEGCheck.validityErrors(stored) == [])
            let labels = try VolumeReader().readLabels(from: folder.appendingPathComponent("mask.nii.gz"))
            #expect(labels.voxels.contains(1))
            #expect(SEGCheck.mismatches(try SEGCheck.read(stored, source: series, scratch: scratch.url), labels: labels, segmentLabels: [1, 2]) == [])
            // Without Accept, or with a browser's, the NIfTI; a format the job does not have is 406.
            for (accept, status) in [("", 200), ("Accept: text/html, */*;q=0.8\r\n", 200), ("Accept: image/png\r\n", 406)] {
                client.send("GET \(location)/mask HTTP/1.1\r\n\(accept)\r\n")
                let answer = try #require(client.response())
                #expect(answer.status == status, "\(accept)")
                if status == 200 { #expect(answer.headers["content-type"] == "application/gzip") }
            }
            client.send("GET \(location)/mask?format=png HTTP/1.1\r\n\r\n")
            let png = try #require(client.response())
            #expect(png.status == 406)
            #expect(png.body.contains("this job's mask is available as nifti, dicom-seg, not png"))
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

    /// Each kind of bad DICOM gets its typed 4xx JSON error, and the service stays up.
    @Test(.enabled(if: SEGCheck.isAvailable, "pydicom is not installed"))
    func refusesBadDICOMWithATypedError() throws {
        let files = try ZipFixture.exampleSeriesFiles
        let first = try Data(contentsOf: files[0])
        let truncated = scratch.url.appendingPathComponent("truncated.dcm")
        try first.prefix(first.count / 2).write(to: truncated)
        let traversal = scratch.url.appendingPathComponent("traversal.zip")
        try ZipFixture.write(traversal, [("ok.dcm", files[0]), ("../escaped.dcm", files[1])])
        let gap = scratch.url.appendingPathComponent("gap.zip")
        try ZipFixture.write(gap, files.enumerated().filter { $0.offset != 7 }.map { ($0.element.lastPathComponent, $0.element) })
        let mpeg2 = try SEGCheck.exampleFile(claiming: "1.2.840.10008.1.2.4.100", at: scratch.url.appendingPathComponent("mpeg2.dcm"))
        // 1.1 GiB of zeros in a 1 MiB zip: past what the largest volume allowed can inflate to.
        let bomb = scratch.url.appendingPathComponent("bomb.zip")
        try ZipFixture.write(bomb, [("zeros.dcm", nil)], zeros: 1100 << 20)
        let cases: [(URL, Int, String, String)] = [
            (truncated, 422, "invalid_image", "unusable DICOM"),
            (traversal, 422, "invalid_image", "outside the archive"),
            (gap, 422, "invalid_image", "a slice is missing after the one at"),
            (mpeg2, 415, "unsupported_transfer_syntax", "transfer syntax 1.2.840.10008.1.2.4.100"),
            (bomb, 422, "invalid_image", "a zip bomb"),
        ]
        try withService { running in
            let client = try running.client()
            for (file, status, code, words) in cases {
                let refused = try #require(try post(client, file))
                #expect(refused.status == status, "\(file.lastPathComponent): \(refused.body)")
                let error = json(refused.body)["error"] as? [String: Any]
                #expect(error?["code"] as? String == code, "\(file.lastPathComponent)")
                #expect((error?["message"] as? String)?.contains(words) == true, "\(file.lastPathComponent): \(refused.body)")
            }
            client.send("GET /healthz HTTP/1.1\r\n\r\n")
            #expect(client.response()?.status == 200)
            client.send("GET /v1/jobs HTTP/1.1\r\n\r\n")
            #expect((json(client.response()?.body ?? "")["jobs"] as? [Any])?.isEmpty == true)  // none of them became a job
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
