import Foundation

/// A segmentation job as the queue and the API see it.
public struct Job: Equatable, Sendable, Codable {
    public enum Status: String, Sendable, Codable, CaseIterable {
        case queued, running, succeeded, failed, cancelled

        public var isFinished: Bool { self == .succeeded || self == .failed || self == .cancelled }
    }

    /// Globally unique (a UUID), so that several replicas can share one queue.
    public var id: String
    public var status: Status
    /// The client's own name for the case, if it gave one.
    public var caseID: String?
    /// The decoder that recognised the upload ("NIfTI", "PNG").
    public var inputFormat: String
    public var createdAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
    /// Slice passes done out of the total, while running.
    public var progressDone: Int
    public var progressTotal: Int
    /// Why the job failed or was cancelled, for people.
    public var reason: String?
    /// How many times a worker has started it (more than one after a crash or a drain).
    public var attempts: Int
    /// Options of the request that affect decoding, as JSON (e.g. the HU range of 8-bit PNG).
    public var options: String

    public init(id: String = UUID().uuidString.lowercased(), caseID: String? = nil, inputFormat: String, createdAt: Date,
                options: String = "{}") {
        self.id = id
        status = .queued
        self.caseID = caseID
        self.inputFormat = inputFormat
        self.createdAt = createdAt
        progressDone = 0
        progressTotal = 0
        attempts = 0
        self.options = options
    }
}
