import Foundation
import Imaging

/// Rebuilds volumes from a PNG-layout folder whose slices are consecutive axial slices of a few
/// patients (`kits19-real-slices`: `images/case_00002_0100.png` is slice 100 of case_00002), so
/// that they can be trained and judged as volumes: with 3-D context, 3-D clean-up, and one Dice
/// per patient pooled over its slices.
///
/// `spacing.json` beside `images/` gives each patient's `pixel_spacing_mm` (rows, columns) and
/// `slice_thickness_mm`. Slice numbers count along the source volume's first axis, which runs
/// from head to feet in KiTS19, so the highest number becomes the most inferior slice.
public enum SliceStacking {
    public struct PatientSpacing: Codable, Equatable, Sendable {
        public var pixelSpacing: [Double]
        public var sliceThickness: Double

        enum CodingKeys: String, CodingKey {
            case pixelSpacing = "pixel_spacing_mm"
            case sliceThickness = "slice_thickness_mm"
        }
    }

    /// Each patient's slices, sorted by number: the patient is the file name up to its last
    /// `_`, the number what follows.
    public static func patients(in folder: URL) throws -> [String: [(number: Int, image: URL, labels: URL)]] {
        var patients: [String: [(number: Int, image: URL, labels: URL)]] = [:]
        for slice in try TrainingCase.cases(in: folder) {
            let name = slice.name
            guard let separator = name.lastIndex(of: "_"), let number = Int(name[name.index(after: separator)...]) else {
                throw TrainingError.mismatchedCase(patient: name, reason: "the file name does not end in _NUMBER")
            }
            patients[String(name[..<separator]), default: []].append((number, slice.image, slice.labels))
        }
        return patients.mapValues { $0.sorted { $0.number < $1.number } }
    }

    /// Writes `output/<patient>/imaging.nii.gz` and `segmentation.nii.gz` for every patient, and
    /// returns the patients written. Slices must be consecutive and of one size.
    @discardableResult
    public static func stack(folder: URL, reader: VolumeReader, output: URL) throws -> [String] {
        let spacingFile = folder.appendingPathComponent("spacing.json")
        let spacings: [String: PatientSpacing]
        do { spacings = try JSONDecoder().decode([String: PatientSpacing].self, from: Data(contentsOf: spacingFile)) } catch {
            throw TrainingError.invalidSetting("\(spacingFile.path): \(error)")
        }
        let patients = try patients(in: folder)
        for (patient, slices) in patients.sorted(by: { $0.key < $1.key }) {
            guard let spacing = spacings[patient], spacing.pixelSpacing.count == 2, spacing.pixelSpacing.allSatisfy({ $0 > 0 }), spacing.sliceThickness > 0 else {
                throw TrainingError.mismatchedCase(patient: patient, reason: "spacing.json gives no usable spacing for it")
            }
            guard slices.last!.number - slices.first!.number + 1 == slices.count else {
                throw TrainingError.mismatchedCase(patient: patient, reason: "its slices \(slices.first!.number)-\(slices.last!.number) have gaps")
            }
            var ct: [Float] = []
            var labels: [UInt8] = []
            var size: (x: Int, y: Int)?
            for slice in slices.reversed() {
                let image = try reader.readCT(from: slice.image).axialStack()
                let mask = try reader.readLabels(from: slice.labels).axialStack()
                guard image.size == mask.size, size == nil || size! == (image.size.x, image.size.y) else {
                    throw TrainingError.mismatchedCase(patient: patient, reason: "slice \(slice.number) differs in size from its labels or the other slices")
                }
                size = (image.size.x, image.size.y)
                ct += image.voxels
                labels += mask.voxels
            }
            let grid = GridSize(x: size!.x, y: size!.y, z: slices.count)
            // pixel_spacing_mm is (rows, columns): the y spacing first.
            let millimetres = SIMD3(spacing.pixelSpacing[1], spacing.pixelSpacing[0], spacing.sliceThickness)
            try TrainingCase.write(ct: AxialStack(size: grid, spacing: millimetres, voxels: ct),
                                   labels: AxialStack(size: grid, spacing: millimetres, voxels: labels),
                                   to: output.appendingPathComponent(patient))
        }
        return patients.keys.sorted()
    }
}
