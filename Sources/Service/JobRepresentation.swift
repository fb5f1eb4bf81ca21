import Foundation
import Imaging
import SegmentationMetrics
import Store

/// What the API says about a job (GET /v1/jobs/{id}).
struct JobRepresentation: Encodable {
    struct Progress: Encodable {
        var done: Int
        var total: Int
    }

    var id: String
    var status: String
    var caseId: String?
    var createdAt: Date
    var startedAt: Date?
    var finishedAt: Date?
    var progress: Progress
    var reason: String?
    var input: InputSummary?
    var results: JobResults?
    var links: [String: String]

    init(_ job: Job, input: InputSummary?, results: JobResults?) {
        id = job.id
        status = job.status.rawValue
        caseId = job.caseID
        createdAt = job.createdAt
        startedAt = job.startedAt
        finishedAt = job.finishedAt
        progress = Progress(done: job.progressDone, total: job.progressTotal)
        reason = job.reason
        self.input = input
        self.results = results
        // The page exists at every stage: it waits for a queued or running job and shows a
        // failed one's reason.
        links = ["self": "/v1/jobs/\(job.id)", "view": "/v1/jobs/\(job.id)/view"]
        if job.status == .succeeded {
            links["mask"] = "/v1/jobs/\(job.id)/mask"
            links["overlay"] = "/v1/jobs/\(job.id)/overlay.png?slice={k}"
        }
    }

    enum CodingKeys: String, CodingKey {
        case id, status, progress, reason, input, results, links
        case caseId = "case_id"
        case createdAt = "created_at"
        case startedAt = "started_at"
        case finishedAt = "finished_at"
    }
}

/// The uploaded volume, as checked when it was accepted.
struct InputSummary: Codable, Equatable {
    /// The input's file name in the job's folder.
    var file: String
    /// The reference mask's file name, once one is attached.
    var reference: String?
    var format: String
    var dims: [Int]
    var spacingMillimetres: [Double]
    var orientation: String
    /// For an 8-bit PNG: the HU that pixels 0 and 255 were read as.
    var huRange: [Float]?
    /// For a 16-bit PNG: the offset subtracted from pixels to give HU.
    var huOffset: Float?
    /// For DICOM: the series read, and the files left out.
    var dicom: DICOMSeriesSummary?

    /// The volume's summary; for a PNG with how its pixels were read as HU, which the file does not say.
    init(_ volume: VolumeDescription, file: String, png: PNGHounsfieldMapping) {
        self.file = file
        format = volume.source.format.description
        let size = volume.geometry.size
        dims = [size.x, size.y, size.z]
        let spacing = volume.geometry.spacing
        spacingMillimetres = [spacing.x, spacing.y, spacing.z]
        orientation = volume.geometry.orientation.description
        switch (volume.source.format, volume.source.datatype) {
        case (.png, .uint8): huRange = [png.range8.lowerBound, png.range8.upperBound]
        case (.png, _): huOffset = png.offset16
        case (.nifti, _), (.dicom, _): break
        }
        dicom = volume.dicom
    }

    /// How many axial slices the volume has: the length of its superior-inferior axis.
    var axialSlices: Int {
        let axis = orientation.firstIndex { $0 == "S" || $0 == "I" }.map { orientation.distance(from: orientation.startIndex, to: $0) } ?? 2
        return dims[axis]
    }

    /// The mask's file name: `mask` with the input's extension (NIfTI for a DICOM input).
    var maskFile: String { format == ImageFormat.dicom.description ? "mask.nii.gz" : "mask" + file.dropFirst("input".count) }

    enum CodingKeys: String, CodingKey {
        case file, reference, format, dims, orientation
        case spacingMillimetres = "spacing_mm"
        case huRange = "hu_range"
        case huOffset = "hu_offset"
        case dicom
    }
}

/// What a finished job found.
struct JobResults: Codable, Equatable {
    var volumes: [ClassVolume]
    /// The right and the left kidney: kidney and tumour mL on each side.
    var sides: [KidneySides.Volumes]?
    var metrics: [ClassMetrics]?
}

extension JSONEncoder {
    static let api: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }()
}

extension JobFiles {
    func readSummary(_ id: String) throws -> InputSummary {
        try JSONDecoder().decode(InputSummary.self, from: Data(contentsOf: summary(id)))
    }

    func writeSummary(_ input: InputSummary, for id: String) throws {
        try JSONEncoder.api.encode(input).write(to: summary(id), options: .atomic)
    }
}
