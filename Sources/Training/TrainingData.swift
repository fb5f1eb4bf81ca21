import Foundation
import Imaging
import NeuralNet

/// One patient's image and label map, as a training set lists them.
public struct TrainingCase: Equatable, Sendable {
    public var patient: String
    public var image: URL
    public var labels: URL
    /// The patient's share of the training signal, relative to other patients (1 each by default).
    public var weight = 1.0
    /// The data folder the case comes from, by its index among the training folders. Slices share
    /// their patient's weight within one set, so that a patient in two sets (a scan, and phantoms
    /// built on its label map) keeps each set's share.
    public var set = 0
    /// Whether the case's slices are neighbours in the body, as in a scan; false for a stack of
    /// separate slices, whose 2.5-D context is then the slice itself.
    public var neighbouringSlices = true

    /// The case's name in reports: its folder for KiTS cases, the file name for PNG slices.
    public var name: String {
        image.pathExtension == "png" ? image.deletingPathExtension().lastPathComponent : image.deletingLastPathComponent().lastPathComponent
    }

    public init(patient: String, image: URL, labels: URL) {
        self.patient = patient
        self.image = image
        self.labels = labels
    }

    /// The cases in a folder of either layout:
    /// - KiTS: `case_XXXXX/imaging.nii.gz` with `case_XXXXX/segmentation.nii.gz`; the folder
    ///   names the patient;
    /// - PNG: `images/NAME.png` with `labels/NAME.png`; the part of NAME before its last `_`
    ///   names the patient (CURVAS: `10001_394.png` is patient 10001, slice 394;
    ///   `case_00002_0100.png` is patient case_00002).
    ///
    /// A `layout.json` of `{"neighbouring_slices": false}` says that the KiTS cases' slices are
    /// separate slices stacked, not a scan (as `kidneyseg synth` writes its slice cases).
    public static func cases(in folder: URL) throws -> [TrainingCase] {
        let manager = FileManager.default
        struct Layout: Decodable { var neighbouringSlices: Bool; enum CodingKeys: String, CodingKey { case neighbouringSlices = "neighbouring_slices" } }
        let layoutFile = folder.appendingPathComponent("layout.json")
        var neighbours = true
        if manager.fileExists(atPath: layoutFile.path) {
            do { neighbours = try JSONDecoder().decode(Layout.self, from: Data(contentsOf: layoutFile)).neighbouringSlices } catch {
                throw TrainingError.invalidSetting("\(layoutFile.path): \(error)")
            }
        }
        let names = ((try? manager.contentsOfDirectory(atPath: folder.path)) ?? []).sorted()
        let kits = names.filter { $0.hasPrefix("case_") }.compactMap { name -> TrainingCase? in
            let directory = folder.appendingPathComponent(name)
            let image = directory.appendingPathComponent("imaging.nii.gz")
            let labels = directory.appendingPathComponent("segmentation.nii.gz")
            guard manager.fileExists(atPath: image.path), manager.fileExists(atPath: labels.path) else { return nil }
            var found = TrainingCase(patient: name, image: image, labels: labels)
            found.neighbouringSlices = neighbours
            return found
        }
        let images = folder.appendingPathComponent("images")
        let pngs = ((try? manager.contentsOfDirectory(atPath: images.path)) ?? []).filter { $0.hasSuffix(".png") }.sorted().compactMap { name -> TrainingCase? in
            let labels = folder.appendingPathComponent("labels/\(name)")
            guard manager.fileExists(atPath: labels.path) else { return nil }
            let stem = name.dropLast(4)
            let patient = String(stem[..<(stem.lastIndex(of: "_") ?? stem.endIndex)])
            return TrainingCase(patient: patient, image: images.appendingPathComponent(name), labels: labels)
        }
        guard !(kits + pngs).isEmpty else { throw TrainingError.noCases(folder.path) }
        return kits + pngs
    }
}

extension TrainingCase {
    /// Writes a case in the KiTS layout, `folder/imaging.nii.gz` (int16 HU) and
    /// `folder/segmentation.nii.gz`, from stacks in canonical axial order (x to the patient's
    /// left, y to the back, slices from the feet up), so that they read back as the same stacks.
    public static func write(ct: AxialStack<Float>, labels: AxialStack<UInt8>, to folder: URL) throws {
        precondition(ct.size == labels.size, "the CT and its labels differ in size")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let s = ct.spacing
        let geometry = VolumeGeometry(size: ct.size, pixdim: s,
                                      sform: SForm(code: .alignedAnatomical, matrix: Affine(rows: [SIMD4(-s.x, 0, 0, 0), SIMD4(0, -s.y, 0, 0), SIMD4(0, 0, s.z, 0)])))
        let format = ImageFormat.nifti(version: 1, gzipped: true)
        try NIfTIWriter.write(hounsfield: Volume(geometry: geometry, voxels: ct.voxels, source: VolumeSource(format: format, datatype: .int16)),
                              to: folder.appendingPathComponent("imaging.nii.gz"))
        try NIfTIWriter.write(Volume(geometry: geometry, voxels: labels.voxels, source: VolumeSource(format: format, datatype: .uint8)),
                              to: folder.appendingPathComponent("segmentation.nii.gz"))
    }
}

public enum TrainingError: Error, Equatable, Sendable, CustomStringConvertible {
    case noCases(String)
    case mismatchedCase(patient: String, reason: String)
    case noSlices
    case invalidCheckpoint(String)
    case invalidSetting(String)

    public var description: String {
        switch self {
        case let .noCases(path):
            "\(path) holds no training cases: expected case_XXXXX/imaging.nii.gz + segmentation.nii.gz, or images/*.png + labels/*.png"
        case let .mismatchedCase(patient, reason): "case \(patient): \(reason)"
        case .noSlices: "no slices were selected for training"
        case let .invalidCheckpoint(reason): "cannot resume: \(reason)"
        case let .invalidSetting(reason): reason
        }
    }
}

/// Training slices, preprocessed to a model's input once and stored in one file of fixed-size
/// records (the image quantised to 16 bits, then the labels), so that batches stream from disk
/// and memory does not grow with the dataset. Only a little per slice stays in memory: its
/// patient and weight.
public final class SliceCache {
    public struct Slice: Equatable, Sendable {
        public var patient: String
        /// The data folder the slice comes from (`TrainingCase.set`).
        public var set: Int
        /// The patient's weight / (slices kept from this patient in this set), scaled so that the mean over the
        /// cache is 1.
        public var weight: Float
    }

    public let width: Int
    public let height: Int
    /// Image planes per slice: the model's input channels.
    public let channels: Int
    public private(set) var slices: [Slice] = []
    private let handle: FileHandle
    private var recordBytes: Int { (2 * channels + 1) * width * height }

    /// Reads every case, keeps the slices that show kidney or tumour and `backgroundFraction` of
    /// the others (chosen by `seed`), and writes them, as `preprocessing` prepares model inputs,
    /// to `file`.
    public init(cases: [TrainingCase], preprocessing: ModelManifest.Preprocessing, reader: VolumeReader,
                backgroundFraction: Double, seed: UInt64, file: URL) throws {
        (width, height, channels) = (preprocessing.inputSize[0], preprocessing.inputSize[1], preprocessing.channels)
        guard FileManager.default.createFile(atPath: file.path, contents: nil), let handle = FileHandle(forUpdatingAtPath: file.path) else {
            throw TrainingError.invalidSetting("cannot write \(file.path)")
        }
        self.handle = handle
        var generator = SeededGenerator(seed: seed)
        var groups: [Group] = []
        var patientWeights: [Group: Double] = [:]
        for trainingCase in cases {
            let group = Group(set: trainingCase.set, patient: trainingCase.patient)
            patientWeights[group] = trainingCase.weight
            let ct = try reader.readCT(from: trainingCase.image).axialStack()
            let labels = try reader.readLabels(from: trainingCase.labels).axialStack()
            guard ct.size == labels.size else {
                throw TrainingError.mismatchedCase(patient: trainingCase.patient, reason: "the image is \(ct.size) voxels and the labels \(labels.size)")
            }
            let frame = preprocessing.frame(for: ct, body: BodyMask(ct), fixedSize: true)
            let foreground = (0..<ct.sliceCount).filter { labels.slice($0).values.contains { $0 > 0 } }
            let background = Array(Set(0..<ct.sliceCount).subtracting(foreground)).sorted().shuffled(using: &generator)
            let kept = foreground + background.prefix(Int((Double(background.count) * backgroundFraction).rounded()))
            for index in kept.sorted() {
                try append(image: preprocessing.modelInput(ct, slice: index, frame: frame, neighbours: trainingCase.neighbouringSlices),
                           labels: frame.sampleNearest(labels.slice(index)))
                groups.append(group)
            }
        }
        guard !groups.isEmpty else { throw TrainingError.noSlices }
        let counts = Dictionary(groups.map { ($0, 1) }, uniquingKeysWith: +)
        let raw = groups.map { patientWeights[$0]! / Double(counts[$0]!) }
        let scale = Double(raw.count) / raw.reduce(0, +)
        slices = zip(groups, raw).map { Slice(patient: $0.patient, set: $0.set, weight: Float($1 * scale)) }
    }

    /// The slices that share one weight: a patient's in one set.
    private struct Group: Hashable {
        var set: Int
        var patient: String
    }

    deinit { try? handle.close() }

    private func append(image: [Plane<Float>], labels: Plane<UInt8>) throws {
        var record = [UInt8](repeating: 0, count: recordBytes)
        for (index, value) in image.flatMap(\.values).enumerated() {
            let quantised = UInt16((min(max(value, 0), 1) * 65535).rounded())
            record[2 * index] = UInt8(quantised & 0xFF)
            record[2 * index + 1] = UInt8(quantised >> 8)
        }
        record.replaceSubrange((2 * channels * width * height)..., with: labels.values.map { min($0, 2) })
        try handle.write(contentsOf: record)
    }

    /// Slice `index`'s model input, one plane per channel, and labels.
    public func read(_ index: Int) throws -> (image: [Plane<Float>], labels: Plane<UInt8>) {
        try handle.seek(toOffset: UInt64(index * recordBytes))
        guard let data = try handle.read(upToCount: recordBytes), data.count == recordBytes else {
            throw TrainingError.invalidSetting("the slice cache ends early")
        }
        let bytes = [UInt8](data)
        let pixels = width * height
        let image = (0..<channels).map { channel in
            Plane(width: width, height: height, values: (channel * pixels..<(channel + 1) * pixels).map {
                Float(UInt16(bytes[2 * $0]) | UInt16(bytes[2 * $0 + 1]) << 8) / 65535
            })
        }
        return (image, Plane(width: width, height: height, values: Array(bytes[(2 * channels * pixels)...])))
    }

    /// The slices of a seeded share of the patients (see `PatientSplit`), and those of the rest.
    public func splitByPatient(validationFraction: Double, seed: UInt64) -> (training: [Int], validation: [Int]) {
        let held = PatientSplit.heldOut(slices.map(\.patient), fraction: validationFraction, seed: seed)
        let indices = Array(slices.indices)
        return (indices.filter { !held.contains(slices[$0].patient) }, indices.filter { held.contains(slices[$0].patient) })
    }
}

/// A seeded split by patient, so that no patient is on both sides: of validation and training
/// slices, and of the test and training data that `kidneyseg synth` writes.
public enum PatientSplit {
    /// A share `fraction` of the distinct `patients`, chosen by `seed`: at least one when there
    /// are two or more and the fraction is above 0, none otherwise.
    public static func heldOut(_ patients: [String], fraction: Double, seed: UInt64) -> Set<String> {
        var generator = SeededGenerator(seed: seed)
        let shuffled = Array(Set(patients)).sorted().shuffled(using: &generator)
        guard fraction > 0, shuffled.count > 1 else { return [] }
        return Set(shuffled.prefix(max(1, Int((Double(shuffled.count) * fraction).rounded()))))
    }
}
