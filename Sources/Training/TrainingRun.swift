import Foundation
import Imaging
import NeuralNet

/// `kidneyseg train`: builds the slice cache, then trains epoch by epoch, validating on held-out
/// patients and writing a checkpoint after each epoch. Every random choice (initial weights,
/// slice selection, the split, shuffling, augmentation) follows from the configuration's seed,
/// and each epoch reseeds from it, so a resumed run continues exactly as an unbroken one would.
public final class TrainingRun {
    public let configuration: TrainingConfiguration
    public let checkpoint: Checkpoint
    private let log: (String) -> Void

    public init(configuration: TrainingConfiguration, output: URL, log: @escaping (String) -> Void) {
        self.configuration = configuration
        checkpoint = Checkpoint(folder: output)
        self.log = log
    }

    /// Trains from scratch, or with `resume` from the output folder's last checkpoint (whose
    /// configuration then applies, with this run's epoch count). This call stops early, with the
    /// checkpoint saved, after `epochLimit` epochs or after the epoch that passes `timeLimit`
    /// seconds, so that a long run can be spread over several sessions.
    public func run(resume: Bool = false, epochLimit: Int? = nil, timeLimit: TimeInterval? = nil) throws {
        var configuration = configuration
        let network: TrainableUNet
        var optimizer: Adam
        var progress: Checkpoint.Progress
        if resume {
            progress = try checkpoint.progress()
            configuration = progress.configuration
            configuration.epochs = max(self.configuration.epochs, progress.epochsDone)
            progress.configuration = configuration
            network = TrainableUNet(architecture: configuration.architecture, seed: configuration.seed)
            optimizer = Adam(learningRate: configuration.learningRate)
            try checkpoint.restore(into: network, optimizer: &optimizer)
        } else {
            network = TrainableUNet(architecture: configuration.architecture, seed: configuration.seed)
            if let initial = configuration.initialWeights {
                let copied = try network.load(SafeTensorsFile(contentsOf: URL(fileURLWithPath: initial)))
                log("started from \(initial): \(copied) tensors")
            }
            optimizer = Adam(learningRate: configuration.learningRate)
            progress = Checkpoint.Progress(configuration: configuration, epochsDone: 0, history: [])
        }
        try configuration.validate()
        network.firstTrainedStage = configuration.firstTrainedStage

        let cacheFolder = FileManager.default.temporaryDirectory.appendingPathComponent("kidneyseg-train-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: cacheFolder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: cacheFolder) }
        let cases = try configuration.trainingCases()
        let cache = try configuration.sliceCache(cases, file: cacheFolder.appendingPathComponent("slices.bin"))
        let split: (training: [Int], validation: [Int])
        let validationCache: SliceCache
        if configuration.validationData.isEmpty {
            split = cache.splitByPatient(validationFraction: configuration.validationFraction, seed: configuration.seed)
            validationCache = cache
        } else {
            validationCache = try configuration.sliceCache(configuration.validationCases(), file: cacheFolder.appendingPathComponent("validation.bin"))
            split = (Array(cache.slices.indices), Array(validationCache.slices.indices))
        }
        guard !split.training.isEmpty else { throw TrainingError.noSlices }
        let stepsPerEpoch = configuration.stepsPerEpoch > 0
            ? configuration.stepsPerEpoch
            : max(1, split.training.count / (configuration.batchSize * configuration.accumulation))
        log("\(cases.count) cases, \(cache.slices.count) slices: \(split.training.count) for training, \(split.validation.count) for validation (by patient); \(stepsPerEpoch) steps per epoch")

        optimizer.learningRate = configuration.learningRate
        optimizer.schedule = configuration.learningRateSchedule(totalSteps: configuration.epochs * stepsPerEpoch)
        optimizer.weightDecay = configuration.weightDecay
        optimizer.decoupledWeightDecay = configuration.decoupledWeightDecay
        let loss = SegmentationLoss(kind: configuration.loss, gamma: configuration.focalGamma,
                                    classWeights: configuration.loss == .weightedCrossEntropy ? try classWeights(cache, split.training) : nil)
        let trainer = Trainer(network: network, optimizer: optimizer, loss: loss, accumulation: configuration.accumulation)
        let augmentation = Augmentation(proportion: configuration.augmentation, window: configuration.manifest.preprocessing.window)
        let validation = try batches(of: split.validation, from: validationCache, size: configuration.batchSize)
        let draw = configuration.sampling == .weighted ? WeightedDraw(weights: split.training.map { cache.slices[$0].weight }) : nil

        let (began, firstEpoch) = (Date(), progress.epochsDone)
        for epoch in firstEpoch..<configuration.epochs {
            if let epochLimit, epoch - firstEpoch >= epochLimit { break }
            if let timeLimit, Date().timeIntervalSince(began) >= timeLimit { break }
            let started = Date()
            var generator = SeededGenerator(seed: configuration.seed &+ UInt64(epoch + 1) &* 0x9E37_79B9)
            var order: [Int] = []
            var losses: [Float] = []
            let batchesPerEpoch = stepsPerEpoch * configuration.accumulation
            for step in 0..<batchesPerEpoch {
                let chosen: [Int]
                if let draw {
                    chosen = (0..<configuration.batchSize).map { _ in split.training[draw.next(using: &generator)] }
                } else {
                    if order.count < configuration.batchSize { order += split.training.shuffled(using: &generator) }
                    chosen = Array(order.prefix(configuration.batchSize))
                    order.removeFirst(chosen.count)
                }
                losses.append(trainer.train(on: try batch(chosen, from: cache, augmentation: augmentation, generator: &generator,
                                                          countedAlike: draw != nil)))
                if (step + 1) % max(1, batchesPerEpoch / 10) == 0 || step + 1 == batchesPerEpoch {
                    let elapsed = Date().timeIntervalSince(started)
                    let remaining = elapsed / Double(step + 1) * Double(batchesPerEpoch * (configuration.epochs - epoch) - step - 1)
                    log(String(format: "epoch %d/%d step %d/%d loss %.4f lr %.2e ETA %@", epoch + 1, configuration.epochs, step + 1, batchesPerEpoch,
                               losses.suffix(10).reduce(0, +) / Float(min(10, losses.count)), trainer.optimizer.currentRate, Self.duration(remaining)))
                }
            }
            let scores = validation.isEmpty ? [] : trainer.validate(validation)
            let dice = Dictionary(uniqueKeysWithValues: scores.map { ($0.label.name, $0.dice) })
            progress.history.append(.init(epoch: epoch + 1, loss: Double(losses.reduce(0, +)) / Double(losses.count), validationDice: dice,
                                          seconds: Date().timeIntervalSince(started)))
            progress.epochsDone = epoch + 1
            try checkpoint.write(network: network, optimizer: trainer.optimizer, progress: progress)
            let summary = scores.map { "\($0.label.name) \($0.dice.map { String(format: "%.3f", $0) } ?? "n/a")" }.joined(separator: ", ")
            log("epoch \(epoch + 1) done in \(Self.duration(Date().timeIntervalSince(started))); validation Dice: \(summary.isEmpty ? "no validation patients" : summary); saved \(checkpoint.folder.path)")
        }
    }

    /// Slices as one batch, augmented. The loss weighs each slice by its weight, or with
    /// `countedAlike` (slices drawn by weight) counts them alike.
    private func batch(_ indices: [Int], from cache: SliceCache, augmentation: Augmentation, generator: inout SeededGenerator,
                       countedAlike: Bool = false) throws -> TrainingBatch {
        var pixels: [Float] = []
        var labels: [UInt8] = []
        for index in indices {
            var (image, label) = try cache.read(index)
            augmentation.apply(image: &image, labels: &label, using: &generator)
            for channel in image { pixels += channel.values }
            labels += label.values
        }
        return TrainingBatch(images: Tensor(batch: indices.count, channels: cache.channels, height: cache.height, width: cache.width, data: pixels),
                             labels: labels, weights: indices.map { countedAlike ? 1 : cache.slices[$0].weight })
    }

    private func batches(of indices: [Int], from cache: SliceCache, size: Int) throws -> [TrainingBatch] {
        var unchanged = SeededGenerator(seed: 0)
        return try stride(from: 0, to: indices.count, by: size).map {
            try batch(Array(indices[$0..<min($0 + size, indices.count)]), from: cache, augmentation: Augmentation(proportion: 0), generator: &unchanged)
        }
    }

    /// Median-frequency weights over the training slices.
    private func classWeights(_ cache: SliceCache, _ indices: [Int]) throws -> [Float] {
        var pixels = [0, 0, 0]
        var imagePixels = [0, 0, 0]
        for index in indices {
            let labels = try cache.read(index).labels.values
            var counts = [0, 0, 0]
            for label in labels { counts[Int(min(label, 2))] += 1 }
            for c in 0..<3 where counts[c] > 0 {
                pixels[c] += counts[c]
                imagePixels[c] += labels.count
            }
        }
        return SegmentationLoss.medianFrequencyWeights(pixels: pixels, imagePixels: imagePixels)
    }

    static func duration(_ seconds: TimeInterval) -> String {
        let whole = Int(seconds.rounded())
        return whole >= 3600 ? "\(whole / 3600)h\(String(format: "%02d", whole % 3600 / 60))m" : "\(whole / 60)m\(String(format: "%02d", whole % 60))s"
    }
}
