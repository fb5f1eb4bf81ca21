import CSQLite
import Foundation
import Imaging
import SegmentationMetrics
import Store
import TestSupport
import Testing

/// The SQLite store on a real file.
@Suite struct SQLiteJobStoreTests {
    let scratch = ScratchDirectory()
    var path: String { scratch.url.appendingPathComponent("kidneyseg.sqlite").path }

    func job(_ id: String, at seconds: Double) -> Job {
        Job(id: id, caseID: "case-\(id)", inputFormat: "NIfTI", createdAt: Date(timeIntervalSince1970: seconds))
    }

    @Test func migratesAFreshFileAndReopensIt() throws {
        #expect(try SQLiteJobStore(path: path).schemaVersion == SQLiteJobStore.migrations.count)
        _ = try SQLiteJobStore(path: path).submit(job("a", at: 1), idempotency: nil)
        let reopened = try SQLiteJobStore(path: path)
        #expect(reopened.schemaVersion == 3)
        #expect(try reopened.job("a")?.caseID == "case-a")
    }

    @Test func upgradesAVersionOneFileKeepingItsJobs() throws {
        var handle: OpaquePointer?
        #expect(sqlite3_open(path, &handle) == SQLITE_OK)
        let version1 = SQLiteJobStore.migrations[0] + """
            INSERT INTO jobs (id, status, input_format, created_at) VALUES ('old', 'queued', 'PNG', 7);
            PRAGMA user_version = 1;
            """
        #expect(sqlite3_exec(handle, version1, nil, nil, nil) == SQLITE_OK)
        sqlite3_close(handle)

        let store = try SQLiteJobStore(path: path)
        #expect(store.schemaVersion == 3)
        #expect(try store.job("old")?.inputFormat == "PNG")
        try store.checkWritable(at: Date())
    }

    @Test func roundTripsEveryField() throws {
        let store = try SQLiteJobStore(path: path)
        var original = job("a", at: 1.5)
        original.options = #"{"hu_range":[0,255]}"#
        _ = try store.submit(original, idempotency: nil)
        #expect(try store.job("a") == original)
        let started = try #require(try store.claimNext(at: Date(timeIntervalSince1970: 2.25)))
        _ = try store.transition("a", .progress(done: 3, total: 9), at: Date())
        let failed = try store.transition("a", .fail(reason: "the voxel data ends early"), at: Date(timeIntervalSince1970: 3.5))
        let expected = try original.applying(.start, at: Date(timeIntervalSince1970: 2.25))
            .applying(.progress(done: 3, total: 9), at: Date())
            .applying(.fail(reason: "the voxel data ends early"), at: Date(timeIntervalSince1970: 3.5))
        #expect(started.status == .running)
        #expect(failed == expected)
        #expect(try store.job("a") == expected)
        #expect(try store.job("missing") == nil)
    }

    @Test func theSameIdempotencyKeyGivesTheSameJob() throws {
        let store = try SQLiteJobStore(path: path)
        let first = try store.submit(job("a", at: 1), idempotency: IdempotencyKey(key: "upload-42", requestDigest: "d1"))
        let retry = try store.submit(job("b", at: 2), idempotency: IdempotencyKey(key: "upload-42", requestDigest: "d1"))
        #expect(first.created && !retry.created)
        #expect(retry.job.id == "a")
        // The key reused for another request would hand back another study's job: refused.
        #expect(throws: IdempotencyConflict(key: "upload-42", job: "a")) {
            try store.submit(job("c", at: 3), idempotency: IdempotencyKey(key: "upload-42", requestDigest: "d2"))
        }
        #expect(try store.jobs(status: nil, limit: 10, after: nil).map(\.id) == ["a"])
    }

    @Test func claimsTheOldestQueuedJobOnce() throws {
        let store = try SQLiteJobStore(path: path)
        for (id, time) in [("late", 3.0), ("early", 1.0), ("middle", 2.0)] { _ = try store.submit(job(id, at: time), idempotency: nil) }
        let now = Date(timeIntervalSince1970: 10)
        #expect(try store.claimNext(at: now)?.id == "early")
        #expect(try store.claimNext(at: now)?.id == "middle")
        #expect(try store.claimNext(at: now)?.id == "late")
        #expect(try store.claimNext(at: now) == nil)
        #expect(try store.count(status: .running) == 3)
    }

    @Test func concurrentWorkersNeverClaimOneJobTwice() throws {
        let store = try SQLiteJobStore(path: path)
        for index in 0..<200 { _ = try store.submit(job("job-\(index)", at: Double(index)), idempotency: nil) }
        let claims = NSLock()
        nonisolated(unsafe) var claimed: [String] = []
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            while let next = try? store.claimNext(at: Date()) {
                claims.lock()
                claimed.append(next.id)
                claims.unlock()
            }
        }
        #expect(claimed.count == 200)
        #expect(Set(claimed).count == 200)
    }

    @Test func transitionsApplyToTheStoredStateAtomically() throws {
        let store = try SQLiteJobStore(path: path)
        _ = try store.submit(job("a", at: 1), idempotency: nil)
        _ = try store.claimNext(at: Date())
        #expect(try store.transition("a", .progress(done: 2, total: 4), at: Date()).progressDone == 2)
        _ = try store.transition("a", .cancel(reason: "cancelled by the client"), at: Date())
        // A worker finishing late cannot overwrite the cancellation.
        #expect(throws: JobTransitionError(from: .cancelled, event: .succeed)) { try store.transition("a", .succeed, at: Date()) }
        #expect(try store.job("a")?.status == .cancelled)
    }

    @Test func requeuesJobsLeftRunningByAStoppedProcess() throws {
        let store = try SQLiteJobStore(path: path)
        for index in 0..<3 { _ = try store.submit(job("\(index)", at: Double(index)), idempotency: nil) }
        _ = try store.claimNext(at: Date())
        _ = try store.claimNext(at: Date())
        let reopened = try SQLiteJobStore(path: path)  // as after a kill -9
        #expect(try reopened.requeueInterrupted(maxAttempts: 3).map(\.id).sorted() == ["0", "1"])
        #expect(try reopened.count(status: .queued) == 3)
        #expect(try reopened.claimNext(at: Date())?.attempts == 2)
    }

    /// A job that kills its worker (a decompression bomb, say) is started, dies, and is queued
    /// again at the next start, until its third death: then it fails, with the reason.
    @Test func failsAJobThatKeepsStoppingTheService() throws {
        _ = try SQLiteJobStore(path: path).submit(job("bomb", at: 1), idempotency: nil)
        for attempt in 1...3 {
            let restarted = try SQLiteJobStore(path: path)
            if attempt > 1 { #expect(try restarted.requeueInterrupted(maxAttempts: 3).first?.status == .queued) }
            #expect(try restarted.claimNext(at: Date())?.attempts == attempt)
        }
        let last = try SQLiteJobStore(path: path)
        let failed = try #require(try last.requeueInterrupted(maxAttempts: 3).first)
        #expect(failed.status == .failed && failed.reason?.contains("3 times") == true)
        #expect(try last.claimNext(at: Date()) == nil)
    }

    @Test func pagesThroughJobsInCreationOrder() throws {
        let store = try SQLiteJobStore(path: path)
        for index in 0..<5 { _ = try store.submit(job("\(index)", at: Double(index)), idempotency: nil) }
        _ = try store.claimNext(at: Date())
        #expect(try store.jobs(status: nil, limit: 2, after: nil).map(\.id) == ["0", "1"])
        #expect(try store.jobs(status: nil, limit: 2, after: "1").map(\.id) == ["2", "3"])
        #expect(try store.jobs(status: .queued, limit: 10, after: nil).map(\.id) == ["1", "2", "3", "4"])
        #expect(try store.jobs(status: .running, limit: 10, after: nil).map(\.id) == ["0"])
    }

    @Test func storesMetricsAndDeletesThemWithTheirJob() throws {
        let store = try SQLiteJobStore(path: path)
        for id in ["a", "b"] { _ = try store.submit(job(id, at: 1), idempotency: IdempotencyKey(key: "key-\(id)", requestDigest: "d")) }
        let a = evaluate(prediction: [1, 1, 2, 0], reference: [1, 0, 2, 2], voxelMillilitres: 0.5)
        let b = evaluate(prediction: [1, 1, 0, 0], reference: [1, 1, 0, 0], voxelMillilitres: 0.25)
        try store.saveMetrics(a, for: "a")
        try store.saveMetrics(b, for: "b")
        #expect(try store.metrics(for: "a") == a)
        #expect(try store.allCaseMetrics() == [a, b])
        #expect(summarize(try store.allCaseMetrics()).first?.dice?.mean == (a[0].dice! + b[0].dice!) / 2)
        try store.delete("a")
        #expect(try store.job("a") == nil)
        #expect(try store.metrics(for: "a").isEmpty)
        #expect(try store.submit(job("c", at: 2), idempotency: IdempotencyKey(key: "key-a", requestDigest: "e")).created)  // the key went with its job
    }

    @Test func refusesADatabaseFromANewerBuild() throws {
        _ = try SQLiteJobStore(path: path)
        var raw: OpaquePointer?
        #expect(sqlite3_open(path, &raw) == SQLITE_OK)
        #expect(sqlite3_exec(raw, "PRAGMA user_version = 99", nil, nil, nil) == SQLITE_OK)
        sqlite3_close(raw)
        #expect(throws: StoreError(message: "the database has schema version 99, newer than this build's \(SQLiteJobStore.migrations.count)")) {
            try SQLiteJobStore(path: path)
        }
    }
}

extension SQLiteJobStoreTests {
    /// A backup taken while another connection writes is a consistent snapshot: it opens, passes
    /// SQLite's integrity check, and holds some prefix of the writes, every row whole.
    @Test func backsUpALiveDatabaseWhileItIsWritten() throws {
        let store = try SQLiteJobStore(path: path)
        for index in 0..<50 { _ = try store.submit(job("before-\(index)", at: Double(index)), idempotency: nil) }
        let writing = DispatchGroup()
        nonisolated(unsafe) var written = 0
        DispatchQueue.global().async(group: writing) {
            for index in 0..<400 {
                _ = try? store.submit(self.job("during-\(index)", at: 100 + Double(index)), idempotency: IdempotencyKey(key: "key-\(index)", requestDigest: "d"))
                written += 1
            }
        }
        let copies = (0..<3).map { scratch.url.appendingPathComponent("backup-\($0).sqlite").path }
        for copy in copies {
            try SQLiteJobStore.backup(databaseAt: path, to: copy)
            Thread.sleep(forTimeInterval: 0.01)
        }
        writing.wait()
        #expect(written == 400)
        for copy in copies {
            var handle: OpaquePointer?
            #expect(sqlite3_open_v2(copy, &handle, SQLITE_OPEN_READONLY, nil) == SQLITE_OK)
            var statement: OpaquePointer?
            sqlite3_prepare_v2(handle, "PRAGMA integrity_check", -1, &statement, nil)
            #expect(sqlite3_step(statement) == SQLITE_ROW && String(cString: sqlite3_column_text(statement, 0)) == "ok")
            sqlite3_finalize(statement)
            sqlite3_close(handle)
            let backup = try SQLiteJobStore(path: copy)
            let jobs = try backup.jobs(status: nil, limit: 500, after: nil)
            #expect(jobs.count >= 50 && jobs.count <= 450)
            // A snapshot holds the first writes in order, and each job's idempotency key with it.
            #expect(jobs.map(\.id) == Array(((0..<50).map { "before-\($0)" } + (0..<400).map { "during-\($0)" }).prefix(jobs.count)))
        }
        #expect(throws: StoreError.self) { try SQLiteJobStore.backup(databaseAt: path, to: copies[0]) }
    }
}
