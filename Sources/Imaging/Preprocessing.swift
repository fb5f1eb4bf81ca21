import Foundation

/// A Hounsfield window: values are clipped to [lower, upper] and scaled to [0, 1]. KiTS19's
/// recipe uses [-125, 225], which spans fat to enhancing kidney.
public struct HounsfieldWindow: Equatable, Hashable, Sendable, Codable {
    public var lower: Float
    public var upper: Float

    public init(lower: Float, upper: Float) {
        precondition(lower < upper, "a window's lower bound must be below its upper bound")
        self.lower = lower
        self.upper = upper
    }

    public static let kits19 = HounsfieldWindow(lower: -125, upper: 225)

    public func scaled(_ hounsfield: Float) -> Float {
        (min(max(hounsfield, lower), upper) - lower) / (upper - lower)
    }

    public func apply(to values: inout [Float]) {
        for index in values.indices { values[index] = scaled(values[index]) }
    }
}

/// Clips Hounsfield units to a window and scales them to [0, 1].
public func windowHounsfield(_ values: [Float], lower: Float, upper: Float) -> [Float] {
    var windowed = values
    HounsfieldWindow(lower: lower, upper: upper).apply(to: &windowed)
    return windowed
}

/// Noise removal applied to each slice before inference, when a model's manifest asks for it.
public enum Denoising: Equatable, Hashable, Sendable {
    case none
    /// The median of each pixel's 3x3 neighbourhood: removes speckle, keeps edges.
    case median3x3
    /// A Gaussian blur with this standard deviation in pixels.
    case gaussian(sigma: Float)

    public func apply(to image: Plane<Float>) -> Plane<Float> {
        switch self {
        case .none: image
        case .median3x3: medianFilter3x3(image)
        case let .gaussian(sigma): gaussianBlur(image, sigma: sigma)
        }
    }
}

/// 3x3 median; pixels beyond the border repeat the nearest edge pixel.
public func medianFilter3x3(_ image: Plane<Float>) -> Plane<Float> {
    var output = image
    var window = [Float](repeating: 0, count: 9)
    for y in 0..<image.height {
        for x in 0..<image.width {
            var count = 0
            for dy in -1...1 {
                for dx in -1...1 {
                    window[count] = image[clamp(x + dx, image.width), clamp(y + dy, image.height)]
                    count += 1
                }
            }
            window.sort()
            output[x, y] = window[4]
        }
    }
    return output
}

/// Separable Gaussian blur with a kernel of radius ⌈3σ⌉, normalised to sum 1; edges repeat.
public func gaussianBlur(_ image: Plane<Float>, sigma: Float) -> Plane<Float> {
    precondition(sigma > 0, "sigma must be positive")
    let radius = Int((3 * sigma).rounded(.up))
    let raw = (-radius...radius).map { exp(-Float($0 * $0) / (2 * sigma * sigma)) }
    let total = raw.reduce(0, +)
    let kernel = raw.map { $0 / total }
    var horizontal = image
    for y in 0..<image.height {
        for x in 0..<image.width {
            horizontal[x, y] = kernel.indices.reduce(0) { $0 + kernel[$1] * image[clamp(x + $1 - radius, image.width), y] }
        }
    }
    var output = horizontal
    for y in 0..<image.height {
        for x in 0..<image.width {
            output[x, y] = kernel.indices.reduce(0) { $0 + kernel[$1] * horizontal[x, clamp(y + $1 - radius, image.height)] }
        }
    }
    return output
}

private func clamp(_ index: Int, _ count: Int) -> Int { min(max(index, 0), count - 1) }
