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

    /// A patient in two data folders (a scan, and phantoms built on its label map share its name)
    /// keeps each folder's share: the weights are not pooled by name. Pooled, the first folder's
    /// slices took the second folder's per-patient weight spread over both folders' slices.
    @Test func keepsEachFolderShareForAPatientInTwoFolders() throws {
        let scans = try writeKiTSFolder()
        let phantoms = scratch.url.appendingPathComponent("phantoms")
        try FileManager.default.createDirectory(at: phantoms, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: scans.appendingPathComponent("case_00001"), to: phantoms.appendingPathComponent("case_00001"))
        var configuration = TrainingConfiguration()
        configuration.data = [scans.path, phantoms.path]
        configuration.dataWeights = [2, 6]
        let cases = try configuration.trainingCases()
        #expect(cases.map(\.set) == [0, 0, 1] && cases.map(\.weight) == [1, 1, 6])
        let cache = try SliceCache(cases: cases, preprocessing: ModelManifest.Preprocessing(inputSize: [32, 32]), reader: VolumeReader(),
                                   backgroundFraction: 0.5, seed: 1, file: scratch.url.appendingPathComponent("sets.bin"))
        let bySet = Dictionary(cache.slices.map { ($0.set, Double($0.weight)) }, uniquingKeysWith: +)
        #expect(abs(bySet[1]! / bySet[0]! - 3) < 1e-4)
        let scanned = cache.slices.filter { $0.set == 0 && $0.patient == "case_00001" }.map { Double($0.weight) }.reduce(0, +)
        #expect(abs(scanned / bySet[0]! - 0.5) < 1e-4)
    }

    /// The export for trainers outside Swift: byte records of every slice, the graph of each
    /// model, and the engine's logits on the reference slices as read back from the bytes.
    @Test func exportsSlicesGraphsAndReferenceLogits() throws {
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let model = try SegmentationModel(folder: repository.appendingPathComponent("Models/vgg16_bn"))
        let settings = model.manifest.preprocessing
        var configuration = TrainingConfiguration()
        configuration.data = [try writeKiTSFolder().path]
        configuration.validationData = configuration.data
        configuration.backgroundFraction = 0.5
        configuration.encoder = model.manifest.architecture.encoder
        (configuration.size, configuration.huWindow, configuration.pixelSpacing) = (settings.inputSize[0], settings.huWindow, settings.pixelSpacing)
        (configuration.contextSlices, configuration.contextSpacing) = (settings.channels, settings.context!.spacing)
        let output = scratch.url.appendingPathComponent("export")
        try TrainingExport.write(configuration: configuration, models: [model], to: output) { _ in }

        let description = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: output.appendingPathComponent("slices.json"))) as? [String: Any])
        let training = try #require(description["training"] as? [[String: Any]])
        let (size, channels) = (settings.inputSize[0], settings.channels)
        let record = (channels + 1) * size * size
        #expect(training.count == 13 && training.map { $0["set"] as? Int } == Array(repeating: 0, count: 13))
        #expect(abs(training.compactMap { $0["weight"] as? Double }.reduce(0, +) - 13) < 1e-3)
        let records = try Data(contentsOf: output.appendingPathComponent("validation.u8"))
        #expect(records.count == 13 * record)
        #expect(Set(records.enumerated().filter { $0.offset % record >= channels * size * size }.map(\.element)).isSubset(of: [0, 1, 2]))

        let graph = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: output.appendingPathComponent("vgg16_bn/graph.json"))) as? [String: Any])
        func convNames(_ value: Any) -> [String] {
            if let object = value as? [String: Any] {
                return (object["op"] as? String == "conv" ? [object["name"] as! String] : []) + object.keys.sorted().flatMap { convNames(object[$0]!) }
            }
            return (value as? [Any])?.flatMap(convNames) ?? []
        }
        #expect(Set(convNames(graph["graph"]!)) == Set(UNetGraph(model.manifest.architecture).convolutions.map(\.name)))

        let references = try #require(description["reference_slices"] as? [Int])
        #expect(references == [0, 4, 8, 12])
        let input = references.flatMap { index in records[(index * record)..<(index * record + channels * size * size)].map { Float($0) / 255 } }
        let expected = model.network.logits(Tensor(batch: references.count, channels: channels, height: size, width: size, data: input)).data
        let written = try Data(contentsOf: output.appendingPathComponent("vgg16_bn/reference.f32")).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        #expect(written == expected)

        configuration.huWindow = [-100, 200]
        #expect(throws: TrainingError.self) { try TrainingExport.write(configuration: configuration, models: [model], to: output) { _ in } }
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
