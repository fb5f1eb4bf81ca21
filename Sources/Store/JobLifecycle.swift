import Foundation

/// The job lifecycle as a pure state machine: queued → running → succeeded, failed or cancelled,
/// and running → queued again when a worker stops before finishing (a crash or a drain). Time
/// comes from the caller, so the machine is tested without a clock or a database.
public enum JobEvent: Equatable, Sendable {
    case start
    case progress(done: Int, total: Int)
    case succeed
    case fail(reason: String)
    case cancel(reason: String)
    case requeue
}

public struct JobTransitionError: Error, Equatable, Sendable, CustomStringConvertible {
    public var from: Job.Status
    public var event: JobEvent

    public init(from: Job.Status, event: JobEvent) {
        self.from = from
        self.event = event
    }

    public var description: String { "a \(from.rawValue) job cannot \(event.verb)" }
}

extension JobEvent {
    var verb: String {
        switch self {
        case .start: "start"
        case .progress: "report progress"
        case .succeed: "succeed"
        case .fail: "fail"
        case .cancel: "be cancelled"
        case .requeue: "be queued again"
        }
    }
}

extension Job {
    /// This job after `event` at time `now`, or an error when the event is not allowed in the
    /// job's status.
    public func applying(_ event: JobEvent, at now: Date) throws(JobTransitionError) -> Job {
        var next = self
        switch (status, event) {
        case (.queued, .start):
            next.status = .running
            next.startedAt = now
            next.attempts += 1
            next.progressDone = 0
        case let (.running, .progress(done, total)):
            next.progressDone = done
            next.progressTotal = total
        case (.running, .succeed):
            next.status = .succeeded
            next.finishedAt = now
            next.progressDone = next.progressTotal
        case let (.running, .fail(reason)):
            next.status = .failed
            next.finishedAt = now
            next.reason = reason
        case let (.queued, .cancel(reason)), let (.running, .cancel(reason)):
            next.status = .cancelled
            next.finishedAt = now
            next.reason = reason
        case (.running, .requeue):
            next.status = .queued
            next.startedAt = nil
            next.progressDone = 0
        default:
            throw JobTransitionError(from: status, event: event)
        }
        return next
    }
}
