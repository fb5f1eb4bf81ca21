import Imaging
import NeuralNet
import Prometheus
import Store

/// What /metrics reports, in Prometheus text format: requests by route and status, jobs by
/// status, queue depth, how long inference takes per job, and what runs it (the version and
/// OpenBLAS's kernels, see `BLASKernels`).
final class ServiceMetrics: Sendable {
    private let registry = PrometheusCollectorRegistry()
    let inferenceSeconds: ValueHistogram

    init() {
        inferenceSeconds = registry.makeValueHistogram(name: "kidneyseg_inference_seconds", buckets: [1, 2, 5, 10, 20, 30, 60, 120, 300, 600],
                                                       help: "Seconds from a job's start to its label map")
        registry.makeGauge(name: "kidneyseg_build_info", labels: [("version", kidneysegVersion), ("openblas_kernels", BLASKernels.current)],
                           help: "Always 1: the version, and the OpenBLAS kernels the engine runs").set(Double(1))
    }

    func countRequest(route: String, status: Int) {
        registry.makeCounter(name: "kidneyseg_http_requests_total", labels: [("route", route), ("status", "\(status)")],
                             help: "HTTP requests by route and status").increment()
    }

    /// The exposition, with the job gauges read from the store now.
    func exposition(store: any JobStore) throws -> [UInt8] {
        for status in Job.Status.allCases {
            registry.makeGauge(name: "kidneyseg_jobs", labels: [("status", status.rawValue)], help: "Jobs in the store by status")
                .set(Double(try store.count(status: status)))
        }
        registry.makeGauge(name: "kidneyseg_queue_depth", help: "Jobs waiting for a worker").set(Double(try store.count(status: .queued)))
        return registry.emitToBuffer()
    }
}
