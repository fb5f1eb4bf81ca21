import Foundation
import Store
import Testing

/// The lifecycle without a clock or a database: times are plain values.
@Suite struct JobLifecycleTests {
    let t0 = Date(timeIntervalSince1970: 1_000)
    let t1 = Date(timeIntervalSince1970: 1_060)
    let t2 = Date(timeIntervalSince1970: 1_120)

    var queued: Job { Job(id: "a", inputFormat: "NIfTI", createdAt: t0) }

    @Test func runsToSuccess() throws {
        let running = try queued.applying(.start, at: t1)
        #expect(running.status == .running && running.startedAt == t1 && running.attempts == 1)
        let halfway = try running.applying(.progress(done: 50, total: 100), at: t1)
        #expect((halfway.progressDone, halfway.progressTotal) == (50, 100))
        let done = try halfway.applying(.succeed, at: t2)
        #expect(done.status == .succeeded && done.finishedAt == t2 && done.progressDone == 100)
        #expect(done.status.isFinished)
    }

    @Test func recordsWhyItFailedOrWasCancelled() throws {
        let failed = try queued.applying(.start, at: t1).applying(.fail(reason: "out of memory"), at: t2)
        #expect(failed.status == .failed && failed.reason == "out of memory" && failed.finishedAt == t2)
        let cancelled = try queued.applying(.cancel(reason: "cancelled by the client"), at: t1)
        #expect(cancelled.status == .cancelled && cancelled.reason == "cancelled by the client")
    }

    @Test func aRequeuedJobStartsAgainAndCountsItsAttempts() throws {
        let interrupted = try queued.applying(.start, at: t1).applying(.progress(done: 7, total: 9), at: t1)
        let requeued = try interrupted.applying(.requeue, at: t2)
        #expect(requeued.status == .queued && requeued.startedAt == nil && requeued.progressDone == 0)
        #expect(try requeued.applying(.start, at: t2).attempts == 2)
    }

    static let forbidden: [(Job.Status, JobEvent)] = [
        (.queued, .succeed), (.queued, .progress(done: 1, total: 2)), (.queued, .requeue), (.running, .start),
        (.succeeded, .start), (.succeeded, .cancel(reason: "x")), (.failed, .requeue), (.cancelled, .start),
    ]

    @Test(arguments: forbidden)
    func refusesTransitionsTheLifecycleDoesNotHave(status: Job.Status, event: JobEvent) {
        var job = queued
        job.status = status
        #expect(throws: JobTransitionError(from: status, event: event)) { try job.applying(event, at: t1) }
    }
}
