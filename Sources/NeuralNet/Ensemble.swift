import Foundation
import Imaging

/// Models whose softmax probabilities are averaged: M = Σ wᵢ·Mᵢ / Σ wᵢ, equal weights by default.
public struct Ensemble: Sendable {
    public let members: [SegmentationModel]
    public let weights: [Double]

    public init(members: [SegmentationModel], weights: [Double]? = nil) throws {
        guard let first = members.first else { throw EnsembleError.noModels(folder: nil) }
        for member in members where member.manifest.labels != first.manifest.labels {
            throw EnsembleError.mismatchedLabels(first.manifest.name, member.manifest.name)
        }
        let weights = weights ?? [Double](repeating: 1, count: members.count)
        guard weights.count == members.count, weights.allSatisfy({ $0 >= 0 }), weights.reduce(0, +) > 0 else {
            throw EnsembleError.invalidWeights(weights)
        }
        self.members = members
        self.weights = weights
    }

    /// Every model folder (a directory with a manifest.json) inside `folder`, in name order. An
    /// optional `ensemble.json` there, `{"weights": {"<folder name>": 2.0, ...}}`, sets weights
    /// (1 for members it does not name).
    public init(folder: URL) throws {
        let contents = (try? FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)) ?? []
        let modelFolders = contents
            .filter { FileManager.default.fileExists(atPath: $0.appendingPathComponent("manifest.json").path) }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        guard !modelFolders.isEmpty else { throw EnsembleError.noModels(folder: folder.path) }
        var named: [String: Double] = [:]
        let settings = folder.appendingPathComponent("ensemble.json")
        if FileManager.default.fileExists(atPath: settings.path) {
            struct Settings: Decodable { var weights: [String: Double] }
            do { named = try JSONDecoder().decode(Settings.self, from: Data(contentsOf: settings)).weights } catch {
                throw EnsembleError.invalidSettings(path: settings.path, reason: "\(error)")
            }
        }
        try self.init(members: modelFolders.map(SegmentationModel.init(folder:)),
                      weights: modelFolders.map { named[$0.lastPathComponent] ?? 1 })
    }

    public var labels: [String] { members[0].manifest.labels }
}

public enum EnsembleError: Error, Equatable, Sendable, CustomStringConvertible {
    case noModels(folder: String?)
    case mismatchedLabels(String, String)
    case invalidWeights([Double])
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
        case let .invalidSettings(path, reason):
            "cannot read \(path): \(reason)"
        }
    }
}
