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
        let preprocessing = ModelManifest.Preprocessing(inputSize: [32, 32], pixelSpacing: 2)
        let cache = try SliceCache(cases: cases, preprocessing: preprocessing, reader: VolumeReader(), backgroundFraction: 0.5, seed: 1,
                                   file: scratch.url.appendingPathComponent("slices.bin"))
        // 3 labelled + 4 of 7 background slices, and 1 + 5 of 9 (halves round up).
        #expect(cache.slices.map(\.patient) == Array(repeating: "case_00000", count: 7) + Array(repeating: "case_00001", count: 6))
        #expect(abs(cache.slices.map(\.weight).reduce(0, +) - 13) < 1e-4)
        #expect(cache.slices[0].weight < cache.slices[12].weight)

        let labelled = try (0..<13).map { try cache.read($0) }.filter { $0.labels.values.contains(1) }
        #expect(labelled.count == 4)
        let ct = try VolumeReader().readCT(from: cases[1].image).axialStack()
        let expected = preprocessing.modelInput(ct, slice: 5, frame: preprocessing.frame(for: ct, body: BodyMask(ct), fixedSize: true))
        let cached = try #require(labelled.last)
        #expect(cached.image.count == 1 && expected.count == 1)
        #expect(zip(cached.image[0].values, expected[0].values).allSatisfy { abs($0 - $1) <= 1.0 / 65535 })

        let split = cache.splitByPatient(validationFraction: 0.5, seed: 2)
        #expect(split.training.count + split.validation.count == 13)
        #expect(Set(split.training.map { cache.slices[$0].patient }).isDisjoint(with: split.validation.map { cache.slices[$0].patient }))
    }

    /// The patient is the file name up to its last `_`: KiTS19's `case_00002_0100` is case_00002.
    @Test func namesPNGPatientsByTheNameBeforeTheSliceNumber() throws {
        let kits = try TrainingCase.cases(in: SharedData.kitsRealSlices)
        #expect(Set(kits.map(\.patient)) == ["case_00002", "case_00016", "case_00030", "case_00117"])
    }

    /// Each data folder's weight is split between its patients, then between their slices.
    @Test func weightsPatientsAsTheirFolderSays() throws {
        var cases = try TrainingCase.cases(in: writeKiTSFolder())
        cases[0].weight = 3
        let cache = try SliceCache(cases: cases, preprocessing: ModelManifest.Preprocessing(inputSize: [32, 32]), reader: VolumeReader(),
                                   backgroundFraction: 0.5, seed: 1, file: scratch.url.appendingPathComponent("weighted.bin"))
        let totals = Dictionary(cache.slices.map { ($0.patient, Double($0.weight)) }, uniquingKeysWith: +)
        #expect(abs(totals["case_00000"]! / totals["case_00001"]! - 3) < 1e-4)
        #expect(abs(totals.values.reduce(0, +) - Double(cache.slices.count)) < 1e-3)
    }

    /// Three consecutive 16-bit slices of one patient, numbered from the head down, at 0.5 x 0.6
    /// mm (rows, columns) and 2.5 mm: one volume, the highest number the most inferior slice.
    @Test func stacksConsecutiveSlicesIntoAVolume() throws {
        let folder = scratch.url.appendingPathComponent("slices")
        for sub in ["images", "labels"] { try FileManager.default.createDirectory(at: folder.appendingPathComponent(sub), withIntermediateDirectories: true) }
        for number in 7...9 {
            let name = String(format: "case_00042_%04d.png", number)
            try PNGFixture.make(width: 4, height: 3, bitDepth: 16, samples: Array(repeating: 1024 + number * 10, count: 12))
                .write(to: folder.appendingPathComponent("images/\(name)"))
            try PNGFixture.make(width: 4, height: 3, bitDepth: 8, samples: Array(repeating: number == 8 ? 1 : 0, count: 12))
                .write(to: folder.appendingPathComponent("labels/\(name)"))
        }
        try Data(#"{"case_00042": {"pixel_spacing_mm": [0.5, 0.6], "slice_thickness_mm": 2.5}}"#.utf8).write(to: folder.appendingPathComponent("spacing.json"))
        let output = scratch.url.appendingPathComponent("volumes")
        #expect(try SliceStacking.stack(folder: folder, reader: VolumeReader(), output: output) == ["case_00042"])
        let ct = try VolumeReader().readCT(from: output.appendingPathComponent("case_00042/imaging.nii.gz")).axialStack()
        #expect(ct.size == GridSize(x: 4, y: 3, z: 3))
        #expect(abs(ct.spacing.x - 0.6) < 1e-6 && abs(ct.spacing.y - 0.5) < 1e-6 && abs(ct.spacing.z - 2.5) < 1e-6)
        #expect((0..<3).map { ct.slice($0).values[0] } == [90, 80, 70])
        let labels = try VolumeReader().readLabels(from: output.appendingPathComponent("case_00042/segmentation.nii.gz")).axialStack()
        #expect((0..<3).map { labels.slice($0).values[5] } == [0, 1, 0])

        try FileManager.default.removeItem(at: folder.appendingPathComponent("images/case_00042_0008.png"))
        try FileManager.default.removeItem(at: folder.appendingPathComponent("labels/case_00042_0008.png"))
        #expect(throws: TrainingError.self) { try SliceStacking.stack(folder: folder, reader: VolumeReader(), output: output) }
    }
}
