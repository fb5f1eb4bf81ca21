import Foundation
import NeuralNet

/// A training run's output folder, which is also a model folder the engine loads as it is:
///
/// - `manifest.json` and `weights.safetensors`, exactly as docs/MODEL_FORMAT.md describes;
/// - `training.json`: the configuration, the epochs done and each epoch's validation scores;
/// - `optimizer.safetensors`: Adam's moments (`first.<name>`, `second.<name>`) and step count.
///
/// Every file is written to a temporary name and renamed, so a run killed mid-write leaves the
/// previous epoch's checkpoint whole.
public struct Checkpoint {
    public struct Progress: Codable, Equatable, Sendable {
        public var configuration: TrainingConfiguration
        public var epochsDone: Int
        /// Per epoch: mean training loss and validation Dice per foreground class.
        public var history: [EpochRecord]

        enum CodingKeys: String, CodingKey {
            case configuration, history
            case epochsDone = "epochs_done"
        }
    }

    public struct EpochRecord: Codable, Equatable, Sendable {
        public var epoch: Int
        public var loss: Double
        public var validationDice: [String: Double?]
        public var seconds: Double

        enum CodingKeys: String, CodingKey {
            case epoch, loss, seconds
            case validationDice = "validation_dice"
        }
    }

    public let folder: URL

    public init(folder: URL) { self.folder = folder }

    public func write(network: TrainableUNet, optimizer: Adam, progress: Progress) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let moments = optimizer.moments.sorted { $0.key < $1.key }.flatMap { name, moment -> [SafeTensorsFile.Tensor32] in
            [.init(name: "first.\(name)", shape: [moment.first.count], values: moment.first),
             .init(name: "second.\(name)", shape: [moment.second.count], values: moment.second)]
        }
        try atomically("optimizer.safetensors", SafeTensorsFile.encode(moments, metadata: ["steps": "\(optimizer.steps)"]))
        try atomically("weights.safetensors", SafeTensorsFile.encode(network.stateDict(), metadata: ["encoder": network.architecture.encoder.rawValue]))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try atomically("manifest.json", encoder.encode(progress.configuration.manifest))
        try atomically("training.json", encoder.encode(progress))
    }

    /// The saved settings, epochs done and history.
    public func progress() throws -> Progress {
        do {
            var saved = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("training.json"))) as? [String: Any] ?? [:]
            // Settings added since the checkpoint was written take their defaults.
            saved["configuration"] = try TrainingConfiguration.withDefaults(saved["configuration"] as? [String: Any] ?? [:])
            return try JSONDecoder().decode(Progress.self, from: JSONSerialization.data(withJSONObject: saved))
        } catch {
            throw TrainingError.invalidCheckpoint("\(folder.path) holds no readable training.json (\(error.localizedDescription))")
        }
    }

    /// Restores the saved weights, BatchNorm statistics and optimiser state into the given objects.
    public func restore(into network: TrainableUNet, optimizer: inout Adam) throws {
        try network.load(SafeTensorsFile(contentsOf: folder.appendingPathComponent("weights.safetensors")))
        let state = try SafeTensorsFile(contentsOf: folder.appendingPathComponent("optimizer.safetensors"))
        var moments: [String: (first: [Float], second: [Float])] = [:]
        for parameter in network.parameters where state.entries["first.\(parameter.name)"] != nil {
            moments[parameter.name] = (try state.floats("first.\(parameter.name)"), try state.floats("second.\(parameter.name)"))
        }
        optimizer.restore(steps: Int(state.metadata["steps"] ?? "") ?? 0, moments: moments)
    }

    private func atomically(_ name: String, _ data: Data) throws {
        let destination = folder.appendingPathComponent(name)
        let temporary = folder.appendingPathComponent(".\(name).partial")
        try data.write(to: temporary)
        guard rename(temporary.path, destination.path) == 0 else {
            throw TrainingError.invalidCheckpoint("cannot move \(name) into place: \(String(cString: strerror(errno)))")
        }
    }
}
