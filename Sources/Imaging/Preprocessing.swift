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

/// Bilinear resampling with pixel centres aligned (PyTorch's `align_corners=False`, OpenCV's
/// default), so that shrinking and growing back keeps structures in place.
public func resizeBilinear(_ image: Plane<Float>, width: Int, height: Int) -> Plane<Float> {
    precondition(width > 0 && height > 0 && image.width > 0 && image.height > 0, "sizes must be positive")
    let columns = interpolationTaps(from: image.width, to: width)
    let rows = interpolationTaps(from: image.height, to: height)
    var output = [Float](repeating: 0, count: width * height)
    image.values.withUnsafeBufferPointer { input in
        for (y, row) in rows.enumerated() {
            let upper = row.low * image.width
            let lower = row.high * image.width
            for (x, column) in columns.enumerated() {
                let top = input[upper + column.low] * (1 - column.weight) + input[upper + column.high] * column.weight
                let bottom = input[lower + column.low] * (1 - column.weight) + input[lower + column.high] * column.weight
                output[y * width + x] = top * (1 - row.weight) + bottom * row.weight
            }
        }
    }
    return Plane(width: width, height: height, values: output)
}

/// Resamples each channel (for example each class's probability) to the given size.
public func resizeBilinear(channels: [Plane<Float>], width: Int, height: Int) -> [Plane<Float>] {
    channels.map { resizeBilinear($0, width: width, height: height) }
}

/// For each output position along one axis: the two input positions it blends, and the weight of
/// the second.
private func interpolationTaps(from inputSize: Int, to outputSize: Int) -> [(low: Int, high: Int, weight: Float)] {
    let scale = Double(inputSize) / Double(outputSize)
    return (0..<outputSize).map { position in
        let source = max(0, (Double(position) + 0.5) * scale - 0.5)
        let low = min(Int(source), inputSize - 1)
        let high = min(low + 1, inputSize - 1)
        return (low, high, Float(source - Double(low)))
    }
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

/// Nearest-neighbour resampling with pixel centres aligned, for label maps: each output pixel
/// takes the value under its centre.
public func resizeNearest<Value>(_ image: Plane<Value>, width: Int, height: Int) -> Plane<Value> {
    let columns = (0..<width).map { min(Int((Double($0) + 0.5) * Double(image.width) / Double(width)), image.width - 1) }
    let rows = (0..<height).map { min(Int((Double($0) + 0.5) * Double(image.height) / Double(height)), image.height - 1) }
    return Plane(width: width, height: height, values: rows.flatMap { row in columns.map { image.values[row * image.width + $0] } })
}
