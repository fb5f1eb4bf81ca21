import Foundation
import Imaging

/// Models whose softmax probabilities are averaged: M = Σ wᵢ·Mᵢ / Σ wᵢ, equal weights by default.
public struct Ensemble: Sendable {
    public let members: [SegmentationModel]
    public let weights: [Double]
    /// A voxel whose likeliest class is background is kidney all the same when the
    /// probabilities of kidney and tumour add up to more than this; nil leaves it background.
    /// The members find too little of a kidney that looks unlike their training (a bright
    /// excretory one, a non-contrast one), and a lower threshold finds more of it. Like the
    /// weights, it is chosen on validation patients.
    public let foregroundThreshold: Double?
    /// What the ensemble was validated on and how it scored, in a sentence, for the people who
    /// read its results (the job page shows it); nil when its folder does not say.
    public let validation: String?

    public init(members: [SegmentationModel], weights: [Double]? = nil, foregroundThreshold: Double? = nil, validation: String? = nil) throws {
        guard let first = members.first else { throw EnsembleError.noModels(folder: nil) }
        for member in members where member.manifest.labels != first.manifest.labels {
            throw EnsembleError.mismatchedLabels(first.manifest.name, member.manifest.name)
        }
        let weights = weights ?? [Double](repeating: 1, count: members.count)
        guard weights.count == members.count, weights.allSatisfy({ $0 >= 0 }), weights.reduce(0, +) > 0 else {
            throw EnsembleError.invalidWeights(weights)
        }
        if let threshold = foregroundThreshold, !(threshold > 0 && threshold < 1) { throw EnsembleError.invalidThreshold(threshold) }
        self.members = members
        self.weights = weights
        self.foregroundThreshold = foregroundThreshold
        self.validation = validation
    }

    /// Every model folder (a directory with a manifest.json) inside `folder`, in name order. An
    /// optional `ensemble.json` there, `{"weights": {"<folder name>": 2.0, ...}, "foreground_threshold": 0.4,
    /// "validation": "..."}`, sets weights (1 for members it does not name), the threshold (none
    /// if absent) and the validation statement.
    public init(folder: URL) throws {
        let contents = (try? FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)) ?? []
        let modelFolders = contents
            .filter { FileManager.default.fileExists(atPath: $0.appendingPathComponent("manifest.json").path) }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        guard !modelFolders.isEmpty else { throw EnsembleError.noModels(folder: folder.path) }
        struct Settings: Decodable {
            var weights: [String: Double]?
            var foregroundThreshold: Double?
            var validation: String?

            enum CodingKeys: String, CodingKey {
                case weights, validation
                case foregroundThreshold = "foreground_threshold"
            }
        }
        var settings = Settings()
        let path = folder.appendingPathComponent("ensemble.json")
        if FileManager.default.fileExists(atPath: path.path) {
            do { settings = try JSONDecoder().decode(Settings.self, from: Data(contentsOf: path)) } catch {
                throw EnsembleError.invalidSettings(path: path.path, reason: "\(error)")
            }
        }
        try self.init(members: modelFolders.map(SegmentationModel.init(folder:)),
                      weights: modelFolders.map { settings.weights?[$0.lastPathComponent] ?? 1 }, foregroundThreshold: settings.foregroundThreshold,
                      validation: settings.validation)
    }

    public var labels: [String] { members[0].manifest.labels }
}

public enum EnsembleError: Error, Equatable, Sendable, CustomStringConvertible {
    case noModels(folder: String?)
    case mismatchedLabels(String, String)
    case invalidWeights([Double])
    case invalidThreshold(Double)
    case invalidSettings(path: String, reason: String)

    public var description: String {
        switch self {
        case let .noModels(folder):
            "no models installed\(folder.map { " in \($0)" } ?? ""): a model is a folder holding manifest.json and weights.safetensors "
                + "(see the README's \"Models\" section); pass --models DIR or set KIDNEYSEG_MODELS_DIR"
        case let .mismatchedLabels(first, other):
            "models \(first) and \(other) predict different classes and cannot be averaged"
        case let .invalidWeights(weights):
            "ensemble weights \(weights) must be one non-negative number per model, not all zero"
        case let .invalidThreshold(threshold):
            "the ensemble's foreground threshold \(threshold) must lie strictly between 0 and 1"
        case let .invalidSettings(path, reason):
            "cannot read \(path): \(reason)"
        }
    }
}
