import ArgumentParser
import Foundation
import NeuralNet
import Training

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train an smp U-Net on KiTS-layout or PNG folders; write a model folder that segment and serve load.",
        discussion: """
            Settings come from --config (a JSON file with the keys of training.json's "configuration"), then from flags. \
            A checkpoint is written to --output after every epoch; --resume continues from it.
            Example: kidneyseg train --data ../shared/data/curvas-slices --hu-range 0,255 --encoder resnet50 \
            --width 0.25 --size 256 --epochs 20 --output Models/resnet50
            """
    )

    @Option(help: ArgumentHelp("A JSON file of settings; flags override it.", valueName: "FILE"))
    var config: String?
    @Option(help: ArgumentHelp("A folder of training cases (repeatable).", valueName: "DIR"))
    var data: [String] = []
    @Option(help: ArgumentHelp("The model folder to write (and to resume from).", valueName: "DIR"))
    var output: String
    @Flag(help: "Continue from the checkpoint in --output.")
    var resume = false
    @Option(name: .customLong("stop-after"), help: "Stop after this many epochs in this call (resume later).")
    var stopAfter: Int?
    @Option(name: .customLong("time-limit"), help: "Stop after the epoch that passes this many minutes (resume later).")
    var timeLimit: Double?

    @Option(help: "Model name in the manifest.") var name: String?
    @Option(help: "resnet18, resnet34, resnet50, resnet101, vgg16_bn or tu-inception_v3.") var encoder: String?
    @Option(help: "Encoder channel width (1 = smp's).") var width: Double?
    @Option(name: .customLong("decoder-channels"), help: "Five decoder widths, comma-separated.") var decoderChannels: String?
    @Option(help: "Slice size in pixels (a multiple of 32).") var size: Int?
    @Option(name: .customLong("hu-window"), help: "The model's HU window, LO,HI.") var huWindow: String?
    @Option(name: .customLong("grid-spacing"), help: "Millimetres per pixel of the model's input grid (default 2); 0 stretches each slice onto the size.") var gridSpacing: Double?
    @Option(name: .customLong("context-slices"), help: "Input channels: the slice and its neighbours (2.5-D), odd; 1 for the slice alone.") var contextSlices: Int?
    @Option(name: .customLong("context-spacing"), help: "Millimetres between neighbouring input channels.") var contextSpacing: Double?
    // Reading PNG slices: the same names as every other command's.
    @Option(name: .customLong("hu-range"), help: "HU of 8-bit PNG pixels 0 and 255, LO,HI.") var huRange: String?
    @Option(name: .customLong("pixel-spacing"), help: "Millimetres per pixel of PNG slices (default 0.8).") var pixelSpacing: Double?
    @Option(name: .customLong("data-weights"), help: "Each --data folder's share of the training signal, comma-separated.") var dataWeights: String?
    @Option(name: .customLong("validation-data"), help: ArgumentHelp("Cases used only to validate (repeatable).", valueName: "DIR")) var validationData: [String] = []
    @Option(help: "Epochs to train in all.") var epochs: Int?
    @Option(name: .customLong("steps-per-epoch"), help: "Optimiser steps per epoch (default: one pass).") var stepsPerEpoch: Int?
    @Option(help: "Slices per batch.") var batch: Int?
    @Option(help: "Batches per optimiser step (gradient accumulation).") var accumulation: Int?
    @Option(help: "uniform (default: each pass shuffles every slice, the loss weighs them) or weighted (a step draws slices in proportion to their weight).")
    var sampling: String?
    @Option(help: "dice, focal-dice, cross-entropy, weighted-cross-entropy or dice-cross-entropy.") var loss: String?
    @Option(help: "Focal Dice exponent.") var gamma: Float?
    @Option(help: "Learning rate.") var lr: Float?
    @Option(help: "constant, step or cosine.") var schedule: String?
    @Option(name: .customLong("weight-decay"), help: "Weight decay.") var weightDecay: Float?
    @Flag(help: "Decoupled weight decay (AdamW).") var adamw = false
    @Option(help: "Share of images augmented.") var augmentation: Double?
    @Option(name: .customLong("train-from-stage"), help: "Encoder stages before this one stay frozen (0: train all).") var trainFromStage: Int?
    @Option(name: .customLong("init"), help: ArgumentHelp("Start from this safetensors file.", valueName: "FILE")) var initialWeights: String?
    @Option(name: .customLong("background-fraction"), help: "Share of background-only slices kept per volume.") var backgroundFraction: Double?
    @Option(name: .customLong("validation-fraction"), help: "Share of patients held out for validation.") var validationFraction: Double?
    @Option(help: "Seed for every random choice.") var seed: UInt64?

    func run() throws {
        ComputeThreads.configure()
        var settings = try config.map { try TrainingConfiguration(file: URL(argument: $0)) } ?? TrainingConfiguration()
        if !data.isEmpty { settings.data = data.map { URL(argument: $0).path } }
        if let name { settings.name = name }
        if let encoder {
            guard let parsed = EncoderName(rawValue: encoder) else { throw CommandError("unknown encoder \(encoder)") }
            settings.encoder = parsed
        }
        if let width { settings.encoderWidth = width }
        if let decoderChannels { settings.decoderChannels = try Self.numbers(decoderChannels, "decoder-channels").map { Int($0) } }
        if let size { settings.size = size }
        if let huWindow { settings.huWindow = try Self.numbers(huWindow, "hu-window") }
        if let gridSpacing { settings.pixelSpacing = gridSpacing > 0 ? gridSpacing : nil }
        if let contextSlices { settings.contextSlices = contextSlices }
        if let contextSpacing { settings.contextSpacing = contextSpacing }
        if let huRange { settings.pngHuRange = try Self.numbers(huRange, "hu-range") }
        if let pixelSpacing { settings.pngPixelSpacing = pixelSpacing }
        if let dataWeights { settings.dataWeights = try Self.numbers(dataWeights, "data-weights").map(Double.init) }
        if !validationData.isEmpty { settings.validationData = validationData.map { URL(argument: $0).path } }
        if let epochs { settings.epochs = epochs }
        if let stepsPerEpoch { settings.stepsPerEpoch = stepsPerEpoch }
        if let batch { settings.batchSize = batch }
        if let accumulation { settings.accumulation = accumulation }
        if let sampling {
            guard let parsed = SliceSampling(rawValue: sampling) else { throw CommandError("--sampling takes weighted or uniform") }
            settings.sampling = parsed
        }
        if let loss {
            guard let parsed = LossKind(rawValue: loss) else { throw CommandError("unknown loss \(loss)") }
            settings.loss = parsed
        }
        if let gamma { settings.focalGamma = gamma }
        if let lr { settings.learningRate = lr }
        if let schedule { settings.schedule = schedule }
        if let weightDecay { settings.weightDecay = weightDecay }
        if adamw { settings.decoupledWeightDecay = true }
        if let augmentation { settings.augmentation = augmentation }
        if let trainFromStage { settings.firstTrainedStage = trainFromStage }
        if let initialWeights { settings.initialWeights = URL(argument: initialWeights).path }
        if let backgroundFraction { settings.backgroundFraction = backgroundFraction }
        if let validationFraction { settings.validationFraction = validationFraction }
        if let seed { settings.seed = seed }
        if !resume { try settings.validate() }
        // Each line is flushed at once: training runs for hours, often with stdout in a log file.
        let run = TrainingRun(configuration: settings, output: URL(argument: output)) { line in
            print(line)
            fflush(nil)
        }
        try run.run(resume: resume, epochLimit: stopAfter, timeLimit: timeLimit.map { $0 * 60 })
    }

    private static func numbers(_ text: String, _ flag: String) throws -> [Float] {
        let values = text.split(separator: ",").compactMap { Float($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty else { throw CommandError("--\(flag) takes comma-separated numbers") }
        return values
    }
}
