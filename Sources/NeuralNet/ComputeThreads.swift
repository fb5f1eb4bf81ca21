internal import CCompute
import COpenBLAS
import Foundation

/// How the engine uses the CPU. Convolutions split their work over `threads` threads of their
/// own, each calling a single-threaded OpenBLAS, so no BLAS pool spins beside them and
/// workers × threads stays within the cores.
public enum ComputeThreads {
    /// Threads per forward pass. A worker pool sets it per worker with `$threads.withValue`.
    @TaskLocal public static var threads = ProcessInfo.processInfo.activeProcessorCount

    /// Call once at start-up: OpenBLAS single-threaded, freed buffers kept for reuse, and
    /// flush-to-zero on this thread.
    public static func configure() {
        kseg_keep_freed_memory()
        openblas_set_num_threads(1)
        prepareCurrentThread()
    }

    /// Flush-to-zero and denormals-are-zero for this thread.
    public static func prepareCurrentThread() { kseg_enable_flush_to_zero() }

    public static var flushesDenormalsToZero: Bool { kseg_flush_to_zero_enabled() != 0 }

    /// This process's peak resident memory in bytes: Linux's VmHWM, which writing "5" to
    /// /proc/self/clear_refs resets, or getrusage's lifetime peak where /proc is missing.
    public static var peakResidentBytes: Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kilobytes = Int(line.split(separator: " ").dropFirst().first ?? "") else { return kseg_peak_resident_bytes() }
        return kilobytes * 1024
    }

    /// Resets the kernel's high-water mark of this process's RSS (Linux ≥ 4.0), so that
    /// `peakResidentBytes` measures from now.
    public static func resetPeakResidentBytes() {
        try? Data("5".utf8).write(to: URL(fileURLWithPath: "/proc/self/clear_refs"))
    }

    /// Runs `body` on contiguous chunks of 0..<count, one chunk per thread, each thread with
    /// flush-to-zero set.
    public static func parallelFor(_ count: Int, _ body: (Range<Int>) -> Void) {
        let chunks = min(threads, count)
        guard chunks > 1 else {
            prepareCurrentThread()
            body(0..<count)
            return
        }
        // The chunks are disjoint and concurrentPerform returns only when all are done, so the
        // non-Sendable closure is never used concurrently on overlapping data.
        withoutActuallyEscaping(body) { body in
            nonisolated(unsafe) let work = body
            DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                prepareCurrentThread()
                work((count * chunk / chunks)..<(count * (chunk + 1) / chunks))
            }
        }
    }
}

/// Counts the convolution multiply-accumulates of the forward passes run inside
/// `WorkCounter.$current.withValue(counter) { ... }`, for benchmarks' GFLOP/s.
public final class WorkCounter: @unchecked Sendable {
    @TaskLocal public static var current: WorkCounter?

    public private(set) var multiplyAccumulates = 0

    public init() {}

    func add(_ count: Int) { multiplyAccumulates += count }
}
