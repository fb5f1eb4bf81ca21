import Foundation

/// The three ways a DICOM series arrives (a folder, a zip, one file), read in this process or,
/// when `DecodeOptions.dicomReader` names an executable, in a child process.
///
/// GDCM, as Debian builds it, keeps its assertions: a hostile file can abort the process that
/// parses it (the fuzzer found one within seconds). The service therefore parses DICOM in a child
/// (`kidneyseg read-dicom`), which hands back a NIfTI and the series summary; a crash there is a
/// refused upload, not a stopped server.
public enum DICOMInput {
    /// The series in `url` with its summary, parsed in this process: what `read-dicom` runs.
    public static func read(_ url: URL, options: DecodeOptions) throws -> (volume: StoredVolume, summary: DICOMSeriesSummary) {
        try series(url, options: options) { (try $0.stored(), $0.summary) }
    }

    static func stored(_ url: URL, options: DecodeOptions) throws -> StoredVolume {
        if let executable = options.dicomReader { return try DICOMChild(executable: executable).read(url, options: options).volume }
        return try series(url, options: options) { try $0.stored() }
    }

    static func description(_ url: URL, options: DecodeOptions) throws -> VolumeDescription {
        if let executable = options.dicomReader {
            let (volume, summary) = try DICOMChild(executable: executable).read(url, options: options)
            var description = VolumeDescription(geometry: volume.volume.geometry, source: DICOMSeries.source)
            description.dicom = summary
            return description
        }
        return try series(url, options: options) { try $0.description() }
    }

    /// The series in `url`, in this process.
    static func series<T>(_ url: URL, options: DecodeOptions, _ body: (DICOMSeries) throws -> T) throws -> T {
        let uid = options.dicomSeriesUID
        if url.isDirectory { return try body(DICOMSeries(directory: url, seriesUID: uid, limits: options.limits)) }
        let prefix = [UInt8]((try? FileHandle(forReadingFrom: url).read(upToCount: 4)) ?? Data())
        if DICOMArchiveDecoder().recognizes(prefix: prefix) {
            return try DICOMArchiveDecoder.withUnpacked(url, limits: options.limits) {
                try body(DICOMSeries(directory: $0, seriesUID: uid, limits: options.limits))
            }
        }
        return try body(DICOMSeries(files: [url], seriesUID: uid, limits: options.limits))
    }
}

/// What `kidneyseg read-dicom` prints: the series it wrote, or why it could not.
public struct DICOMReaderReply: Codable, Sendable {
    public var summary: DICOMSeriesSummary?
    /// "unrecognized", "transfer_syntax", "archive" or "dicom".
    public var error: String?
    public var message: String?

    public init(summary: DICOMSeriesSummary) { self.summary = summary }

    public init(failure: any Error) {
        switch failure {
        case VolumeIOError.unrecognizedFormat: (error, message) = ("unrecognized", nil)
        case let VolumeIOError.unsupportedTransferSyntax(uid): (error, message) = ("transfer_syntax", uid)
        case let VolumeIOError.invalidArchive(reason): (error, message) = ("archive", reason)
        case let VolumeIOError.invalidDICOM(reason): (error, message) = ("dicom", reason)
        default: (error, message) = ("dicom", "\(failure)")
        }
    }

    /// The error the reply stands for.
    var failure: VolumeIOError {
        switch error {
        case "unrecognized": .unrecognizedFormat
        case "transfer_syntax": .unsupportedTransferSyntax(message ?? "")
        case "archive": .invalidArchive(message ?? "")
        default: .invalidDICOM(message ?? "the DICOM reader failed")
        }
    }
}

/// Runs `EXECUTABLE read-dicom INPUT --output OUT.nii` and reads what it wrote.
struct DICOMChild {
    let executable: URL
    static let timeout: TimeInterval = 600

    func read(_ url: URL, options: DecodeOptions) throws -> (volume: StoredVolume, summary: DICOMSeriesSummary) {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("kidneyseg-dicom-\(UUID().uuidString).nii")
        defer { try? FileManager.default.removeItem(at: output) }
        let process = Process()
        process.executableURL = executable
        process.arguments = ["read-dicom", url.path, "--output", output.path, "--max-voxels", "\(options.limits.maxVoxels)"]
            + (options.dicomSeriesUID.map { ["--series-uid", $0] } ?? [])
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        // A crash there is expected of hostile input: no backtrace, just the exit.
        process.environment = ProcessInfo.processInfo.environment.merging(["SWIFT_BACKTRACE": "enable=no"]) { $1 }
        let finished = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in finished.signal() }
        do { try process.run() } catch {
            throw VolumeIOError.invalidDICOM("cannot start the DICOM reader \(executable.path): \(error.localizedDescription)")
        }
        let printed = stdout.fileHandleForReading.readDataToEndOfFile()
        if finished.wait(timeout: .now() + Self.timeout) == .timedOut {
            process.terminate()
            throw VolumeIOError.invalidDICOM("the DICOM reader took longer than \(Int(Self.timeout)) s")
        }
        guard process.terminationReason == .exit, let reply = try? JSONDecoder().decode(DICOMReaderReply.self, from: printed) else {
            throw VolumeIOError.invalidDICOM("the DICOM reader stopped on this input (\(process.terminationReason == .uncaughtSignal ? "signal" : "status") \(process.terminationStatus)); it cannot be read safely")
        }
        guard let summary = reply.summary else { throw reply.failure }
        var stored = try NIfTIDecoder().decode(from: output, options: options)
        stored.volume.source = DICOMSeries.source
        return (stored, summary)
    }
}
