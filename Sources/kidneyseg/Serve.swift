import ArgumentParser
import Foundation
import HTTP
import NeuralNet
import Service
import Store

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the HTTP service: uploads queue in SQLite and a worker pool segments them.",
        discussion: "Settings come from the config file, then KIDNEYSEG_<KEY> environment variables, then these flags."
    )

    @Option(help: "The configuration file (default: Config/kidneyseg.json, if it exists).")
    var config: String?

    @Option(help: "Address to listen on.") var host: String?
    @Option(help: "Port to listen on.") var port: Int?
    @Option(name: .customLong("data-dir"), help: "Where the database and the jobs' files live.") var dataDirectory: String?
    @Option(name: .customLong("models"), help: "The folder of model folders.") var modelsDirectory: String?
    @Option(help: "Worker threads that segment.") var workers: Int?
    @Option(name: .customLong("threads-per-worker"), help: "Compute threads per worker (0: share the cores).") var threadsPerWorker: Int?
    @Option(name: .customLong("max-upload-mb"), help: "The largest upload, in MiB.") var maxUploadMegabytes: Int?
    @Option(name: .customLong("max-queued-jobs"), help: "Queued jobs beyond this get 429.") var maxQueuedJobs: Int?
    @Option(name: .customLong("max-attempts"), help: "Fail a job that was running when the service died this many times.") var maxAttempts: Int?
    @Option(name: .customLong("max-connections"), help: "Open connections at most.") var maxConnections: Int?
    @Option(name: .customLong("max-concurrent-uploads"), help: "Uploads received at once; more get 503.") var maxConcurrentUploads: Int?
    @Option(name: .customLong("open-health-endpoints"), help: "Whether /healthz, /readyz and /metrics answer without a token (true or false).")
    var openHealthEndpoints: String?
    @Option(name: .customLong("require-tokens"), help: "Refuse to start without tokens (true or false).") var requireTokens: String?
    @Option(name: .customLong("link-minutes"), help: "How long a signed link to a job's page stays valid.") var linkMinutes: Int?
    @Option(name: .customLong("drain-seconds"), help: "On SIGTERM, how long running jobs may finish before they are queued again.")
    var drainSeconds: Double = 30

    func run() throws {
        let numbers: [String: Int?] = [
            "port": port, "workers": workers, "threads_per_worker": threadsPerWorker, "max_upload_mb": maxUploadMegabytes,
            "max_queued_jobs": maxQueuedJobs, "max_attempts": maxAttempts, "max_connections": maxConnections,
            "max_concurrent_uploads": maxConcurrentUploads, "link_minutes": linkMinutes,
        ]
        let texts: [String: String?] = [
            "host": host, "data_dir": dataDirectory, "models_dir": modelsDirectory,
            "open_health_endpoints": openHealthEndpoints, "require_tokens": requireTokens,
        ]
        let flags = texts.compactMapValues { $0 }.merging(numbers.compactMapValues { $0.map(String.init) }) { $1 }
        let environment = ProcessInfo.processInfo.environment
        var settings = try ServiceConfiguration.load(file: URL(argument: config ?? "Config/kidneyseg.json"), required: config != nil,
                                                     environment: environment, flags: flags)
        // DICOM uploads are parsed by this same binary in a child process (`read-dicom`).
        settings.dicomReader = Bundle.main.executableURL
        for variable in ServiceConfiguration.unknownVariables(in: environment) {
            FileHandle.standardError.write(Data("kidneyseg: warning: \(variable) names no setting; the settings are \(ServiceConfiguration.keyNames.map(ServiceConfiguration.environmentVariable).joined(separator: ", "))\n".utf8))
        }
        let stopRequests = try StopSignals()
        ComputeThreads.configure()
        let ensemble = try Ensemble(folder: ModelOptions.locate(settings.modelsDirectory))
        let data = URL(argument: settings.dataDirectory)
        let files = try JobFiles(dataDirectory: data)
        let store = try SQLiteJobStore(path: settings.databaseFile.path)
        let service = KidneySegService(configuration: settings, store: store, files: files, ensemble: ensemble,
                                       cores: ProcessInfo.processInfo.activeProcessorCount)
        try service.start()
        let server = HTTPServer(configuration: HTTPServerConfiguration(host: settings.host, port: settings.port, maxConnections: settings.maxConnections,
                                                                       maxUploads: settings.maxConcurrentUploads,
                                                                       limits: HTTPParser.Limits(maxBodyBytes: settings.maxUploadMegabytes << 20)),
                                responder: service)
        try server.start()
        print("kidneyseg listening on http://\(settings.host):\(server.port) with \(ensemble.members.count) models, \(settings.workers) worker(s)")
        fflush(nil)  // stdout may be a file or a pipe: the start line must not wait in a buffer
        // SIGTERM and SIGINT drain: no new connections or jobs, running jobs finish or go back
        // to the queue, then exit 0.
        stopRequests.wait()
        server.stop()
        service.drain(deadline: drainSeconds)
        print("kidneyseg stopped: running jobs finished or queued again")
        fflush(nil)
        Foundation.exit(0)
    }
}

/// SIGTERM and SIGINT, turned into a byte on a pipe that the main thread waits on.
///
/// A handler that only writes to the pipe works whichever thread the kernel gives the signal to.
/// Signal sources of Dispatch did not: they need the signal blocked in every thread, and OpenBLAS
/// starts its threads before main runs, with the mask the parent gave; a signal delivered to one
/// of them was discarded as ignored, and serve now and then never stopped.
struct StopSignals {
    nonisolated(unsafe) static var pipeEnd: Int32 = -1
    private let readEnd: Int32

    init() throws {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { throw CommandError("cannot make the pipe for SIGTERM") }
        (readEnd, Self.pipeEnd) = (ends[0], ends[1])
        for number in [SIGTERM, SIGINT] {
            signal(number) { _ in
                var byte: UInt8 = 1
                _ = write(StopSignals.pipeEnd, &byte, 1)  // async-signal-safe
            }
        }
        // A parent may have blocked them (a child inherits the spawning thread's mask).
        var stopping = sigset_t()
        sigemptyset(&stopping)
        [SIGTERM, SIGINT].forEach { sigaddset(&stopping, $0) }
        pthread_sigmask(SIG_UNBLOCK, &stopping, nil)
    }

    /// Returns once SIGTERM or SIGINT has come, even if it came before this call.
    func wait() {
        var byte: UInt8 = 0
        while read(readEnd, &byte, 1) < 0 && errno == EINTR {}
    }
}
