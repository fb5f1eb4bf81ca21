import Foundation
import NeuralNet

/// Model folders with seeded random weights, for testing the pipeline's plumbing. They segment
/// nothing real and are never shipped.
public enum RandomModels {
    /// Writes a compact model folder for `encoder` into `directory` and returns its URL.
    @discardableResult
    public static func write(_ encoder: EncoderName, inputSize: Int = 64, seed: UInt64, into directory: URL) throws -> URL {
        let architecture = UNetArchitecture(encoder: encoder, encoderWidth: 0.125, decoderChannels: [16, 8, 8, 8, 8])
        var state = seed
        let tensors = UNet.parameterShapes(of: architecture).map { name, shape -> SafeTensorsFile.Tensor32 in
            let values: [Float] = (0..<shape.reduce(1, *)).map { _ in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                let uniform = Float(state >> 40) / Float(1 << 24)
                return name.hasSuffix("running_var") ? 0.5 + uniform : (uniform - 0.5) * 0.5
            }
            return .init(name: name, shape: shape, values: values)
        }
        let folder = directory.appendingPathComponent("\(encoder.rawValue)-\(seed)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try SafeTensorsFile.encode(tensors, metadata: ["encoder": encoder.rawValue]).write(to: folder.appendingPathComponent("weights.safetensors"))
        let manifest = ModelManifest(name: "random-\(encoder.rawValue)", architecture: architecture,
                                     preprocessing: .init(inputSize: [inputSize, inputSize]))
        let encoderJSON = JSONEncoder()
        encoderJSON.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoderJSON.encode(manifest).write(to: folder.appendingPathComponent("manifest.json"))
        return folder
    }

    /// The three seed architectures, compact and random, in one ensemble folder.
    public static func writeEnsemble(into directory: URL) throws {
        try write(.resnet50, seed: 1, into: directory)
        try write(.vgg16bn, seed: 2, into: directory)
        try write(.inceptionV3, inputSize: 128, seed: 3, into: directory)
    }
}
