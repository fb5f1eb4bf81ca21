import Foundation
import Imaging
import NeuralNet

/// When a CT was taken after the contrast injection, which decides how each organ enhances.
public enum ContrastPhase: String, CaseIterable, Codable, Sendable {
    case nonContrast = "non-contrast", arterial, portal, nephrographic

    /// Typical attenuation in HU: (fat, muscle, liver, spleen, aorta, IVC, renal cortex, renal
    /// medulla, tumour mean range). Corticomedullary differentiation is strongest in the arterial
    /// phase and gone in the nephrographic; renal cell carcinoma enhances less than cortex after
    /// the arterial phase and is heterogeneous throughout.
    var tissues: (fat: Float, muscle: Float, liver: Float, spleen: Float, aorta: Float, cava: Float, cortex: Float, medulla: Float,
                  tumour: ClosedRange<Float>) {
        switch self {
        case .nonContrast: (-100, 50, 60, 45, 40, 40, 35, 30, 20...45)
        case .arterial: (-100, 55, 75, 120, 300, 90, 190, 80, 60...140)
        case .portal: (-100, 60, 110, 120, 170, 150, 170, 120, 40...100)
        case .nephrographic: (-100, 60, 105, 110, 140, 135, 165, 160, 30...90)
        }
    }
}

/// A whole abdominal CT volume built around a real KiTS19 label map, so that 3-D training and
/// evaluation data have real kidney and tumour anatomy at real spacing, with the organs a model
/// must learn to tell them from: the body wall (skin fat, muscle), visceral fat, the spine with
/// psoas and back muscles, aorta and inferior vena cava, liver, spleen, and bowel loops with air,
/// fluid or oral contrast. Organs are ellipses placed from the kidneys' positions; the kidneys get
/// cortex and medulla by depth, the tumours the texture of `TumourPainter`'s reasoning. The
/// volume is blurred like a scanner's point-spread and given correlated noise. Slices are thinned
/// to a spacing drawn from [`minimumThickness`, 5] mm, so phantoms span 0.5 to 5 mm.
public struct PhantomSynthesis: Sendable {
    /// Millimetres kept above and below the kidneys.
    public var margin = 30.0
    public var minimumThickness = 0.5
    public var noise: ClosedRange<Float> = 8...25

    public init() {}

    /// The phantom's HU and its labels (the map's, thinned and cropped alike), in canonical axial order.
    public func phantom(from labels: AxialStack<UInt8>, phase: ContrastPhase, using generator: inout SeededGenerator)
        -> (ct: AxialStack<Float>, labels: AxialStack<UInt8>)? {
        let (width, height) = (labels.size.x, labels.size.y)
        let plane = width * height
        let kidneySlices = (0..<labels.sliceCount).filter { z in labels.voxels[(z * plane)..<((z + 1) * plane)].contains { $0 > 0 } }
        guard let first = kidneySlices.first, let last = kidneySlices.last else { return nil }
        let thickness = max(labels.spacing.z, Double.random(in: max(minimumThickness, labels.spacing.z)...max(5, labels.spacing.z), using: &generator))
        let step = max(1, Int(thickness / labels.spacing.z))
        let reach = Int(margin / labels.spacing.z)
        let chosen = Array(stride(from: max(0, first - reach), through: min(labels.sliceCount - 1, last + reach), by: step))
        let spacing = SIMD3(labels.spacing.x, labels.spacing.y, labels.spacing.z * Double(step))
        let tissue = phase.tissues

        // Where the kidneys are decides where everything else goes (millimetres, canonical LPS:
        // x towards the patient's left, y towards the back).
        var sums = (x: 0.0, y: 0.0, count: 0.0)
        var extent = (left: Double.infinity, right: -Double.infinity, front: Double.infinity, back: -Double.infinity)
        for z in kidneySlices {
            for index in 0..<plane where labels.voxels[z * plane + index] > 0 {
                let (x, y) = (Double(index % width), Double(index / width))
                sums = (sums.x + x, sums.y + y, sums.count + 1)
                extent = (min(extent.left, x * spacing.x), max(extent.right, x * spacing.x), min(extent.front, y * spacing.y), max(extent.back, y * spacing.y))
            }
        }
        let middle = (x: sums.x / sums.count * spacing.x, y: sums.y / sums.count * spacing.y)
        let jitter = { (range: Double, generator: inout SeededGenerator) in Double.random(in: -range...range, using: &generator) }
        let spine = (x: middle.x + jitter(5, &generator), y: middle.y + 8 + jitter(5, &generator))
        // The body holds the kidneys with room for fat and muscle, and the back muscles behind the spine.
        var body = (x: spine.x, y: spine.y - 50 + jitter(10, &generator), a: 150 + jitter(25, &generator), b: 125 + jitter(15, &generator))
        body.a = max(body.a, max(body.x - extent.left, extent.right - body.x) + 45)
        body.b = max(body.b, extent.back - body.y + 50, spine.y + 80 - body.y)
        let skinFat = 15 + jitter(10, &generator)
        let bowel = (0..<Int.random(in: 5...10, using: &generator)).map { _ in
            (x: body.x + jitter(body.a * 0.55, &generator), y: body.y - Double.random(in: 10...(body.b * 0.6), using: &generator),
             radius: Double.random(in: 8...20, using: &generator), content: [Float(-850), 15, 220].randomElement(using: &generator)!)
        }
        let liverTop = Double(last) * labels.spacing.z + 40, spleenTop = Double(last) * labels.spacing.z + 30
        let center = Double(first + last) / 2 * labels.spacing.z

        var ct: [Float] = []
        var kept: [UInt8] = []
        ct.reserveCapacity(chosen.count * plane)
        for z in chosen {
            let height3 = Double(z) * labels.spacing.z
            let slice = labels.slice(z)
            let kidneyDepth = TumourPainter.depthInside(slice) { $0 == 1 }
            let tumourDepth = TumourPainter.depthInside(slice) { $0 == 2 }
            let field = TumourPainter.smoothNoise(width: width, height: height, sigma: Float(4 / spacing.x), using: &generator)
            // Organs taper towards their ends: a factor from 1 at the widest to 0.
            let liverScale = max(0, min(1, (liverTop - height3) / 80)) * max(0, min(1, (height3 - (center - 60)) / 60))
            let spleenScale = max(0, min(1, (spleenTop - height3) / 60)) * max(0, min(1, (height3 - center) / 40))
            var values = [Float](repeating: -1000, count: plane)
            for index in 0..<plane {
                let (x, y) = (Double(index % width) * spacing.x, Double(index / width) * spacing.y)
                func inside(_ cx: Double, _ cy: Double, _ a: Double, _ b: Double) -> Bool {
                    a > 0 && b > 0 && ((x - cx) / a) * ((x - cx) / a) + ((y - cy) / b) * ((y - cy) / b) <= 1
                }
                guard inside(body.x, body.y, body.a, body.b) || slice.values[index] > 0 else { continue }
                // Skin fat, then the muscle wall, then visceral fat wherever no organ is.
                var value = tissue.fat
                if !inside(body.x, body.y, body.a - skinFat - 8, body.b - skinFat - 8) {
                    if inside(body.x, body.y, body.a - skinFat, body.b - skinFat) { value = tissue.muscle }
                } else {
                    for loop in bowel where inside(loop.x, loop.y, loop.radius, loop.radius) {
                        value = inside(loop.x, loop.y, loop.radius - 3, loop.radius - 3) ? loop.content : tissue.muscle - 10
                    }
                    if inside(spine.x - 70, spine.y - 70, 85 * liverScale, 75 * liverScale) { value = tissue.liver }
                    if inside(spine.x + 85, spine.y - 5, 35 * spleenScale, 55 * spleenScale) { value = tissue.spleen }
                    if inside(spine.x + 15, spine.y - 32, 11, 11) { value = tissue.aorta }
                    if inside(spine.x - 24, spine.y - 30, 14, 10) { value = tissue.cava }
                    if inside(spine.x - 38, spine.y, 16, 20) || inside(spine.x + 38, spine.y, 16, 20) { value = tissue.muscle }
                    if inside(spine.x - 32, spine.y + 48, 24, 20) || inside(spine.x + 32, spine.y + 48, 24, 20) { value = tissue.muscle }
                    if inside(spine.x, spine.y, 20, 18) { value = inside(spine.x, spine.y, 17, 15) ? 250 : 700 }
                    if inside(spine.x, spine.y + 30, 13, 12) { value = inside(spine.x, spine.y + 30, 8, 7) ? 20 : 500 }
                }
                switch slice.values[index] {
                case 1: value = Double(kidneyDepth[index]) * spacing.x <= 5 ? tissue.cortex : tissue.medulla
                case 2:
                    let deep = Float(tumourDepth[index]) * Float(spacing.x) > 15
                    value = (tissue.tumour.lowerBound + tissue.tumour.upperBound) / 2 + 15 * field[index] - (deep ? 30 : 0)
                default: break
                }
                values[index] = value
            }
            let blurred = gaussianBlur(Plane(width: width, height: height, values: values), sigma: 0.7).values
            let grain = TumourPainter.smoothNoise(width: width, height: height, sigma: 0.8, using: &generator)
            let deviation = Float.random(in: noise, using: &generator)
            ct += zip(blurred, grain).map { $0 + deviation * $1 }
            kept += slice.values.map { min($0, 2) }
        }
        let size = GridSize(x: width, y: height, z: chosen.count)
        return (AxialStack(size: size, spacing: spacing, voxels: ct), AxialStack(size: size, spacing: spacing, voxels: kept))
    }

    /// One phantom per label map, in a phase drawn at random, written as KiTS-layout cases
    /// (`case_XXXXX/imaging.nii.gz` and `segmentation.nii.gz`, named after the map's case) in
    /// canonical axial order. Each phantom draws from its own generator (the seed and its case's
    /// name), so maps are made in parallel and any subset gives the same phantoms. Returns each
    /// case's phase.
    @discardableResult
    public func write(labelMaps: [URL], to output: URL, seed: UInt64, log: (String) -> Void = { _ in }) throws -> [String: ContrastPhase] {
        let lock = NSLock()
        var phases: [String: ContrastPhase] = [:]
        var failure: Error?
        ComputeThreads.parallelFor(labelMaps.count) { chunk in
            for map in labelMaps[chunk] {
                let name = map.deletingLastPathComponent().lastPathComponent
                do {
                    var generator = SeededGenerator(seed: seed, stream: name)
                    let phase = ContrastPhase.allCases.randomElement(using: &generator)!
                    let labels = try VolumeReader().readLabels(from: map).axialStack()
                    guard let (ct, kept) = phantom(from: labels, phase: phase, using: &generator) else { continue }
                    try TrainingCase.write(ct: ct, labels: kept, to: output.appendingPathComponent(name))
                    lock.withLock {
                        phases[name] = phase
                        log("\(name): \(phase.rawValue) phantom, \(ct.size.x) x \(ct.size.y) x \(ct.size.z) at "
                            + String(format: "%.2f x %.2f x %.2f", ct.spacing.x, ct.spacing.y, ct.spacing.z) + " mm")
                    }
                } catch {
                    lock.withLock { failure = failure ?? error }
                }
            }
        }
        if let failure { throw failure }
        return phases
    }
}
