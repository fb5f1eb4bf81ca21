import Foundation
import Imaging
import SegmentationMetrics

/// The job store in one SQLite file, in WAL mode so readers never wait for the writer. One
/// connection serves the process, behind a lock.
public final class SQLiteJobStore: JobStore, @unchecked Sendable {
    private let database: SQLiteDatabase
    private let lock = NSLock()

    /// Each migration runs once, in order; PRAGMA user_version counts those applied.
    public static let migrations = [
        """
        CREATE TABLE jobs (
            id TEXT PRIMARY KEY,
            status TEXT NOT NULL,
            case_id TEXT,
            input_format TEXT NOT NULL,
            created_at REAL NOT NULL,
            started_at REAL,
            finished_at REAL,
            progress_done INTEGER NOT NULL DEFAULT 0,
            progress_total INTEGER NOT NULL DEFAULT 0,
            reason TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            options TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX jobs_by_status ON jobs (status, created_at, id);
        CREATE INDEX jobs_by_creation ON jobs (created_at, id);
        CREATE TABLE case_metrics (
            job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
            class TEXT NOT NULL,
            true_positives INTEGER NOT NULL,
            false_positives INTEGER NOT NULL,
            false_negatives INTEGER NOT NULL,
            voxel_ml REAL NOT NULL,
            dice REAL,
            recall REAL,
            precision REAL,
            iou REAL,
            predicted_ml REAL NOT NULL,
            reference_ml REAL NOT NULL,
            PRIMARY KEY (job_id, class)
        );
        CREATE TABLE idempotency_keys (
            key TEXT PRIMARY KEY,
            job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
            created_at REAL NOT NULL
        );
        """,
        // One row that readiness probes rewrite, to prove the database takes writes.
        "CREATE TABLE heartbeat (id INTEGER PRIMARY KEY CHECK (id = 1), at REAL NOT NULL);",
        // What the first request with a key sent, so that the key reused for another is caught.
        "ALTER TABLE idempotency_keys ADD COLUMN request_digest TEXT;",
    ]

    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    public init(path: String) throws {
        database = try SQLiteDatabase(path: path)
        try database.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
        let version = try database.query("PRAGMA user_version").first?.first?.integer ?? 0
        guard version <= Self.migrations.count else {
            throw StoreError(message: "the database has schema version \(version), newer than this build's \(Self.migrations.count)")
        }
        for (index, migration) in Self.migrations.enumerated().dropFirst(version) {
            try database.transaction {
                try database.execute(migration)
                try database.execute("PRAGMA user_version = \(index + 1)")
            }
        }
    }

    /// Writes a consistent copy of the live database to `destination` (which must not exist)
    /// with `VACUUM INTO`: it reads one snapshot, so writers carry on meanwhile, and the copy is
    /// compacted and ready to open. A second process can run it against the same file.
    public static func backup(databaseAt path: String, to destination: String) throws {
        guard FileManager.default.fileExists(atPath: path) else { throw StoreError(message: "no database at \(path)") }
        guard !FileManager.default.fileExists(atPath: destination) else { throw StoreError(message: "\(destination) exists already") }
        try SQLiteDatabase(path: path).query("VACUUM INTO ?", [.text(destination)])
    }

    public var schemaVersion: Int {
        (try? locked { try database.query("PRAGMA user_version").first?.first?.integer ?? 0 }) ?? 0
    }

    @discardableResult
    private func locked<T>(_ body: () throws -> T) throws -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    private static let columns = "id, status, case_id, input_format, created_at, started_at, finished_at, progress_done, progress_total, reason, attempts, options"

    public func submit(_ job: Job, idempotency: IdempotencyKey?) throws -> (job: Job, created: Bool) {
        try locked {
            try database.transaction {
                if let idempotency,
                   let row = try database.query("SELECT job_id, request_digest FROM idempotency_keys WHERE key = ?", [.text(idempotency.key)]).first,
                   let existing = row[0].text, let job = try fetch(existing) {
                    // Keys stored before digests were kept match any request.
                    if let digest = row[1].text, digest != idempotency.requestDigest { throw IdempotencyConflict(key: idempotency.key, job: existing) }
                    return (job, false)
                }
                try database.query("INSERT INTO jobs (\(Self.columns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", Self.values(of: job))
                if let idempotency {
                    try database.query("INSERT INTO idempotency_keys (key, job_id, created_at, request_digest) VALUES (?, ?, ?, ?)",
                                       [.text(idempotency.key), .text(job.id), SQLiteValue(job.createdAt), .text(idempotency.requestDigest)])
                }
                return (job, true)
            }
        }
    }

    public func job(_ id: String) throws -> Job? { try locked { try fetch(id) } }

    public func checkWritable(at now: Date) throws {
        try locked { try database.query("INSERT OR REPLACE INTO heartbeat (id, at) VALUES (1, ?)", [SQLiteValue(now)]) }
    }

    public func claimNext(at now: Date) throws -> Job? {
        try locked {
            try database.transaction {
                let rows = try database.query("SELECT \(Self.columns) FROM jobs WHERE status = 'queued' ORDER BY created_at, id LIMIT 1")
                guard let queued = try rows.first.map(Self.job(from:)) else { return nil }
                let started = try queued.applying(.start, at: now)
                try write(started)
                return started
            }
        }
    }

    public func transition(_ id: String, _ event: JobEvent, at now: Date) throws -> Job {
        try locked {
            try database.transaction {
                guard let job = try fetch(id) else { throw StoreError(message: "no job \(id)") }
                let next = try job.applying(event, at: now)
                try write(next)
                return next
            }
        }
    }

    public func jobs(status: Job.Status?, limit: Int, after: String?) throws -> [Job] {
        try locked {
            var conditions: [String] = []
            var values: [SQLiteValue] = []
            if let status {
                conditions.append("status = ?")
                values.append(.text(status.rawValue))
            }
            if let after, let cursor = try fetch(after) {
                conditions.append("(created_at, id) > (?, ?)")
                values += [SQLiteValue(cursor.createdAt), .text(cursor.id)]
            }
            let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            return try database.query("SELECT \(Self.columns) FROM jobs \(filter) ORDER BY created_at, id LIMIT ?", values + [.integer(limit)])
                .map(Self.job(from:))
        }
    }

    public func requeueInterrupted(maxAttempts: Int) throws -> [Job] {
        try locked {
            try database.transaction {
                let running = try database.query("SELECT \(Self.columns) FROM jobs WHERE status = 'running'").map(Self.job(from:))
                let requeued = try running.map { job in
                    guard job.attempts >= maxAttempts else { return try job.applying(.requeue, at: Date()) }
                    let reason = "the service stopped while running this job \(job.attempts) times (out of memory or a crash); it is not retried"
                    return try job.applying(.fail(reason: reason), at: Date())
                }
                for job in requeued { try write(job) }
                return requeued
            }
        }
    }

    public func count(status: Job.Status) throws -> Int {
        try locked { try database.query("SELECT COUNT(*) FROM jobs WHERE status = ?", [.text(status.rawValue)]).first?.first?.integer ?? 0 }
    }

    public func delete(_ id: String) throws {
        try locked { try database.query("DELETE FROM jobs WHERE id = ?", [.text(id)]) }
    }

    public func saveMetrics(_ metrics: [ClassMetrics], for id: String) throws {
        try locked {
            try database.transaction {
                try database.query("DELETE FROM case_metrics WHERE job_id = ?", [.text(id)])
                for row in metrics {
                    let voxels = row.truePositives + row.falseNegatives
                    let voxelMillilitres = voxels > 0 ? row.referenceMillilitres / Double(voxels)
                        : row.predictedMillilitres / Double(max(1, row.truePositives + row.falsePositives))
                    try database.query("""
                        INSERT INTO case_metrics (job_id, class, true_positives, false_positives, false_negatives, voxel_ml,
                                                  dice, recall, precision, iou, predicted_ml, reference_ml)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """, [.text(id), .text(row.label.name), .integer(row.truePositives), .integer(row.falsePositives),
                              .integer(row.falseNegatives), .real(voxelMillilitres), SQLiteValue(row.dice), SQLiteValue(row.recall),
                              SQLiteValue(row.precision), SQLiteValue(row.iou), .real(row.predictedMillilitres), .real(row.referenceMillilitres)])
                }
            }
        }
    }

    public func metrics(for id: String) throws -> [ClassMetrics] {
        try locked { try readMetrics(where: "job_id = ?", [.text(id)]).map(\.1) }
    }

    public func allCaseMetrics() throws -> [[ClassMetrics]] {
        try locked {
            let rows = try readMetrics(where: "1 = 1", [])
            var byJob: [String: [ClassMetrics]] = [:]
            var order: [String] = []
            for (job, metrics) in rows {
                if byJob[job] == nil { order.append(job) }
                byJob[job, default: []].append(metrics)
            }
            return order.map { byJob[$0]! }
        }
    }

    private func readMetrics(where condition: String, _ values: [SQLiteValue]) throws -> [(String, ClassMetrics)] {
        try database.query("""
            SELECT job_id, class, true_positives, false_positives, false_negatives, voxel_ml FROM case_metrics
            WHERE \(condition) ORDER BY job_id, class
            """, values).map { row in
            guard let job = row[0].text, let name = row[1].text, let label = SegmentationLabel.allCases.first(where: { $0.name == name }),
                  let tp = row[2].integer, let fp = row[3].integer, let fn = row[4].integer, let voxel = row[5].real else {
                throw StoreError(message: "a case_metrics row is malformed")
            }
            return (job, ClassMetrics(label: label, truePositives: tp, falsePositives: fp, falseNegatives: fn, voxelMillilitres: voxel))
        }
    }

    private func fetch(_ id: String) throws -> Job? {
        try database.query("SELECT \(Self.columns) FROM jobs WHERE id = ?", [.text(id)]).first.map(Self.job(from:))
    }

    private func write(_ job: Job) throws {
        try database.query("""
            UPDATE jobs SET status = ?, case_id = ?, input_format = ?, created_at = ?, started_at = ?, finished_at = ?,
                            progress_done = ?, progress_total = ?, reason = ?, attempts = ?, options = ?
            WHERE id = ?
            """, Array(Self.values(of: job).dropFirst()) + [.text(job.id)])
    }

    private static func values(of job: Job) -> [SQLiteValue] {
        [.text(job.id), .text(job.status.rawValue), SQLiteValue(job.caseID), .text(job.inputFormat), SQLiteValue(job.createdAt),
         SQLiteValue(job.startedAt), SQLiteValue(job.finishedAt), .integer(job.progressDone), .integer(job.progressTotal),
         SQLiteValue(job.reason), .integer(job.attempts), .text(job.options)]
    }

    private static func job(from row: [SQLiteValue]) throws -> Job {
        guard row.count == 12, let id = row[0].text, let status = row[1].text.flatMap(Job.Status.init(rawValue:)),
              let format = row[3].text, let created = row[4].real else {
            throw StoreError(message: "a jobs row is malformed")
        }
        var job = Job(id: id, caseID: row[2].text, inputFormat: format, createdAt: Date(timeIntervalSince1970: created),
                      options: row[11].text ?? "{}")
        job.status = status
        job.startedAt = row[5].real.map(Date.init(timeIntervalSince1970:))
        job.finishedAt = row[6].real.map(Date.init(timeIntervalSince1970:))
        job.progressDone = row[7].integer ?? 0
        job.progressTotal = row[8].integer ?? 0
        job.reason = row[9].text
        job.attempts = row[10].integer ?? 0
        return job
    }
}
