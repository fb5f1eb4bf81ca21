import Foundation
import Imaging
import TestSupport
import Testing

@Suite struct TrainCommandTests {
    let scratch = ScratchDirectory()

    /// A short run on the real CURVAS slices writes a model folder that `segment` loads unchanged.
    @Test func trainsAModelThatSegmentLoads() throws {
        let models = scratch.url.appendingPathComponent("models")
        let trained = try CLI.run("train", "--data", SharedData.root.appendingPathComponent("curvas-slices").path, "--hu-range", "0,255",
                                  "--encoder", "resnet18", "--width", "0.125", "--decoder-channels", "16,8,8,8,8", "--size", "64",
                                  "--epochs", "1", "--steps-per-epoch", "2", "--batch", "4", "--output", models.appendingPathComponent("tiny").path)
        #expect(trained.status == 0, "\(trained.stderr)")
        #expect(trained.stdout.contains("108 cases"))
        #expect(trained.stdout.contains("epoch 1/1 step 2/2 loss "))
        #expect(trained.stdout.contains("validation Dice: kidney "))

        let mask = scratch.url.appendingPathComponent("mask.nii.gz")
        let segmented = try CLI.run("segment", SharedData.pancreasSlice.path, "-o", mask.path, "--models", models.path)
        #expect(segmented.status == 0, "\(segmented.stderr)")
        #expect(try VolumeReader().readLabels(from: mask).geometry == (try VolumeReader().readCT(from: SharedData.pancreasSlice)).geometry)
    }

    @Test func refusesBadSettingsInOneLine() throws {
        let result = try CLI.run("train", "--data", scratch.url.path, "--size", "100", "--output", scratch.url.appendingPathComponent("x").path)
        #expect(result.status != 0)
        #expect(result.stderr == "kidneyseg: size must be a multiple of 32\n")
    }
}

@Suite struct SynthAndEvaluateSetCommandTests {
    let scratch = ScratchDirectory()

    /// synth holds out patients and KiTS19 maps, writes KiTS-layout cases for each side, and
    /// evaluate-set scores each member and the ensemble on them.
    @Test func synthesisesASetAndScoresModelsOnIt() throws {
        let slices = scratch.url.appendingPathComponent("slices")
        for folder in ["images", "labels"] {
            try FileManager.default.createDirectory(at: slices.appendingPathComponent(folder), withIntermediateDirectories: true)
            for name in ["10014_422.png", "10013_350.png", "10013_372.png"] {
                try FileManager.default.copyItem(at: SharedData.root.appendingPathComponent("curvas-slices/\(folder)/\(name)"),
                                                 to: slices.appendingPathComponent("\(folder)/\(name)"))
            }
        }
        let kits = scratch.url.appendingPathComponent("kits")
        for number in [61, 62] {
            let folder = kits.appendingPathComponent(String(format: "case_%05d", number))
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: SharedData.kitsLabels(number), to: folder.appendingPathComponent("segmentation.nii.gz"))
        }
        let synthetic = scratch.url.appendingPathComponent("synthetic")
        let made = try CLI.run("synth", "--slices", slices.path, "--hu-range", "0,255", "--kits-labels", kits.path,
                               "--output", synthetic.path, "--variants", "2", "--test-fraction", "0.5")
        #expect(made.status == 0, "\(made.stderr)")
        #expect(made.stdout.contains("train: 3 tumour cross-sections from 1 KiTS19 label maps"))
        #expect(made.stdout.contains("test: 3 tumour cross-sections from 1 KiTS19 label maps"))
        let split = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: synthetic.appendingPathComponent("split.json"))) as? [String: Any])
        let testPatients = try #require(split["test_patients"] as? [String])
        let testMaps = try #require(split["test_kits_cases"] as? [String])
        #expect(testPatients.count == 1 && testMaps.count == 1)
        let trainPatient = testPatients == ["10013"] ? "10014" : "10013"
        func cases(_ part: String) throws -> [String] {
            try FileManager.default.contentsOfDirectory(atPath: synthetic.appendingPathComponent(part).path).filter { $0.hasPrefix("case_") }
        }
        #expect(try cases("train/slices") == ["case_\(trainPatient)"])
        #expect(try cases("test/slices") == ["case_\(testPatients[0])"])
        // The held-out patient's own slices, untouched, for scoring on real CT.
        let real = try FileManager.default.contentsOfDirectory(atPath: synthetic.appendingPathComponent("test/real-slices/images").path)
        #expect(!real.isEmpty && real.allSatisfy { $0.hasPrefix(testPatients[0] + "_") })

        let models = scratch.url.appendingPathComponent("models")
        try RandomModels.write(.resnet18, seed: 1, into: models)
        try RandomModels.write(.vgg16bn, seed: 2, into: models)
        let scored = try CLI.run("evaluate-set", synthetic.appendingPathComponent("train/slices").path, "--models", models.path)
        #expect(scored.status == 0, "\(scored.stderr)")
        #expect(scored.stdout.contains("1 cases from"))
        #expect(scored.stdout.contains("| model | kidney Dice | kidney recall | kidney precision | tumour Dice |"))
        #expect(scored.stdout.contains("| random-resnet18 |") && scored.stdout.contains("| ensemble (2) |"))
        #expect(scored.stdout.contains("On tumour Dice the ensemble"))
    }
}
