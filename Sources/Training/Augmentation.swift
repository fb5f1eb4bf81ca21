import Foundation
import Imaging

/// The U-Net paper's augmentation: a share `proportion` of the images (0.75 by default) is
/// augmented, and each listed step then applies with probability `stepProbability` (1/2). Spatial steps move the
/// image (bilinear) and its labels (nearest neighbour) by one shared map, so they stay aligned;
/// intensity steps touch the image alone, whose values are the model's [0, 1] input, `window`
/// of Hounsfield units.
///
/// Two steps are for what hospitals send rather than the paper's recipe:
/// - `contrastPhase` moves the image towards another phase: the kidney's and the tumour's
///   enhancement (found from the labels) towards native attenuation, or beyond the training
///   phase up to twice its enhancement (an excretory or delayed phase, where a kidney fills the
///   window), and the soft tissue that enhances (40 to 150 HU) towards 40 HU, fading out
///   by 250 HU so that bone, which does not enhance, stays as bright as it is; so that a model
///   trained on arterial-phase KiTS19 also sees non-contrast and portal-venous kidneys;
/// - `clampAtZero` stores the image as the 8-bit PNG sets do, everything below 0 HU at 0 HU, so
///   that one model serves those and full-range CT.
public struct Augmentation: Sendable, Equatable {
    public enum Step: String, CaseIterable, Codable, Sendable {
        case flip, rotation, elastic, gridDistortion = "grid-distortion", cropPad = "crop-pad"
        case contrastPhase = "contrast-phase", clampAtZero = "clamp-at-zero"
        case brightness, contrast, gamma, blur, noise
    }

    public var proportion: Double
    public var steps: [Step]
    public var stepProbability: Double
    public var window: HounsfieldWindow

    public init(proportion: Double = 0.75, steps: [Step] = Step.allCases, stepProbability: Double = 0.5, window: HounsfieldWindow = .kits19) {
        self.proportion = proportion
        self.steps = steps
        self.stepProbability = stepProbability
        self.window = window
    }

    /// Augments one slice: its image, one plane per input channel (a 2.5-D model's neighbouring
    /// slices move and change together), and its labels.
    public func apply(image: inout [Plane<Float>], labels: inout Plane<UInt8>, using generator: inout SeededGenerator) {
        guard Double.random(in: 0..<1, using: &generator) < proportion else { return }
        let chosen = steps.filter { _ in Double.random(in: 0..<1, using: &generator) < stepProbability }
        var map = SamplingMap(width: labels.width, height: labels.height)
        for step in chosen { map.compose(step, using: &generator) }
        if !map.isIdentity {
            image = image.map(map.sample)
            labels = map.sampleNearest(labels)
        }
        for step in chosen { adjustIntensity(step, &image, labels: labels, using: &generator) }
    }

    /// An intensity step, with one draw of its parameters for every channel.
    private func adjustIntensity(_ step: Step, _ image: inout [Plane<Float>], labels: Plane<UInt8>, using generator: inout SeededGenerator) {
        func each(_ change: (inout Plane<Float>) -> Void) { for channel in image.indices { change(&image[channel]) } }
        switch step {
        case .contrastPhase:
            // Enhancement scales with contrast: f = 0 is native, f = 1 the image as it is.
            let kidneyFactor = Float.random(in: 0...2, using: &generator)
            let tissueFactor = Float.random(in: 0.4...1, using: &generator)
            let kidney = gaussianBlur(Plane(width: labels.width, height: labels.height, values: labels.values.map { $0 > 0 ? 1 : 0 }), sigma: 1)
            let scale = window.upper - window.lower
            each { plane in
                for index in plane.values.indices {
                    let hounsfield = window.lower + plane.values[index] * scale
                    let enhancing = min(max((250 - hounsfield) / 100, 0), 1)
                    let tissue = hounsfield > 40 ? hounsfield - enhancing * (hounsfield - 40) * (1 - tissueFactor) : hounsfield
                    let renal = 35 + (hounsfield - 35) * kidneyFactor
                    let weight = kidney.values[index]
                    plane.values[index] = window.scaled(weight * renal + (1 - weight) * tissue)
                }
            }
        case .clampAtZero:
            let zero = window.scaled(0)
            each { $0.values = $0.values.map { max($0, zero) } }
        case .brightness:
            let shift = Float.random(in: -0.1...0.1, using: &generator)
            each { $0.values = $0.values.map { $0 + shift } }
        case .contrast:
            let factor = Float.random(in: 0.8...1.2, using: &generator)
            each { plane in
                let mean = plane.values.reduce(0, +) / Float(plane.values.count)
                plane.values = plane.values.map { mean + ($0 - mean) * factor }
            }
        case .gamma:
            let gamma = Float.random(in: 0.7...1.5, using: &generator)
            each { $0.values = $0.values.map { pow(min(max($0, 0), 1), gamma) } }
        case .blur:
            let sigma = Float.random(in: 0.5...1.2, using: &generator)
            each { $0 = gaussianBlur($0, sigma: sigma) }
        case .noise:
            let deviation = Float.random(in: 0...0.05, using: &generator)
            for channel in image.indices { image[channel].values = image[channel].values.map { $0 + deviation * generator.normal() } }
        case .flip, .rotation, .elastic, .gridDistortion, .cropPad:
            break
        }
    }
}

/// For every output pixel, the (x, y) of the input it samples. Spatial steps compose onto it, so
/// the image is resampled once whatever the number of steps.
struct SamplingMap {
    let width: Int
    let height: Int
    var x: [Float]
    var y: [Float]
    private(set) var isIdentity = true

    init(width: Int, height: Int) {
        self.width = width
        self.height = height
        x = (0..<(width * height)).map { Float($0 % width) }
        y = (0..<(width * height)).map { Float($0 / width) }
    }

    mutating func compose(_ step: Augmentation.Step, using generator: inout SeededGenerator) {
        let (centreX, centreY) = (Float(width - 1) / 2, Float(height - 1) / 2)
        switch step {
        case .flip:
            // Left-right: axial models must not depend on which side is the patient's right.
            x = x.map { Float(width - 1) - $0 }
        case .rotation:
            let angle = Float.random(in: -15...15, using: &generator) * .pi / 180
            let (c, s) = (cos(angle), sin(angle))
            for index in x.indices {
                let (dx, dy) = (x[index] - centreX, y[index] - centreY)
                (x[index], y[index]) = (centreX + c * dx - s * dy, centreY + s * dx + c * dy)
            }
        case .elastic:
            // Simard et al.: a random field smoothed by a Gaussian, scaled.
            let sigma = Float(max(width, height)) / 16
            let alpha = Float(max(width, height)) / 8
            let fields = (0..<2).map { _ in
                gaussianBlur(Plane(width: width, height: height, values: (0..<(width * height)).map { _ in Float.random(in: -1...1, using: &generator) }), sigma: sigma)
            }
            let scale = alpha / max(fields.flatMap(\.values).map(abs).max() ?? 1, 1e-6)
            for index in x.indices {
                x[index] += scale * fields[0].values[index]
                y[index] += scale * fields[1].values[index]
            }
        case .gridDistortion:
            let warpX = Self.gridWarp(count: width, using: &generator)
            let warpY = Self.gridWarp(count: height, using: &generator)
            for index in x.indices {
                x[index] = Self.interpolate(warpX, at: x[index])
                y[index] = Self.interpolate(warpY, at: y[index])
            }
        case .cropPad:
            // Zoom in (a crop, resized back) or out (padded), and shift.
            // Also the scale augmentation: kidneys differ in size between patients beyond what
            // resampling to a fixed spacing removes.
            let scale = Float.random(in: 0.8...1.25, using: &generator)
            let shift = (Float.random(in: -0.08...0.08, using: &generator) * Float(width), Float.random(in: -0.08...0.08, using: &generator) * Float(height))
            for index in x.indices {
                x[index] = centreX + (x[index] - centreX) / scale + shift.0
                y[index] = centreY + (y[index] - centreY) / scale + shift.1
            }
        case .contrastPhase, .clampAtZero, .brightness, .contrast, .gamma, .blur, .noise:
            return
        }
        isIdentity = false
    }

    /// Five cells along an axis, each stretched by a random factor in [0.7, 1.3], rescaled to
    /// span the axis: the positions of the cell borders.
    private static func gridWarp(count: Int, using generator: inout SeededGenerator) -> [Float] {
        let steps = (0..<5).map { _ in Float.random(in: 0.7...1.3, using: &generator) }
        let total = steps.reduce(0, +)
        var borders: [Float] = [0]
        for step in steps { borders.append(borders.last! + step / total * Float(count - 1)) }
        return borders
    }

    /// Where `position` (on the evenly spaced grid) lands on the warped grid.
    private static func interpolate(_ borders: [Float], at position: Float) -> Float {
        let span = borders.last!
        let cell = min(max(Int(position / span * Float(borders.count - 1)), 0), borders.count - 2)
        let start = Float(cell) * span / Float(borders.count - 1)
        let fraction = (position - start) / (span / Float(borders.count - 1))
        return borders[cell] + fraction * (borders[cell + 1] - borders[cell])
    }

    /// Bilinear; outside the image reads 0 (below the window: air or fat).
    func sample(_ image: Plane<Float>) -> Plane<Float> {
        var output = image
        for index in x.indices {
            let (sx, sy) = (x[index], y[index])
            let (x0, y0) = (Int(sx.rounded(.down)), Int(sy.rounded(.down)))
            let (fx, fy) = (sx - Float(x0), sy - Float(y0))
            func at(_ px: Int, _ py: Int) -> Float { px >= 0 && py >= 0 && px < width && py < height ? image.values[py * width + px] : 0 }
            output.values[index] = (at(x0, y0) * (1 - fx) + at(x0 + 1, y0) * fx) * (1 - fy) + (at(x0, y0 + 1) * (1 - fx) + at(x0 + 1, y0 + 1) * fx) * fy
        }
        return output
    }

    /// Nearest neighbour; outside the image is background.
    func sampleNearest(_ labels: Plane<UInt8>) -> Plane<UInt8> {
        var output = labels
        for index in x.indices {
            let (px, py) = (Int(x[index].rounded()), Int(y[index].rounded()))
            output.values[index] = px >= 0 && py >= 0 && px < width && py < height ? labels.values[py * width + px] : 0
        }
        return output
    }
}
