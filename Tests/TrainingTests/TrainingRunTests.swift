import Foundation
import Imaging
import NeuralNet
import TestSupport
import Testing
import Training

@Suite struct TrainingRunTests {
    let scratch = ScratchDirectory()

    /// A PNG-layout folder: four patients, three 48x48 slices each, a bright disk labelled kidney.
    func writePNGFolder() throws -> URL {
        let root = scratch.url.appendingPathComponent("pngs")
        for folder in ["images", "labels"] {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(folder), withIntermediateDirectories: true)
        }
        for patient in 1...4 {
            for slice in 0..<3 {
                let (cx, cy, radius) = (Float(12 + 6 * slice), Float(14 + 5 * patient), Float(7 + patient))
                let labels = (0..<(48 * 48)).map { index -> UInt8 in
                    let (x, y) = (Float(index % 48), Float(index / 48))
                    return (x - cx) * (x - cx) + (y - cy) * (y - cy) < radius * radius ? 1 : 0
                }
                let name = "\(patient)_\(slice).png"
                try PNGCodec.encode(grey: Plane(width: 48, height: 48, values: labels.map { $0 == 1 ? 180 : 40 }))
                    .write(to: root.appendingPathComponent("images/\(name)"))
                try PNGCodec.encode(grey: Plane(width: 48, height: 48, values: labels)).write(to: root.appendingPathComponent("labels/\(name)"))
            }
        }
        return root
    }

    func configuration() throws -> TrainingConfiguration {
        var configuration = TrainingConfiguration()
        configuration.data = [try writePNGFolder().path]
        configuration.encoder = .resnet18
        configuration.encoderWidth = 0.125
        configuration.decoderChannels = [16, 8, 8, 8, 8]
        configuration.size = 32
        configuration.pngHuRange = [0, 255]
        configuration.epochs = 2
        configuration.stepsPerEpoch = 3
        configuration.batchSize = 4
        configuration.validationFraction = 0.25
        configuration.seed = 7
        return configuration
    }

    func train(_ configuration: TrainingConfiguration, into name: String, resume: Bool = false, epochLimit: Int? = nil) throws -> URL {
        let output = scratch.url.appendingPathComponent(name)
        try TrainingRun(configuration: configuration, output: output) { _ in }.run(resume: resume, epochLimit: epochLimit)
        return output
    }

    func weights(_ folder: URL) throws -> Data { try Data(contentsOf: folder.appendingPathComponent("weights.safetensors")) }

    @Test func aFixedSeedGivesTheSameWeights() throws {
        let configuration = try configuration()
        #expect(try weights(train(configuration, into: "a")) == weights(train(configuration, into: "b")))
        var other = configuration
        other.seed = 8
        #expect(try weights(train(configuration, into: "c")) != weights(train(other, into: "d")))
    }

    @Test(arguments: SliceSampling.allCases)
    func resumingContinuesAsAnUnbrokenRunWould(sampling: SliceSampling) throws {
        var configuration = try configuration()
        configuration.sampling = sampling
        let unbroken = try train(configuration, into: "unbroken")
        let broken = try train(configuration, into: "broken", epochLimit: 1)
        _ = try train(configuration, into: "broken", resume: true)
        #expect(try weights(broken) == weights(unbroken))
        let progress = try Checkpoint(folder: broken).progress()
        #expect(progress.epochsDone == 2 && progress.history.map(\.epoch) == [1, 2])
    }

    @Test func theCheckpointIsAModelFolderTheEngineLoads() throws {
        let folder = try train(try configuration(), into: "model")
        let model = try SegmentationModel(folder: folder)
        #expect(model.manifest.architecture == (try configuration()).architecture)
        #expect(model.manifest.preprocessing.inputSize == [32, 32])
        let probabilities = model.network.probabilities(Tensor(zeros: 1, channels: 1, height: 32, width: 32))
        #expect(probabilities.shape == [1, 3, 32, 32])
    }

    @Test func refusesToResumeWithoutACheckpoint() throws {
        #expect(throws: (any Error).self) { try train(try configuration(), into: "nothing", resume: true) }
    }
}
