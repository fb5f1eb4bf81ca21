import Foundation
import Imaging
import NeuralNet

/// What a trainer outside Swift needs to continue kidneyseg's models on the same slices: the
/// slices prepared exactly as `kidneyseg train` prepares them, each model's graph, and each
/// model's logits on a few validation slices, so that the other trainer can first show that it
/// computes what the engine computes (`scripts/gpu/train.py` reads these).
///
/// The folder holds:
/// - `slices.json`: the input size, channels and HU window, and for `training` and `validation`
///   each slice's patient, set (data folder) and weight (as `SliceCache` gives them, mean 1 over the training set);
/// - `training.u8`, `validation.u8`: one fixed-size record per slice, the image's channels as
///   bytes (the [0, 1] model input × 255, rounded) and then its labels (0, 1, 2);
/// - `<model>/graph.json`: the architecture and its `UNetGraph`;
/// - `<model>/reference.f32`: the model's float32 logits (NCHW) on the validation slices that
///   `slices.json`'s `reference_slices` lists, read back from the bytes as the trainer reads them.
public enum TrainingExport {
    public static func write(configuration: TrainingConfiguration, models: [SegmentationModel], to folder: URL,
                             log: (String) -> Void) throws {
        let preprocessing = configuration.manifest.preprocessing
        for model in models where model.manifest.preprocessing != preprocessing {
            throw TrainingError.invalidSetting("model \(model.manifest.name) prepares its input differently from the configuration")
        }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let scratch = (folder.appendingPathComponent("training.tmp"), folder.appendingPathComponent("validation.tmp"))
        defer { for file in [scratch.0, scratch.1] { try? FileManager.default.removeItem(at: file) } }

        let training = try configuration.sliceCache(configuration.trainingCases(), file: scratch.0)
        try writeRecords(training, to: folder.appendingPathComponent("training.u8"))
        log("training: \(training.slices.count) slices of \(Set(training.slices.map(\.patient)).count) patients")
        let validation = try configuration.sliceCache(configuration.validationCases(), file: scratch.1)
        try writeRecords(validation, to: folder.appendingPathComponent("validation.u8"))
        log("validation: \(validation.slices.count) slices")

        let count = validation.slices.count
        let references = count == 0 ? [] : Array(Set([0, count / 3, 2 * count / 3, count - 1])).sorted()
        let description: [String: Any] = [
            "width": training.width, "height": training.height, "channels": training.channels,
            "hu_window": preprocessing.huWindow.map(Double.init),
            "training": training.slices.map { ["patient": $0.patient, "set": $0.set, "weight": Double($0.weight)] },
            "validation": validation.slices.map { ["patient": $0.patient, "set": $0.set, "weight": Double($0.weight)] },
            "reference_slices": references,
        ]
        try json(description).write(to: folder.appendingPathComponent("slices.json"))

        let input = Tensor(batch: references.count, channels: validation.channels, height: validation.height, width: validation.width,
                           data: try references.flatMap { try bytes(validation.read($0).image).map { Float($0) / 255 } })
        for model in models {
            let modelFolder = folder.appendingPathComponent(model.manifest.name)
            try FileManager.default.createDirectory(at: modelFolder, withIntermediateDirectories: true)
            let architecture = try JSONSerialization.jsonObject(with: JSONEncoder().encode(model.manifest.architecture))
            try json(["architecture": architecture, "graph": UNetGraph(model.manifest.architecture).jsonObject])
                .write(to: modelFolder.appendingPathComponent("graph.json"))
            let logits = model.network.logits(input).data
            try logits.withUnsafeBufferPointer { Data(buffer: $0) }.write(to: modelFolder.appendingPathComponent("reference.f32"))
            log("\(model.manifest.name): graph and reference logits on \(references.count) validation slices")
        }
    }

    /// Writes the cache's slices as byte records.
    private static func writeRecords(_ cache: SliceCache, to file: URL) throws {
        guard FileManager.default.createFile(atPath: file.path, contents: nil), let handle = FileHandle(forWritingAtPath: file.path) else {
            throw TrainingError.invalidSetting("cannot write \(file.path)")
        }
        defer { try? handle.close() }
        for index in cache.slices.indices {
            let (image, labels) = try cache.read(index)
            try handle.write(contentsOf: bytes(image) + labels.values)
        }
    }

    /// A slice's channels, each [0, 1] value as a byte.
    private static func bytes(_ image: [Plane<Float>]) -> [UInt8] {
        image.flatMap(\.values).map { UInt8((min(max($0, 0), 1) * 255).rounded()) }
    }

    private static func json(_ object: Any) throws -> Data {
        try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    }
}
