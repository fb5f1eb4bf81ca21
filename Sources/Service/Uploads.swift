import Crypto
import Foundation
import HTTP
import Imaging
import Store

/// Uploads: a new job (`POST /v1/jobs`, a plain file or multipart with a reference), and a
/// reference attached later (`PUT /v1/jobs/{id}/reference`). Each file is streamed to disk,
/// checked from end to end, and only then placed in the job's folder.
extension KidneySegService {
    /// Uploads must say how long they are (Content-Length) or arrive chunked; a body without
    /// either would read as empty.
    func requireFraming(_ request: HTTPRequest) throws {
        guard request.head.value("Content-Length") != nil || request.head.value("Transfer-Encoding") != nil else {
            throw APIError(411, "length_required", "send the file with Content-Length or Transfer-Encoding: chunked")
        }
    }

    func submit(_ request: HTTPRequest) throws -> HTTPResponse {
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
        if let spacing = query["pixel_spacing"] {
            guard let millimetres = Double(spacing), millimetres > 0, millimetres <= 10 else {
                throw APIError(400, "invalid_pixel_spacing", "pixel_spacing must be millimetres per pixel, above 0 and at most 10")
            }
            options.pixelSpacing = millimetres
        }
        options.seriesUID = query["series_uid"]
        let uploads = try receiveUploads(request)
        var placed: String?
        defer { for upload in uploads.values { try? FileManager.default.removeItem(at: upload) } }
        do {
            let idempotency = try request.head.value("Idempotency-Key").map {
                IdempotencyKey(key: $0, requestDigest: try Self.digest(of: uploads, options: options, caseID: query["case_id"]))
            }
            guard let image = uploads["image"] else { throw APIError(400, "missing_image", "the multipart body has no image part") }
            let reader = options.reader(dicomReader: configuration.dicomReader)
            let volume = try describe(image, with: reader)
            let reference = try uploads["reference"].map { try validateReference($0, for: volume, reader: reader) }
            var job = Job(caseID: query["case_id"], inputFormat: volume.source.format.description, createdAt: Date(),
                          options: String(decoding: try JSONEncoder().encode(options), as: UTF8.self))
            let input = (try? image.resourceValues(forKeys: [.isDirectoryKey]).isDirectory) == true
                ? files.inputSeries(job.id) : files.input(job.id, format: volume.source.format)
            try files.place(image, at: input)
            placed = job.id
            var summary = InputSummary(volume, file: input.lastPathComponent, png: options.pngMapping)
            if let reference, let url = uploads["reference"] {
                let destination = files.reference(job.id, format: reference)
                try files.place(url, at: destination)
                summary.reference = destination.lastPathComponent
            }
            try files.writeSummary(summary, for: job.id)
            let outcome: (job: Job, created: Bool)
            do { outcome = try store.submit(job, idempotency: idempotency) } catch let conflict as IdempotencyConflict {
                throw APIError(422, "idempotency_key_reused", conflict.description)
            }
            if !outcome.created { files.delete(job.id) }
            job = outcome.job
            workers.wake()
            return try .json(202, representation(of: job), headers: [("Location", "/v1/jobs/\(job.id)")])
        } catch {
            if let placed { files.delete(placed) }
            throw error
        }
    }

    /// SHA-256 over what a submission asked for: its options, its case id, and each uploaded
    /// file's bytes by form field, so that a retry matches and another study does not.
    static func digest(of uploads: [String: URL], options: JobOptions, caseID: String?) throws -> String {
        var hash = SHA256()
        hash.update(data: try JSONEncoder.api.encode(options))
        hash.update(data: Data("case_id=\(caseID ?? "")".utf8))
        for (field, url) in uploads.sorted(by: { $0.key < $1.key }) {
            hash.update(data: Data("\n\(field)\n".utf8))
            // A gathered DICOM series: its parts in order.
            let isSeries = (try? url.resourceValues(forKeys: [.isDirectoryKey]).isDirectory) == true
            let members = isSeries ? try FileManager.default.contentsOfDirectory(at: url, includingPropertiesForKeys: nil).sorted { $0.path < $1.path } : [url]
            for member in members {
                guard let file = FileHandle(forReadingAtPath: member.path) else { throw APIError(500, "storage_error", "cannot read the upload back") }
                defer { try? file.close() }
                while let chunk = try file.read(upToCount: 1 << 20), !chunk.isEmpty { hash.update(data: chunk) }
            }
        }
        return hash.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// The uploaded files by form field: a plain body is the image; a multipart/form-data body
    /// has an `image` part and may have a `reference` part. Several `image` parts are the files
    /// of one DICOM series, gathered into a folder.
    func receiveUploads(_ request: HTTPRequest) throws -> [String: URL] {
        let limit = configuration.maxUploadMegabytes << 20
        guard let type = request.head.value("Content-Type"), type.lowercased().hasPrefix("multipart/") else {
            return ["image": try files.receive(limit: limit) { try request.readBody() }]
        }
        guard let boundary = MultipartParser.boundary(contentType: type) else {
            throw APIError(415, "unsupported_media_type", "multipart bodies must be multipart/form-data with a boundary")
        }
        var parser = MultipartParser(boundary: boundary)
        var received: [String: URL] = [:]
        var images: [URL] = []
        var current: (name: String, file: IncomingFile)?
        var total = 0
        do {
            while let piece = try request.readBody() {
                for event in try parser.feed(piece) {
                    switch event {
                    case let .partHead(name, _, _):
                        guard name == "image" || (name == "reference" && received[name] == nil) else {
                            throw APIError(400, "unexpected_part", "form field \(name) is not image or reference, or the reference appears twice")
                        }
                        guard images.count < DICOMSeries.maxFiles else { throw APIError(413, "body_too_large", "more than \(DICOMSeries.maxFiles) image parts") }
                        current = (name, try files.incoming())
                    case let .partBody(bytes):
                        total += bytes.count
                        guard total <= limit else { throw APIError(413, "body_too_large", "the upload is larger than \(limit) bytes") }
                        try current?.file.append(bytes, limit: limit)
                    case .partEnd:
                        if let part = current {
                            guard part.file.size > 0 else { throw APIError(400, "empty_body", "the \(part.name) part is empty: send a NIfTI, PNG or DICOM file") }
                            if part.name == "image" { images.append(try part.file.finish()) } else { received[part.name] = try part.file.finish() }
                        }
                        current = nil
                    case .end:
                        break
                    }
                }
            }
            guard parser.isFinished else { throw APIError(400, "incomplete_multipart", MultipartError.incomplete.description) }
            if images.count == 1 { received["image"] = images[0] }
            if images.count > 1 { received["image"] = try files.gather(images) }
        } catch {
            current?.file.discard()
            for url in Array(received.values) + images { try? FileManager.default.removeItem(at: url) }
            if let error = error as? MultipartError { throw APIError(400, "invalid_multipart", error.description) }
            throw error
        }
        return received
    }

    /// Checks an uploaded image from end to end without holding its voxels, so that a large
    /// upload costs the server little memory.
    func describe(_ url: URL, with reader: VolumeReader) throws -> VolumeDescription {
        do {
            return try reader.describe(url)
        } catch VolumeIOError.unrecognizedFormat {
            throw APIError(415, "unsupported_media_type", "the body is not a NIfTI (.nii, .nii.gz), PNG, DICOM file or zip of a DICOM series")
        } catch VolumeIOError.unsupportedTransferSyntax(let uid) {
            throw APIError(415, "unsupported_transfer_syntax", "the DICOM pixel data uses transfer syntax \(uid), which cannot be decompressed here")
        } catch {
            throw APIError(422, "invalid_image", "\(error)")
        }
    }

    /// Checks a reference mask: labels 0, 1 and 2 only, on the image's voxels (the same grid,
    /// spacing and place in the patient). Returns its format.
    func validateReference(_ url: URL, for image: VolumeDescription, reader: VolumeReader) throws -> ImageFormat {
        let labels: LabelMap
        do { labels = try reader.readLabels(from: url) } catch {
            throw APIError(422, "invalid_reference", "the reference is not a label map: \(error)")
        }
        if let bad = labels.voxels.first(where: { $0 > SegmentationLabel.tumour.rawValue }) {
            throw APIError(422, "invalid_reference", "the reference holds label \(bad); only 0, 1 and 2 are allowed")
        }
        if let mismatch = image.geometry.gridMismatch(with: labels.geometry) {
            throw APIError(422, "invalid_reference", "the reference does not lie on the image's voxels: \(mismatch)")
        }
        return labels.source.format
    }

    func attachReference(_ request: HTTPRequest, to id: String) throws -> HTTPResponse {
        let job = try existingJob(id)
        var summary = try files.readSummary(id)
        let upload = try files.receive(limit: configuration.maxUploadMegabytes << 20) { try request.readBody() }
        defer { try? FileManager.default.removeItem(at: upload) }
        let options = try JobOptions(of: job)
        let reader = options.reader(dicomReader: configuration.dicomReader)
        let image = try reader.describe(files.folder(id).appendingPathComponent(summary.file))
        let destination = files.reference(id, format: try validateReference(upload, for: image, reader: reader))
        let previous = summary.reference.map { files.folder(id).appendingPathComponent($0) }
        try files.place(upload, at: destination)
        if let previous, previous != destination { try? FileManager.default.removeItem(at: previous) }
        summary.reference = destination.lastPathComponent
        try files.writeSummary(summary, for: id)
        if job.status == .succeeded {
            do { try WorkerPool.scoreAgainstReference(job: id, files: files, store: store) } catch {
                // No metrics of an earlier reference stay beside this one.
                try? store.saveMetrics([], for: id)
                throw APIError(500, "storage_error", "the reference is stored but could not be scored: \(error)")
            }
        }
        return try .json(200, representation(of: job))
    }
}
