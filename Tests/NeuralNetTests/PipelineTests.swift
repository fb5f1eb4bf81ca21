import Foundation
import Imaging
import NeuralNet
import TestSupport
import Testing

@Suite struct PipelineTests {
    let scratch = ScratchDirectory()

    func model(_ encoder: EncoderName, seed: UInt64, inputSize: Int = 64) throws -> SegmentationModel {
        try SegmentationModel(folder: RandomModels.write(encoder, inputSize: inputSize, seed: seed, into: scratch.url))
    }

    /// A small real CT: the pancreas slice, 512x512x1.
    var slice: CTVolume { get throws { try VolumeReader().readCT(from: SharedData.pancreasSlice) } }

    /// With an input grid of its own (96) or the same as the other's (64: the input is shared,
    /// and the two are averaged before going back onto the slice grid), the same mix.
    @Test(arguments: [96, 64])
    func averagesMemberProbabilitiesWithTheirWeights(secondInputSize: Int) throws {
        let a = try model(.resnet18, seed: 1)
        let b = try model(.vgg16bn, seed: 2, inputSize: secondInputSize)
        let ct = try slice
        let alone = try [a, b].map { try SegmentationPipeline(ensemble: Ensemble(members: [$0])).segment(ct).probabilities }
        let mixed = try SegmentationPipeline(ensemble: Ensemble(members: [a, b], weights: [1, 3])).segment(ct).probabilities
        for label in 0..<3 {
            let expected = zip(alone[0][label].voxels, alone[1][label].voxels).map { 0.25 * $0 + 0.75 * $1 }
            #expect(zip(mixed[label].voxels, expected).allSatisfy { abs($0 - $1) < 1e-5 })
        }
        let sums = (0..<mixed[0].voxels.count).map { mixed[0].voxels[$0] + mixed[1].voxels[$0] + mixed[2].voxels[$0] }
        #expect(sums.allSatisfy { abs($0 - 1) < 1e-4 })
    }

    @Test func labelsTheInputGridInItsOwnOrderAndReportsProgress() throws {
        let ct = try VolumeReader().readCT(from: SharedData.exampleCT)
        let pipeline = try SegmentationPipeline(ensemble: Ensemble(members: [model(.resnet18, seed: 4)]), batchSize: 16)
        var reports: [Int] = []
        let result = try pipeline.segment(ct, progress: { done, total in
            #expect(total == 112)
            reports.append(done)
        })
        #expect(reports == [16, 32, 48, 64, 80, 96, 112])
        #expect(result.labels.geometry == ct.geometry)
        #expect(result.labels.voxels.allSatisfy { $0 <= 2 })
        // Argmax of the averaged probabilities, before clean-up, in canonical order.
        let canonical = result.labels.axialStack().voxels
        let agree = canonical.indices.filter { voxel in
            let p = result.probabilities.map { $0.voxels[voxel] }
            return canonical[voxel] == 0 || p[Int(canonical[voxel])] == p.max()
        }
        #expect(agree.count == canonical.count)
    }

    @Test func batchingDoesNotChangeTheResult() throws {
        let ct = try VolumeReader().readCT(from: SharedData.exampleCT)
        let ensemble = try Ensemble(members: [model(.resnet18, seed: 5)])
        let one = try SegmentationPipeline(ensemble: ensemble, batchSize: 1).segment(ct).probabilities[1].voxels
        let many = try SegmentationPipeline(ensemble: ensemble, batchSize: 8).segment(ct).probabilities[1].voxels
        #expect(zip(one, many).allSatisfy { abs($0 - $1) < 1e-5 })
    }

    @Test func stopsWhenCancelled() throws {
        let pipeline = try SegmentationPipeline(ensemble: Ensemble(members: [model(.resnet18, seed: 6)]), batchSize: 4)
        var batches = 0
        #expect(throws: PipelineError.cancelled) {
            try pipeline.segment(VolumeReader().readCT(from: SharedData.exampleCT), progress: { _, _ in batches += 1 },
                                 isCancelled: { batches >= 2 })
        }
        #expect(batches == 2)
    }

    @Test func loadsEveryModelFolderOfAnEnsembleFolder() throws {
        try RandomModels.writeEnsemble(into: scratch.url)
        try Data(#"{"weights": {"vgg16_bn-2": 2}}"#.utf8).write(to: scratch.url.appendingPathComponent("ensemble.json"))
        let ensemble = try Ensemble(folder: scratch.url)
        #expect(ensemble.members.map(\.manifest.architecture.encoder) == [.resnet50, .inceptionV3, .vgg16bn])
        #expect(ensemble.weights == [1, 1, 2])
    }

    @Test func readsTheForegroundThresholdOfAnEnsembleFolder() throws {
        try RandomModels.writeEnsemble(into: scratch.url)
        let settings = scratch.url.appendingPathComponent("ensemble.json")
        try Data(#"{"foreground_threshold": 0.4}"#.utf8).write(to: settings)
        let ensemble = try Ensemble(folder: scratch.url)
        #expect(ensemble.foregroundThreshold == 0.4 && ensemble.weights == [1, 1, 1])
        try Data(#"{"weights": {}}"#.utf8).write(to: settings)
        #expect(try Ensemble(folder: scratch.url).foregroundThreshold == nil)
        try Data(#"{"foreground_threshold": 1.5}"#.utf8).write(to: settings)
        #expect(throws: EnsembleError.invalidThreshold(1.5)) { try Ensemble(folder: scratch.url) }
    }

    @Test func readsTheValidationStatementOfAnEnsembleFolder() throws {
        try RandomModels.writeEnsemble(into: scratch.url)
        #expect(try Ensemble(folder: scratch.url).validation == nil)
        try Data(#"{"validation": "Validated on nothing at all."}"#.utf8).write(to: scratch.url.appendingPathComponent("ensemble.json"))
        #expect(try Ensemble(folder: scratch.url).validation == "Validated on nothing at all.")
    }

    /// Per voxel, background, kidney and tumour probabilities. The threshold turns background
    /// into foreground where kidney and tumour together pass it, and the likelier of the two
    /// names it.
    @Test func aForegroundThresholdTurnsUnsureBackgroundIntoTheLikelierForegroundClass() {
        let voxels: [[Float]] = [[0.7, 0.2, 0.1], [0.55, 0.25, 0.2], [0.55, 0.15, 0.3], [0.3, 0.3, 0.4], [0.3, 0.5, 0.2]]
        let probabilities = (0..<3).map { label in voxels.map { $0[label] } }
        #expect(SegmentationPipeline.labels(probabilities, foregroundThreshold: nil) == [0, 0, 0, 2, 1])
        #expect(SegmentationPipeline.labels(probabilities, foregroundThreshold: 0.4) == [0, 1, 2, 2, 1])
        #expect(SegmentationPipeline.labels(probabilities, foregroundThreshold: 0.2) == [1, 1, 2, 2, 1])
    }

    @Test func saysClearlyWhenNoModelsAreInstalled() {
        #expect(throws: EnsembleError.noModels(folder: scratch.url.path)) { try Ensemble(folder: scratch.url) }
    }

    @Test func rejectsAManifestThatDisagreesWithItsWeights() throws {
        let folder = try RandomModels.write(.resnet18, seed: 7, into: scratch.url)
        let manifestURL = folder.appendingPathComponent("manifest.json")
        let edited = try String(contentsOf: manifestURL, encoding: .utf8).replacingOccurrences(of: "\"resnet18\"", with: "\"resnet34\"")
        try edited.write(to: manifestURL, atomically: true, encoding: .utf8)
        #expect(throws: ModelError.invalidManifest(name: "random-resnet18", reason: "the manifest says resnet34 but the weights say resnet18")) {
            try SegmentationModel(folder: folder)
        }
        try Data(#"{"format_version": 1, "name": "x"}"#.utf8).write(to: manifestURL)
        #expect(throws: ModelError.invalidManifest(name: folder.lastPathComponent, reason: "missing field architecture")) {
            try SegmentationModel(folder: folder)
        }
    }
}
