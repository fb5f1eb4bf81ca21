import Foundation
import SegmentationMetrics

/// Where jobs and per-case metrics live. SQLite is the embedded implementation; a PostgreSQL one
/// (claiming with `SELECT … FOR UPDATE SKIP LOCKED`) can share a queue between replicas.
public protocol JobStore: Sendable {
    /// Stores a new job. With an idempotency key already used for the same request, returns the
    /// job it made instead; for another request, throws `IdempotencyConflict`.
    func submit(_ job: Job, idempotency: IdempotencyKey?) throws -> (job: Job, created: Bool)
    func job(_ id: String) throws -> Job?
    /// Commits a small write, throwing if the store cannot take one (full disk, read-only file).
    func checkWritable(at now: Date) throws
    /// The oldest queued job, started (status running) atomically, so no two workers get it.
    func claimNext(at now: Date) throws -> Job?
    /// Applies a lifecycle event to the job as stored, atomically, so a worker's progress cannot
    /// overwrite a cancellation that landed meanwhile. Throws `JobTransitionError` when the job's
    /// current status does not allow the event.
    func transition(_ id: String, _ event: JobEvent, at now: Date) throws -> Job
    /// Jobs in creation order, optionally of one status, after the job with id `after`.
    func jobs(status: Job.Status?, limit: Int, after: String?) throws -> [Job]
    /// Queues again every job left running by a process that stopped, and returns them; a job
    /// that has already been started `maxAttempts` times is failed instead, as the likely cause.
    func requeueInterrupted(maxAttempts: Int) throws -> [Job]
    func count(status: Job.Status) throws -> Int
    /// Deletes a job with its metrics and idempotency keys.
    func delete(_ id: String) throws
    /// Replaces the metrics stored for a job.
    func saveMetrics(_ metrics: [ClassMetrics], for id: String) throws
    func metrics(for id: String) throws -> [ClassMetrics]
    /// Every job's metrics, one array per case.
    func allCaseMetrics() throws -> [[ClassMetrics]]
}

/// A client's `Idempotency-Key`, with a digest of the request it came with (its files and
/// options), as payment APIs keep one: a retry repeats the request, so a different digest means
/// the key was reused for another study.
public struct IdempotencyKey: Equatable, Sendable {
    public var key: String
    public var requestDigest: String

    public init(key: String, requestDigest: String) {
        self.key = key
        self.requestDigest = requestDigest
    }
}

public struct IdempotencyConflict: Error, Equatable, Sendable, CustomStringConvertible {
    public var key: String
    /// The job the key's first request made.
    public var job: String

    public init(key: String, job: String) {
        self.key = key
        self.job = job
    }

    public var description: String { "Idempotency-Key \(key) was used for another request (job \(job)); use a new key for a new study" }
}
