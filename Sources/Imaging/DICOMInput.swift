internal import CDICOM
import Foundation
#if canImport(Glibc)
import Glibc
#endif

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

/// The child process DICOM is parsed in: `read-dicom` (a series to NIfTI) and `write-seg`.
struct DICOMChild {
    let executable: URL
    static let timeout: TimeInterval = 600

    func read(_ url: URL, options: DecodeOptions) throws -> (volume: StoredVolume, summary: DICOMSeriesSummary) {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("kidneyseg-dicom-\(UUID().uuidString).nii")
        defer { try? FileManager.default.removeItem(at: output) }
        let summary = try reply(["read-dicom", url.path, "--output", output.path, "--max-voxels", "\(options.limits.maxVoxels)"], options: options) {
            "the DICOM reader stopped on this input (\($0)); it cannot be read safely"
        }
        var stored = try NIfTIDecoder().decode(from: output, options: options)
        stored.volume.source = DICOMSeries.source
        return (stored, summary)
    }

    /// Runs `EXECUTABLE COMMAND… [--series-uid UID]` (read-dicom or write-seg) and returns the
    /// series summary its reply gives, or throws the failure it names; a child that stops without
    /// a reply is `stopped(exit)`.
    func reply(_ command: [String], options: DecodeOptions, stopped: (Exit) -> String) throws -> DICOMSeriesSummary {
        let arguments = [executable.path] + command + (options.dicomSeriesUID.map { ["--series-uid", $0] } ?? [])
        // A crash there is expected of hostile input: no backtrace, just the exit.
        let environment = ProcessInfo.processInfo.environment.merging(["SWIFT_BACKTRACE": "enable=no"]) { $1 }.map { "\($0.key)=\($0.value)" }
        let (printed, exit) = try Self.run(arguments, environment: environment, timeout: Self.timeout)
        guard case .exited(0) = exit, let reply = try? JSONDecoder().decode(DICOMReaderReply.self, from: printed) else {
            throw VolumeIOError.invalidDICOM(stopped(exit))
        }
        guard let summary = reply.summary else { throw reply.failure }
        return summary
    }

    enum Exit: Equatable, CustomStringConvertible {
        case exited(Int32), signal(Int32), timedOut

        var description: String {
            switch self {
            case let .exited(status): "status \(status)"
            case let .signal(number): "signal \(number)"
            case .timedOut: "it took longer than \(Int(DICOMChild.timeout)) s"
            }
        }
    }

    /// Runs `arguments` (the executable first) with posix_spawn, reads its standard output to
    /// the end, and reaps it; past `timeout` it is killed.
    static func run(_ arguments: [String], environment: [String], timeout: TimeInterval) throws -> (Data, Exit) {
        var pipe: [Int32] = [-1, -1]
        // The child gets the write end as its standard output and closes every other descriptor.
        guard Glibc.pipe(&pipe) == 0 else { throw VolumeIOError.invalidDICOM("cannot start the DICOM reader: no pipe") }
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        let pid = kseg_spawn_reader(arguments[0], argv, envp, pipe[1])
        close(pipe[1])
        defer { close(pipe[0]) }
        guard pid > 0 else { throw VolumeIOError.invalidDICOM("cannot start the DICOM reader \(arguments[0])") }
        let deadline = Date().addingTimeInterval(timeout)
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        var timedOut = false
        while true {
            let remaining = deadline.timeIntervalSinceNow
            guard remaining > 0 else {
                timedOut = true
                kill(pid, SIGKILL)
                break
            }
            var poller = pollfd(fd: pipe[0], events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(min(remaining * 1000, 60_000)) + 1)
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { continue }
            let count = Glibc.read(pipe[0], &buffer, buffer.count)
            if count > 0 {
                data.append(contentsOf: buffer[0..<count])
            } else if count < 0 && errno == EINTR {
                continue
            } else {
                break  // end of file: the child has closed its output
            }
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        if timedOut { return (data, .timedOut) }
        // The wait status, decoded as WIFEXITED and WTERMSIG do.
        return (data, status & 0x7F == 0 ? .exited((status >> 8) & 0xFF) : .signal(status & 0x7F))
    }
}
