import ArgumentParser
import Foundation
import NeuralNet

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time each model and the ensemble on 256x256 slices; print a markdown table.",
        discussion: """
            Each row warms up once, then repeats; the best of the repeats is the figure least disturbed by a shared \
            machine. GFLOP/s counts 2 × the conv multiply-accumulates. Peak RSS is the \
            process's high-water mark during that row (reset between rows where Linux allows it). Page faults/slice counts \
            pages first touched during the timed runs: 0 means the forward pass reuses its memory.
            Example: kidneyseg bench --weights ../shared/fixtures/smp-unet/resnet50/weights.safetensors
            """
    )

    @OptionGroup var models: ModelOptions

    @Option(name: .customLong("weights"), help: "A full smp U-Net as safetensors whose metadata names its encoder (repeatable).")
    var weightFiles: [String] = []

    @Option(help: "Slice size in pixels.")
    var size = 256

    @Option(help: "Batch sizes, comma-separated.")
    var batches = "1,8"

    @Option(help: "Timed repetitions per row.")
    var repeats = 5

    @Option(help: "Compute threads (default: all cores).")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    @Flag(help: "After the table, time each operation of each model at the largest batch (the fastest of the repeats) and list where the time goes.")
    var profile = false

    func run() throws {
        ComputeThreads.configure()
        try ComputeThreads.$threads.withValue(threads) { try measureAll() }
    }

    private func measureAll() throws {
        let networks = try loadNetworks()
        let batchSizes = batches.split(separator: ",").compactMap { Int($0) }
        print("threads: \(threads), size: \(size)x\(size), repeats: \(repeats), \(BLASKernels.report)\n")
        print("| model | batch | ms/slice | best ms/slice | GFLOP/s | peak RSS | page faults/slice |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for batch in batchSizes {
            // Each model gets as many channels as it takes (a 2.5-D model takes its neighbours).
            let inputs = networks.map { input(batch: batch, channels: $0.1.architecture.inChannels) }
            for ((name, network), input) in zip(networks, inputs) {
                print(measure(name, batch: batch) { _ = network.logits(input) })
            }
            if networks.count > 1 {
                print(measure("ensemble (\(networks.count))", batch: batch) {
                    for ((_, network), input) in zip(networks, inputs) { _ = network.probabilities(input) }
                })
            }
        }
        if profile, let batch = batchSizes.max() {
            for (name, network) in networks { printProfile(name, network, batch: batch) }
        }
    }

    /// Each method's share of one pass, then the operations that take the most time.
    private func printProfile(_ name: String, _ network: UNet, batch: Int) {
        let input = Tensor(zeros: batch, channels: network.architecture.inChannels, height: size, width: size)
        _ = network.logits(input)
        // Each operation's fastest of the repeated passes: the machine is shared, and a pass
        // slowed by a neighbour should not decide where the time goes.
        var fastest: [String: LayerProfile.Entry] = [:]
        for _ in 0..<repeats {
            let profile = LayerProfile()
            LayerProfile.$current.withValue(profile) { _ = network.logits(input) }
            fastest.merge(profile.entries) { $0.seconds <= $1.seconds ? $0 : $1 }
        }
        let entries = fastest.values.sorted { $0.seconds > $1.seconds }
        let total = entries.reduce(0) { $0 + $1.seconds }
        func row(_ label: String, _ seconds: Double, _ calls: Int, _ work: Int) -> String {
            let gflops = work > 0 ? String(format: "%.0f", 2 * Double(work) / seconds / 1e9) : ""
            return "| \(label) | \(calls) | \(String(format: "%.2f", seconds * 1000 / Double(batch))) | \(String(format: "%.1f", 100 * seconds / total)) | \(gflops) |"
        }
        print("\n\(name), batch \(batch): \(String(format: "%.1f", total * 1000 / Double(batch))) ms/slice in the profiled operations\n")
        print("| method or operation | calls | ms/slice | % | GFLOP/s |")
        print("|---|---:|---:|---:|---:|")
        for (method, group) in Dictionary(grouping: entries, by: \.method).sorted(by: { $0.key < $1.key }) {
            print(row("**\(method)**", group.reduce(0) { $0 + $1.seconds }, group.reduce(0) { $0 + $1.calls },
                      group.reduce(0) { $0 + $1.multiplyAccumulates }))
        }
        for entry in entries.prefix(15) { print(row(entry.operation, entry.seconds, entry.calls, entry.multiplyAccumulates)) }
    }

    private func loadNetworks() throws -> [(String, UNet)] {
        if !weightFiles.isEmpty {
            return try weightFiles.map { path in
                let file = try SafeTensorsFile(contentsOf: URL(argument: path))
                guard let name = file.metadata["encoder"], let encoder = EncoderName(rawValue: name) else {
                    throw CommandError("\(path) does not name its encoder in its metadata; use --models with a manifest instead")
                }
                return (name, try UNet(architecture: UNetArchitecture(encoder: encoder), weights: file))
            }
        }
        return try models.ensemble().members.map { ($0.manifest.name, $0.network) }
    }

    /// Reproducible values in [0, 1).
    private func input(batch: Int, channels: Int) -> Tensor {
        var state: UInt32 = 1
        return Tensor(batch: batch, channels: channels, height: size, width: size, data: (0..<(batch * channels * size * size)).map { _ in
            state = state &* 1_664_525 &+ 1_013_904_223
            return Float(state >> 8) / Float(1 << 24)
        })
    }

    private func measure(_ name: String, batch: Int, _ body: () -> Void) -> String {
        ComputeThreads.resetPeakResidentBytes()
        let counter = WorkCounter()
        WorkCounter.$current.withValue(counter) { body() }  // warm-up, counting the work
        let faultsBefore = minorPageFaults()
        let milliseconds = (0..<repeats).map { _ in
            let start = DispatchTime.now().uptimeNanoseconds
            body()
            return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6 / Double(batch)
        }
        let faults = Double(minorPageFaults() - faultsBefore) / Double(repeats * batch)
        let mean = milliseconds.reduce(0, +) / Double(milliseconds.count)
        let sd = (milliseconds.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(max(1, milliseconds.count - 1))).squareRoot()
        let gflops = 2 * Double(counter.multiplyAccumulates) / Double(batch) / (mean / 1000) / 1e9
        let megabytes = Double(ComputeThreads.peakResidentBytes) / 1_048_576
        let best = String(format: "%.1f", milliseconds.min()!)
        return "| \(name) | \(batch) | \(String(format: "%.1f ± %.1f", mean, sd)) | \(best) | \(String(format: "%.0f", gflops)) | \(String(format: "%.0f MB", megabytes)) | \(String(format: "%.0f", faults)) |"
    }

    /// Pages this process has touched for the first time: in steady state, a forward pass that
    /// reuses its memory adds none.
    private func minorPageFaults() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_minflt
    }
}
