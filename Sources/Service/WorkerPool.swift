import Foundation
import Imaging
import Logging
import Prometheus
import SegmentationMetrics
import NeuralNet
import Store

/// Workers that take queued jobs from the store and segment them. Each runs on its own thread
/// with `threads` compute threads, so workers × threads stays within the cores.
final class WorkerPool: @unchecked Sendable {
    private let count: Int
    private let threads: Int
    private let store: any JobStore
    private let files: JobFiles
    private let pipeline: SegmentationPipeline
    private let inferenceSeconds: ValueHistogram
    private let logger = Logger(label: "kidneyseg.worker")
    private let wakeUp = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var running = true
    /// Set when a drain's deadline passes: jobs still running stop and go back to the queue.
    private var abandoning = false
    private let busy = DispatchGroup()

    private let dicomReader: URL?

    init(count: Int, threads: Int, store: any JobStore, files: JobFiles, pipeline: SegmentationPipeline, inferenceSeconds: ValueHistogram,
         dicomReader: URL?) {
        self.inferenceSeconds = inferenceSeconds
        self.dicomReader = dicomReader
        self.count = count
        self.threads = threads
        self.store = store
        self.files = files
        self.pipeline = pipeline
    }

    func start() {
        for index in 0..<count {
            let thread = Thread { [self] in
                ComputeThreads.$threads.withValue(threads) { work() }
            }
            thread.name = "worker-\(index)"
            thread.start()
        }
    }

    /// A job was queued: one idle worker looks at once instead of at its next poll.
    func wake() { wakeUp.signal() }

    func stop() {
        lock.lock()
        running = false
        lock.unlock()
        for _ in 0..<count { wakeUp.signal() }
    }

    /// Stops taking jobs, lets running ones finish until `deadline`, then stops them and queues
    /// them again. Returns when every worker is idle.
    func drain(deadline: TimeInterval) {
        stop()
        if busy.wait(timeout: .now() + deadline) == .timedOut {
            lock.lock()
            abandoning = true
            lock.unlock()
            busy.wait()
        }
    }

    private var isRunning: Bool {
        lock.lock()
        defer { lock.unlock() }
        return running
    }

    private var isAbandoning: Bool {
        lock.lock()
        defer { lock.unlock() }
        return abandoning
    }

    private func work() {
        ComputeThreads.prepareCurrentThread()
        while true {
            busy.enter()
            guard isRunning, let job = try? store.claimNext(at: Date()) else {
                busy.leave()
                guard isRunning else { return }
                _ = wakeUp.wait(timeout: .now() + 0.5)
                continue
            }
            process(job)
            busy.leave()
        }
    }

    private func process(_ job: Job) {
        let started = Date()
        logger.info("job \(job.id) started (attempt \(job.attempts))")
        do {
            let reader = try JobOptions(of: job).reader(dicomReader: dicomReader)
            let summary = try files.readSummary(job.id)
            let input = files.folder(job.id).appendingPathComponent(summary.file)
            let ct = try reader.readCT(from: input)
            var lastSaved = Date.distantPast
            let result = try pipeline.segment(ct, progress: { done, total in
                guard Date().timeIntervalSince(lastSaved) > 0.5 || done == total else { return }
                lastSaved = Date()
                _ = try? self.store.transition(job.id, .progress(done: done, total: total), at: Date())
            }, isCancelled: { [store] in self.isAbandoning || (try? store.job(job.id))?.status == .cancelled })
            try writeLabelMap(result.labels, to: files.mask(job.id, format: ct.source.format))
            if ct.source.format == .dicom, summary.dicom?.segmentationRefusal == nil {
                // The SEG is a second form of the mask: without it the job still has its result.
                do {
                    try DICOMSegmentation.write(result.labels, seriesAt: input, options: reader.options, to: files.segmentation(job.id))
                } catch {
                    logger.error("job \(job.id): no DICOM SEG: \(error)")
                    try Data("\(error)".utf8).write(to: files.segmentationFailure(job.id))
                }
            }
            let (ctStack, labelStack) = (ct.axialStack(), result.labels.axialStack())
            try files.writeOverlays(ct: ctStack, labels: labelStack, for: job.id)
            try files.writeViewerLayers(ct: ctStack, labels: labelStack, geometry: ct.geometry, for: job.id)
            let results = JobResults(volumes: classVolumes(result.labels), sides: result.sides.sides, metrics: nil)
            try JSONEncoder.api.encode(results).write(to: files.result(job.id), options: .atomic)
            if summary.reference != nil { try Self.scoreAgainstReference(job: job.id, files: files, store: store) }
            try record(job.id, .succeed)
            inferenceSeconds.record(Date().timeIntervalSince(started))
            logger.info("job \(job.id) succeeded in \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
        } catch PipelineError.cancelled {
            logger.info("job \(job.id) stopped: \(isAbandoning ? "queued again by the drain" : "cancelled")")
            // Either the API cancelled it (already recorded) or a drain ran out of time.
            if isAbandoning { _ = try? store.transition(job.id, .requeue, at: Date()) }
        } catch is JobTransitionError {
            return  // cancelled while finishing: the cancellation stands
        } catch {
            logger.error("job \(job.id) failed: \(error)")
            try? record(job.id, .fail(reason: "\(error)"))
        }
    }

    /// Records how a job ended. While the store cannot write (a full disk, say) it retries, so
    /// that no job stays "running" once its worker is done with it; if the pool stops first,
    /// the job is still "running" and the next start queues it again.
    private func record(_ id: String, _ event: JobEvent) throws {
        var delay = 0.1
        while true {
            do {
                _ = try store.transition(id, event, at: Date())
                return
            } catch let error as JobTransitionError {
                throw error
            } catch {
                guard isRunning else { throw error }
                logger.error("job \(id): cannot record its end (\(error)); retrying in \(delay) s")
                Thread.sleep(forTimeInterval: delay)
                delay = min(delay * 2, 5)
            }
        }
    }
}

extension WorkerPool {
    /// Compares a finished job's mask with its reference, stores the per-class metrics, and adds
    /// them to the job's results.
    static func scoreAgainstReference(job id: String, files: JobFiles, store: any JobStore) throws {
        let summary = try files.readSummary(id)
        guard let referenceFile = summary.reference else { return }
        let reader = VolumeReader()
        let reference = try reader.readLabels(from: files.folder(id).appendingPathComponent(referenceFile))
        let mask = try reader.readLabels(from: files.folder(id).appendingPathComponent(summary.maskFile))
        let metrics = try evaluate(prediction: mask, reference: reference)
        try store.saveMetrics(metrics, for: id)
        try files.writeReferenceLayer(reference.axialStack(), for: id)
        var results = try JSONDecoder().decode(JobResults.self, from: Data(contentsOf: files.result(id)))
        results.metrics = metrics
        try JSONEncoder.api.encode(results).write(to: files.result(id), options: .atomic)
    }
}

/// Request options that affect decoding, stored with the job.
struct JobOptions: Codable {
    /// [lower, upper] HU of 8-bit PNG pixels 0 and 255.
    var huRange: [Float]?
    /// Millimetres per PNG pixel; the input summary's spacing_mm records the value used.
    var pixelSpacing: Double?
    /// The DICOM series to read, when the upload holds several.
    var seriesUID: String?

    init() {}

    /// The options stored with a job.
    init(of job: Job) throws { self = try JSONDecoder().decode(JobOptions.self, from: Data(job.options.utf8)) }

    /// How this job's files are decoded; DICOM by `dicomReader` in a child process, if set.
    func reader(dicomReader: URL?) -> VolumeReader {
        var options = DecodeOptions(png: pngMapping, pngPixelSpacing: pixelSpacing ?? DecodeOptions.defaultPNGPixelSpacing, dicomSeriesUID: seriesUID)
        options.dicomReader = dicomReader
        return VolumeReader(options: options)
    }

    var pngMapping: PNGHounsfieldMapping {
        guard let range = huRange, range.count == 2 else { return PNGHounsfieldMapping() }
        return PNGHounsfieldMapping(range8: range[0]...range[1])
    }

    enum CodingKeys: String, CodingKey {
        case huRange = "hu_range"
        case pixelSpacing = "pixel_spacing_mm"
        case seriesUID = "series_uid"
    }
}
