import Foundation
import Imaging
import NeuralNet
import TestSupport
import Testing
import Training

@Suite struct TrainingDataTests {
    let scratch = ScratchDirectory()

    /// Two KiTS-layout cases of 8x8x10 voxels: case_00000 has labels on slices 2 to 4, case_00001 on slice 5.
    func writeKiTSFolder() throws -> URL {
        let root = scratch.url.appendingPathComponent("kits")
        for (name, labelled) in [("case_00000", [2, 3, 4]), ("case_00001", [5])] {
            let folder = root.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            var image = NIfTIFixture()
            image.dims = [3, 8, 8, 10, 1, 1, 1, 1]
            image.datatype = 4
            image.values = (0..<640).map { Double($0 % 300) - 100 }
            try image.write(named: "imaging.nii.gz", in: folder)
            var labels = image
            labels.datatype = 2
            labels.values = (0..<640).map { labelled.contains($0 / 64) && $0 % 64 < 20 ? 1 : 0 }
            try labels.write(named: "segmentation.nii.gz", in: folder)
        }
        return root
    }

    @Test func findsKiTSAndPNGCases() throws {
        let kits = try TrainingCase.cases(in: writeKiTSFolder())
        #expect(kits.map(\.patient) == ["case_00000", "case_00001"] && kits.map(\.name) == ["case_00000", "case_00001"])
        let curvas = try TrainingCase.cases(in: SharedData.root.appendingPathComponent("curvas-slices"))
        #expect(curvas.count == 108 && curvas[0].name == "10001_394")
        #expect(Set(curvas.map(\.patient)).count == 14)
        #expect(throws: TrainingError.noCases(scratch.url.path)) { try TrainingCase.cases(in: scratch.url) }
    }

    @Test func cachesTheLabelledSlicesAndAShareOfTheRest() throws {
        let cases = try TrainingCase.cases(in: writeKiTSFolder())
        let preprocessing = ModelManifest.Preprocessing(inputSize: [32, 32])
        let cache = try SliceCache(cases: cases, preprocessing: preprocessing, reader: VolumeReader(), backgroundFraction: 0.5, seed: 1,
                                   file: scratch.url.appendingPathComponent("slices.bin"))
        // 3 labelled + 4 of 7 background slices, and 1 + 5 of 9 (halves round up).
        #expect(cache.slices.map(\.patient) == Array(repeating: "case_00000", count: 7) + Array(repeating: "case_00001", count: 6))
        #expect(abs(cache.slices.map(\.weight).reduce(0, +) - 13) < 1e-4)
        #expect(cache.slices[0].weight < cache.slices[12].weight)

        let labelled = try (0..<13).map { try cache.read($0) }.filter { $0.labels.values.contains(1) }
        #expect(labelled.count == 4)
        let ct = try VolumeReader().readCT(from: cases[1].image).axialStack()
        let expected = preprocessing.modelInput(ct.slice(5))
        let cached = try #require(labelled.last)
        #expect(zip(cached.image.values, expected.values).allSatisfy { abs($0 - $1) <= 1.0 / 65535 })

        let split = cache.splitByPatient(validationFraction: 0.5, seed: 2)
        #expect(split.training.count + split.validation.count == 13)
        #expect(Set(split.training.map { cache.slices[$0].patient }).isDisjoint(with: split.validation.map { cache.slices[$0].patient }))
    }
}
