import ArgumentParser
import Foundation
import NeuralNet
import Training

struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-train",
        abstract: "Time training steps (forward, backward, Adam update) of each model at its own input size; print a markdown table.",
        discussion: """
            Uses the architectures and input sizes of the model folders in --models; with no --models, the three seed \
            encoders at kidneyseg train's defaults. Each row warms up once, then repeats.
            """
    )

    @Option(name: .customLong("models"), help: ArgumentHelp("A folder of model folders.", valueName: "DIR"))
    var models: String?

    @Option(help: "Slices per step.")
    var batch = 8

    @Option(help: "Timed steps per row.")
    var repeats = 3

    func run() throws {
        ComputeThreads.configure()
        print("threads: \(ComputeThreads.threads), batch: \(batch), repeats: \(repeats), \(BLASKernels.report)\n")
        print("| model | size | ms/step | ms/slice | peak RSS |")
        print("|---|---:|---:|---:|---:|")
        for (name, architecture, size) in try architectures() {
            ComputeThreads.resetPeakResidentBytes()
            let trainer = Trainer(network: TrainableUNet(architecture: architecture, seed: 1), optimizer: Adam(learningRate: 1e-3),
                                  loss: SegmentationLoss(kind: .diceCrossEntropy))
            var generator = SeededGenerator(seed: 1)
            // As many channels as the model takes (a 2.5-D model takes its neighbours).
            let channels = architecture.inChannels
            let batch = TrainingBatch(
                images: Tensor(batch: self.batch, channels: channels, height: size, width: size,
                               data: (0..<(self.batch * channels * size * size)).map { _ in Float.random(in: 0..<1, using: &generator) }),
                labels: (0..<(self.batch * size * size)).map { _ in UInt8.random(in: 0...2, using: &generator) })
            trainer.train(on: batch)
            let milliseconds = (0..<repeats).map { _ in
                let start = DispatchTime.now().uptimeNanoseconds
                trainer.train(on: batch)
                return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
            }
            let mean = milliseconds.reduce(0, +) / Double(repeats)
            print("| \(name) | \(size) | \(String(format: "%.0f", mean)) | \(String(format: "%.0f", mean / Double(self.batch))) | "
                  + "\(String(format: "%.0f MB", Double(ComputeThreads.peakResidentBytes) / 1_048_576)) |")
        }
    }

    private func architectures() throws -> [(String, UNetArchitecture, Int)] {
        if let models {
            return try Ensemble(folder: URL(argument: models)).members.map { ($0.manifest.name, $0.manifest.architecture, $0.manifest.preprocessing.inputSize[0]) }
        }
        let defaults = TrainingConfiguration()
        return [EncoderName.resnet50, .vgg16bn, .inceptionV3].map { encoder in
            var configuration = defaults
            configuration.encoder = encoder
            return ("\(encoder.rawValue) width \(defaults.encoderWidth)", configuration.architecture, defaults.size)
        }
    }
}
