import Foundation
import Imaging

/// Paints a real tumour shape into a real contrast CT slice, beside one of its kidneys, and labels
/// it. The choices follow how renal tumours look on contrast-enhanced CT, and what
/// ../shared/docs/FINDINGS.md measured about synthetic tumours that teach a model real ones:
///
/// - **Shape and size** come from KiTS19 cross-sections (`LesionShape`), kidney part included:
///   real tumours are often as large as the kidney tissue beside them or larger, lobulated, and
///   exophytic. Small blobs inside the kidney taught a model nothing (tumour Dice 0.00); real
///   KiTS shapes took it to 0.65. The cross-section is placed so that its kidney part lies on the
///   image's own kidney, which it extends, as a tumour displaces and deforms the kidney.
/// - **Attenuation.** Renal cell carcinomas enhance less than the cortex in the nephrographic and
///   portal phases: a mean of roughly 25-90 HU against 150-200 HU for cortex, so the tumour is a
///   darker mass against the bright kidney, with a wide spread.
/// - **Heterogeneity.** Low-frequency variation of 8-25 HU (smoothed noise a few pixels across),
///   not a flat fill: flat synthetic regions are easy to learn and do not transfer.
/// - **Necrosis.** Larger tumours often have a central, non-enhancing core near water
///   (0-25 HU); a third of tumours over 300 pixels get one, deepest at the centre.
/// - **Bright spots.** Calcification or tumour vessels: a few small spots of 150-250 HU in some.
/// - **Margins.** One pixel of partial-volume blend with what was there, and CT noise (σ 6 HU)
///   over the painted area, so no edge is sharper than the scanner's.
/// - The kidney part of the cross-section that falls outside the image's kidney is painted with
///   that kidney's own mean and spread, so kidney intensity is the image's, not a constant.
///
/// Values are clamped to `clamp` when the source images were stored clamped (the CURVAS PNGs hold
/// clamp(HU, 0, 255)).
public struct TumourPainter: Sendable {
    public var meanHounsfield: ClosedRange<Float> = 25...90
    public var heterogeneity: ClosedRange<Float> = 8...25
    public var necrosisProbability = 1.0 / 3
    public var brightSpotProbability = 0.15
    public var noise: Float = 6
    public var clamp: ClosedRange<Float>?

    public init(clamp: ClosedRange<Float>? = nil) { self.clamp = clamp }

    /// Paints `shape` beside a randomly chosen kidney of at least 150 pixels. Returns false, and
    /// changes nothing, when the slice has no such kidney.
    public func paint(_ shape: LesionShape, into image: inout Plane<Float>, labels: inout Plane<UInt8>,
                      using generator: inout SeededGenerator) -> Bool {
        let (width, height) = (image.width, image.height)
        let kidneys = ConnectedComponents(size: GridSize(x: width, y: height, z: 1)) { labels.values[$0] == 1 }
        let candidates = kidneys.sizes.indices.filter { kidneys.sizes[$0] >= 150 }
        guard let kidney = candidates.randomElement(using: &generator) else { return false }
        let kidneyPixels = kidneys.labels.indices.filter { kidneys.labels[$0] == Int32(kidney + 1) }
        let kidneyValues = kidneyPixels.map { image.values[$0] }
        let kidneyMean = kidneyValues.reduce(0, +) / Float(kidneyValues.count)
        let kidneySpread = (kidneyValues.map { ($0 - kidneyMean) * ($0 - kidneyMean) }.reduce(0, +) / Float(kidneyValues.count)).squareRoot()

        // Place the cross-section's kidney part (or its tumour, if it has none) on this kidney.
        var mask = shape.mask
        if Bool.random(using: &generator) { mask = Plane(width: mask.width, height: mask.height, values: (0..<mask.values.count).map {
            mask.values[($0 / mask.width) * mask.width + mask.width - 1 - $0 % mask.width]
        }) }
        let anchor = mask.values.contains(1) ? UInt8(1) : 2
        let (shapeX, shapeY) = Self.centroid(of: mask.values.indices.filter { mask.values[$0] == anchor }, width: mask.width)
        let (kidneyX, kidneyY) = Self.centroid(of: kidneyPixels, width: width)
        let offsetX = Int((kidneyX - shapeX + Float.random(in: -3...3, using: &generator)).rounded())
        let offsetY = Int((kidneyY - shapeY + Float.random(in: -3...3, using: &generator)).rounded())

        let depth = Self.depthInside(mask) { $0 == 2 }
        let maximumDepth = Float(depth.max() ?? 1)
        let field = Self.smoothNoise(width: mask.width, height: mask.height, sigma: 3, using: &generator)
        let mean = Float.random(in: meanHounsfield, using: &generator)
        let variation = Float.random(in: heterogeneity, using: &generator)
        let necrosis = shape.tumourPixels > 300 && Double.random(in: 0..<1, using: &generator) < necrosisProbability
            ? Float.random(in: 30...60, using: &generator) : 0
        var spots: [(x: Int, y: Int, radius: Int, value: Float)] = []
        if Double.random(in: 0..<1, using: &generator) < brightSpotProbability {
            let inside = mask.values.indices.filter { mask.values[$0] == 2 && depth[$0] >= 2 }
            for _ in 0..<Int.random(in: 1...3, using: &generator) {
                guard let index = inside.randomElement(using: &generator) else { break }
                spots.append((index % mask.width, index / mask.width, Int.random(in: 1...2, using: &generator), Float.random(in: 150...250, using: &generator)))
            }
        }

        for index in mask.values.indices where mask.values[index] > 0 {
            let (x, y) = (index % mask.width + offsetX, index / mask.width + offsetY)
            guard x >= 0, y >= 0, x < width, y < height else { continue }
            let target = y * width + x
            var value: Float
            if mask.values[index] == 2 {
                let relativeDepth = Float(depth[index]) / maximumDepth
                value = mean + variation * field[index] - necrosis * Self.smoothstep(0.4, 0.8, relativeDepth)
                for spot in spots {
                    let (dx, dy) = (spot.x - index % mask.width, spot.y - index / mask.width)
                    if dx * dx + dy * dy <= spot.radius * spot.radius { value = spot.value }
                }
                // Partial volume: the outermost pixel is half what was there.
                let weight: Float = depth[index] <= 1 ? 0.5 : 1
                value = weight * value + (1 - weight) * image.values[target]
                labels.values[target] = 2
            } else {
                guard labels.values[target] == 0 else { continue }
                value = kidneyMean + 0.5 * kidneySpread * field[index]
                labels.values[target] = 1
            }
            value += noise * generator.normal()
            image.values[target] = clamp.map { min(max(value, $0.lowerBound), $0.upperBound) } ?? value
        }
        return true
    }

    static func centroid(of pixels: [Int], width: Int) -> (Float, Float) {
        let count = Float(max(1, pixels.count))
        return (Float(pixels.reduce(0) { $0 + $1 % width }) / count, Float(pixels.reduce(0) { $0 + $1 / width }) / count)
    }

    /// For each pixel where `isInside`, its 4-connected distance in pixels to the nearest pixel
    /// outside (1 on the edge); 0 outside.
    static func depthInside(_ mask: Plane<UInt8>, isInside: (UInt8) -> Bool) -> [Int] {
        var depth = mask.values.map { isInside($0) ? Int.max : 0 }
        var frontier = depth.indices.filter { depth[$0] == 0 }
        var distance = 0
        // Pixels beyond the image's border count as outside.
        for index in depth.indices where depth[index] != 0 {
            let (x, y) = (index % mask.width, index / mask.width)
            if x == 0 || y == 0 || x == mask.width - 1 || y == mask.height - 1 { depth[index] = 1 }
        }
        while !frontier.isEmpty {
            distance += 1
            var next: [Int] = []
            for index in frontier {
                let (x, y) = (index % mask.width, index / mask.width)
                for (nx, ny) in [(x - 1, y), (x + 1, y), (x, y - 1), (x, y + 1)] where nx >= 0 && ny >= 0 && nx < mask.width && ny < mask.height {
                    let neighbour = ny * mask.width + nx
                    if depth[neighbour] > distance {
                        depth[neighbour] = distance
                        next.append(neighbour)
                    }
                }
            }
            frontier = next
        }
        return depth
    }

    /// Gaussian-smoothed white noise scaled to unit standard deviation.
    static func smoothNoise(width: Int, height: Int, sigma: Float, using generator: inout SeededGenerator) -> [Float] {
        let noise = Plane(width: width, height: height, values: (0..<(width * height)).map { _ in generator.normal() })
        let smooth = gaussianBlur(noise, sigma: sigma).values
        let spread = (smooth.map { $0 * $0 }.reduce(0, +) / Float(max(1, smooth.count))).squareRoot()
        return smooth.map { $0 / max(spread, 1e-6) }
    }

    static func smoothstep(_ low: Float, _ high: Float, _ x: Float) -> Float {
        let t = min(max((x - low) / (high - low), 0), 1)
        return t * t * (3 - 2 * t)
    }
}
