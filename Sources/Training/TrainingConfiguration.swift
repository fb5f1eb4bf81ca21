import Foundation
import Imaging
import NeuralNet

/// Everything a training run is made of, as `kidneyseg train` flags or a JSON file with these
/// keys. It is stored in the checkpoint, so `--resume` continues the same run.
public struct TrainingConfiguration: Codable, Equatable, Sendable {
    /// Folders of training cases (KiTS or PNG layout, see `TrainingCase.cases(in:)`).
    public var data: [String] = []
    /// Each data folder's share of the training signal, split evenly between its patients;
    /// empty: every patient counts alike.
    public var dataWeights: [Double] = []
    /// Folders of cases used only to validate (then `validationFraction` is not used).
    public var validationData: [String] = []
    public var name = "kidneyseg-model"
    public var encoder: EncoderName = .resnet50
    public var encoderWidth = 0.25
    public var decoderChannels = [64, 32, 16, 16, 8]
    /// Slices are resampled to size x size.
    public var size = 256
    public var huWindow: [Float] = [-125, 225]
    /// Millimetres per model pixel (see `ModelManifest.Preprocessing.pixelSpacing`); nil
    /// stretches each slice onto the input size.
    public var pixelSpacing: Double? = 2
    /// Neighbouring slices as input channels (2.5-D): this many, 1 for the slice alone...
    public var contextSlices = 1
    /// ...this many millimetres apart.
    public var contextSpacing = 3.0
    /// The HU range of 8-bit PNG pixels 0 and 255 (CURVAS: [0, 255]).
    public var pngHuRange: [Float] = [-125, 225]
    /// Millimetres per pixel of PNG slices.
    public var pngPixelSpacing = DecodeOptions.defaultPNGPixelSpacing
    public var epochs = 10
    /// Optimiser steps per epoch; 0 means one pass over the training slices.
    public var stepsPerEpoch = 0
    public var batchSize = 8
    public var accumulation = 1
    /// How a step picks its slices (see `SliceSampling`).
    public var sampling: SliceSampling = .uniform
    /// Focal Dice, the U-Net paper's best. On the synthetic set (resnet50, width 0.25, 600
    /// steps of 8) it reached held-out tumour Dice 0.73 where Dice + cross-entropy stayed at 0.00.
    public var loss: LossKind = .focalDice
    public var focalGamma: Float = 0.5
    public var learningRate: Float = 1e-3
    /// constant, step (×0.5 every quarter of the run) or cosine (to 1 % of the rate).
    public var schedule = "cosine"
    public var weightDecay: Float = 0
    /// AdamW's decoupled weight decay instead of Adam's L2 term.
    public var decoupledWeightDecay = false
    /// The share of images augmented.
    public var augmentation = 0.75
    /// Encoder stages before this one keep their weights (0: all are trained).
    public var firstTrainedStage = 0
    /// A safetensors file to start from: a previous model, or converted pretrained weights.
    public var initialWeights: String?
    public var backgroundFraction = 0.01
    public var validationFraction = 0.2
    public var seed: UInt64 = 1

    public init() {}

    enum CodingKeys: String, CodingKey {
        case data, name, encoder, size, epochs, loss, schedule, augmentation, seed, sampling
        case encoderWidth = "encoder_width"
        case decoderChannels = "decoder_channels"
        case dataWeights = "data_weights"
        case validationData = "validation_data"
        case huWindow = "hu_window"
        case pixelSpacing = "pixel_spacing_mm"
        case contextSlices = "context_slices"
        case contextSpacing = "context_spacing_mm"
        case pngHuRange = "png_hu_range"
        case pngPixelSpacing = "png_pixel_spacing_mm"
        case stepsPerEpoch = "steps_per_epoch"
        case batchSize = "batch_size"
        case accumulation
        case focalGamma = "focal_gamma"
        case learningRate = "learning_rate"
        case weightDecay = "weight_decay"
        case decoupledWeightDecay = "decoupled_weight_decay"
        case firstTrainedStage = "first_trained_stage"
        case initialWeights = "initial_weights"
        case backgroundFraction = "background_fraction"
        case validationFraction = "validation_fraction"
    }

    /// Reads a JSON file; keys left out keep their defaults.
    public init(file: URL) throws {
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [String: Any] ?? [:]
        let unknown = Set(object.keys).subtracting(try Self.defaults().keys).subtracting(["initial_weights"])
        guard unknown.isEmpty else { throw TrainingError.invalidSetting("unknown keys in \(file.lastPathComponent): \(unknown.sorted().joined(separator: ", "))") }
        self = try JSONDecoder().decode(TrainingConfiguration.self, from: JSONSerialization.data(withJSONObject: Self.withDefaults(object)))
    }

    /// JSON keys with the defaults standing in for those left out: of a settings file, or of the
    /// configuration in a checkpoint written before a key existed.
    static func withDefaults(_ object: [String: Any]) throws -> [String: Any] {
        try defaults().merging(object) { $1 }
    }

    private static func defaults() throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: JSONEncoder().encode(TrainingConfiguration())) as? [String: Any] ?? [:]
    }

    public var architecture: UNetArchitecture {
        UNetArchitecture(encoder: encoder, inChannels: contextSlices, encoderWidth: encoderWidth, decoderChannels: decoderChannels)
    }

    public var manifest: ModelManifest {
        ModelManifest(name: name, description: "Trained by kidneyseg train on \(data.joined(separator: ", ")).",
                      architecture: architecture, preprocessing: .init(huWindow: huWindow, inputSize: [size, size], pixelSpacing: pixelSpacing,
                                           context: contextSlices > 1 ? SliceContext(slices: contextSlices, spacing: contextSpacing) : nil))
    }

    public var reader: VolumeReader {
        VolumeReader(options: DecodeOptions(png: PNGHounsfieldMapping(range8: pngHuRange[0]...pngHuRange[1]), pngPixelSpacing: pngPixelSpacing))
    }

    /// The cases of every data folder, each patient weighted by its folder's data weight shared
    /// among the folder's patients (1 each without data weights), each case's set its folder.
    public func trainingCases() throws -> [TrainingCase] {
        try data.enumerated().flatMap { folder, path in
            let found = try TrainingCase.cases(in: URL(fileURLWithPath: path))
            let patientWeight = dataWeights.isEmpty ? 1 : dataWeights[folder] / Double(Set(found.map(\.patient)).count)
            return found.map { trainingCase in
                var weighted = trainingCase
                weighted.weight = patientWeight
                weighted.set = folder
                return weighted
            }
        }
    }

    /// The cases of the validation folders.
    public func validationCases() throws -> [TrainingCase] {
        try validationData.flatMap { try TrainingCase.cases(in: URL(fileURLWithPath: $0)) }
    }

    /// The cases' slices, prepared as this configuration's models take them, in `file`.
    public func sliceCache(_ cases: [TrainingCase], file: URL) throws -> SliceCache {
        try SliceCache(cases: cases, preprocessing: manifest.preprocessing, reader: reader,
                       backgroundFraction: backgroundFraction, seed: seed, file: file)
    }

    public func learningRateSchedule(totalSteps: Int) -> LearningRateSchedule {
        switch schedule {
        case "step": .step(every: max(1, totalSteps / 4), factor: 0.5)
        case "cosine": .cosine(steps: totalSteps, minimum: learningRate / 100)
        default: .constant
        }
    }

    /// Checks what the types cannot.
    public func validate() throws {
        func fail(_ reason: String) -> TrainingError { .invalidSetting(reason) }
        guard !data.isEmpty else { throw fail("give at least one data folder") }
        guard dataWeights.isEmpty || (dataWeights.count == data.count && dataWeights.allSatisfy { $0 > 0 }) else {
            throw fail("give one positive data weight per data folder")
        }
        guard pngPixelSpacing > 0 else { throw fail("the PNG pixel spacing must be positive") }
        guard size >= 32, size % 32 == 0 else { throw fail("size must be a multiple of 32") }
        guard epochs >= 1, batchSize >= 1, accumulation >= 1, stepsPerEpoch >= 0 else { throw fail("epochs, batch and accumulation must be at least 1") }
        guard ["constant", "step", "cosine"].contains(schedule) else { throw fail("schedule must be constant, step or cosine") }
        guard (0...1).contains(augmentation), (0...1).contains(backgroundFraction), (0..<1).contains(validationFraction) else {
            throw fail("augmentation and background fraction must be in [0, 1], validation fraction in [0, 1)")
        }
        guard (0...5).contains(firstTrainedStage) else { throw fail("first trained stage must be 0 to 5") }
        guard huWindow.count == 2, huWindow[0] < huWindow[1], pngHuRange.count == 2, pngHuRange[0] < pngHuRange[1] else {
            throw fail("HU windows must be [lower, upper] with lower < upper")
        }
        try manifest.validate()
    }
}
