import Foundation
import Imaging
import TestSupport
import Testing

@Suite struct TrainCommandTests {
    let scratch = ScratchDirectory()

    /// A short run on the real CURVAS slices writes a model folder that `segment` loads unchanged.
    @Test func trainsAModelThatSegmentLoads() throws {
        let models = scratch.url.appendingPathComponent("models")
        let trained = try CLI.run("train", "--data", SharedData.root.appendingPathComponent("curvas-slices").path, "--png-hu-range", "0,255",
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
