import Foundation
import Imaging

/// `kidneyseg synth`: real CT slices with synthetic tumours (see `TumourPainter`), written in the
/// KiTS layout so that `train` and evaluation read them like real KiTS data. Each patient of the
/// source slices becomes one case, `case_<patient>/imaging.nii.gz` (int16 HU) and
/// `segmentation.nii.gz`, whose axial slices are that patient's slices as they are followed by
/// `variants` copies of each slice that shows a kidney, each with a different KiTS19 tumour; so a
/// split by patient stays a split by patient. `provenance.json` lists every output slice's sources.
public struct TumourSynthesis: Sendable {
    public var variants = 3
    public var seed: UInt64 = 1
    /// Millimetres per pixel of the source slices (their files do not say; 0.8 mm is typical of
    /// 512x512 abdominal CT), to which the tumour shapes are resampled.
    public var spacing = 0.8
    /// Slice thickness written into the volumes' headers.
    public var thickness = 5.0
    public var painter = TumourPainter()

    public init() {}

    public struct Provenance: Codable, Equatable, Sendable {
        public var slice: Int
        public var image: String
        public var tumour: String?
    }

    /// Returns each written case's provenance, by case name.
    @discardableResult
    public func run(slices: [TrainingCase], reader: VolumeReader, shapes: [LesionShape], output: URL,
                    log: (String) -> Void = { _ in }) throws -> [String: [Provenance]] {
        guard !shapes.isEmpty else { throw TrainingError.invalidSetting("no tumour shapes to paint") }
        var generator = SeededGenerator(seed: seed)
        var provenance: [String: [Provenance]] = [:]
        let patients = Dictionary(grouping: slices, by: \.patient)
        for patient in patients.keys.sorted() {
            var images: [Plane<Float>] = []
            var labels: [Plane<UInt8>] = []
            var sources: [Provenance] = []
            for source in patients[patient]! {
                let image = try reader.readCT(from: source.image).axialStack()
                let label = try reader.readLabels(from: source.labels).axialStack()
                guard image.size == label.size, image.sliceCount == 1 else {
                    throw TrainingError.mismatchedCase(patient: patient, reason: "\(source.image.lastPathComponent) is not one slice with labels of its size")
                }
                let name = source.image.lastPathComponent
                guard images.isEmpty || (image.size.x == images[0].width && image.size.y == images[0].height) else {
                    throw TrainingError.mismatchedCase(patient: patient, reason: "\(name) differs in size from the patient's other slices")
                }
                let (original, originalLabels) = (image.slice(0), label.slice(0).map { min($0, 2) })
                images.append(original)
                labels.append(originalLabels)
                sources.append(Provenance(slice: sources.count, image: name, tumour: nil))
                for _ in 0..<variants {
                    var (painted, paintedLabels) = (original, originalLabels)
                    let shape = shapes.randomElement(using: &generator)!
                    guard painter.paint(shape, into: &painted, labels: &paintedLabels, using: &generator) else { break }
                    images.append(painted)
                    labels.append(paintedLabels)
                    sources.append(Provenance(slice: sources.count, image: name, tumour: shape.source))
                }
            }
            let caseName = "case_\(patient)"
            let folder = output.appendingPathComponent(caseName)
            let size = GridSize(x: images[0].width, y: images[0].height, z: images.count)
            let spacing = SIMD3(self.spacing, self.spacing, thickness)
            try TrainingCase.write(ct: AxialStack(size: size, spacing: spacing, voxels: images.flatMap(\.values)),
                                   labels: AxialStack(size: size, spacing: spacing, voxels: labels.flatMap(\.values)), to: folder)
            provenance[caseName] = sources
            log("\(caseName): \(sources.count) slices, \(sources.filter { $0.tumour != nil }.count) with a synthetic tumour")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(provenance).write(to: output.appendingPathComponent("provenance.json"))
        // Each case stacks separate slices: no slice's neighbour in the file is its neighbour
        // in the body (see TrainingCase.cases(in:)).
        try Data(#"{"neighbouring_slices": false}"#.utf8).write(to: output.appendingPathComponent("layout.json"))
        return provenance
    }
}

extension Plane {
    func map<Other>(_ transform: (Value) -> Other) -> Plane<Other> {
        Plane<Other>(width: width, height: height, values: values.map(transform))
    }
}
