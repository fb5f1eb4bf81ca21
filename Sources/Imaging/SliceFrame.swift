/// Where a model's input grid lies on an axial slice, in millimetres, and the resampling both
/// ways: the slice onto the model's grid, and the model's output back onto the slice.
///
/// Positions are those of pixel centres: source pixel (i, j) sits at (i·sx, j·sy) mm, and model
/// pixel (u, v) at `origin + (u·spacing.x, v·spacing.y)`. So a frame with a fixed spacing shows a
/// kidney at the same size in pixels whatever the scanner's pixel size, and restoring undoes
/// sampling exactly up to interpolation.
public struct SliceFrame: Equatable, Sendable {
    public var sourceWidth: Int
    public var sourceHeight: Int
    /// Millimetres per source pixel along x and y.
    public var sourceSpacing: SIMD2<Double>
    public var width: Int
    public var height: Int
    /// Millimetres per model pixel along x and y.
    public var spacing: SIMD2<Double>
    /// Where model pixel (0, 0)'s centre lies, in the source's millimetres.
    public var origin: SIMD2<Double>

    public init(sourceWidth: Int, sourceHeight: Int, sourceSpacing: SIMD2<Double>, width: Int, height: Int,
                spacing: SIMD2<Double>, origin: SIMD2<Double>) {
        precondition(sourceWidth > 0 && sourceHeight > 0 && width > 0 && height > 0, "frame sizes must be positive")
        precondition(sourceSpacing.x > 0 && sourceSpacing.y > 0 && spacing.x > 0 && spacing.y > 0, "spacings must be positive")
        (self.sourceWidth, self.sourceHeight, self.sourceSpacing) = (sourceWidth, sourceHeight, sourceSpacing)
        (self.width, self.height, self.spacing, self.origin) = (width, height, spacing, origin)
    }

    /// The whole slice stretched onto width x height, whatever its aspect ratio: the frame of
    /// models whose manifest names no pixel spacing.
    public static func stretched(sourceWidth: Int, sourceHeight: Int, sourceSpacing: SIMD2<Double>, width: Int, height: Int) -> SliceFrame {
        let spacing = SIMD2(Double(sourceWidth) / Double(width), Double(sourceHeight) / Double(height)) * sourceSpacing
        // The two grids share their outer edges: half a pixel beyond the first centre of each.
        let origin = (spacing - sourceSpacing) / 2
        return SliceFrame(sourceWidth: sourceWidth, sourceHeight: sourceHeight, sourceSpacing: sourceSpacing,
                          width: width, height: height, spacing: spacing, origin: origin)
    }

    /// A width x height grid of `spacing` mm pixels centred on `centre` (mm).
    public static func centred(on centre: SIMD2<Double>, sourceWidth: Int, sourceHeight: Int, sourceSpacing: SIMD2<Double>,
                               spacing: Double, width: Int, height: Int) -> SliceFrame {
        let origin = centre - SIMD2(Double(width - 1), Double(height - 1)) * spacing / 2
        return SliceFrame(sourceWidth: sourceWidth, sourceHeight: sourceHeight, sourceSpacing: sourceSpacing,
                          width: width, height: height, spacing: SIMD2(spacing, spacing), origin: origin)
    }

    /// The slice on the model's grid. Where the grid reaches beyond the slice it reads `fill`.
    public func sample(_ slice: Plane<Float>, fill: Float) -> Plane<Float> {
        precondition(slice.width == sourceWidth && slice.height == sourceHeight, "the slice is not this frame's source size")
        return resample(slice, fill: fill,
                        columns: AxisResampling(sourceCount: sourceWidth, sourceSpacing: sourceSpacing.x, sourceOrigin: 0,
                                                targetCount: width, targetSpacing: spacing.x, targetOrigin: origin.x),
                        rows: AxisResampling(sourceCount: sourceHeight, sourceSpacing: sourceSpacing.y, sourceOrigin: 0,
                                             targetCount: height, targetSpacing: spacing.y, targetOrigin: origin.y))
    }

    /// A plane on the model's grid (one class's probabilities, say) back on the slice's grid.
    /// Where the slice reaches beyond the model's grid it reads `fill`.
    public func restore(_ plane: Plane<Float>, fill: Float) -> Plane<Float> {
        precondition(plane.width == width && plane.height == height, "the plane is not this frame's model size")
        return resample(plane, fill: fill,
                        columns: AxisResampling(sourceCount: width, sourceSpacing: spacing.x, sourceOrigin: origin.x,
                                                targetCount: sourceWidth, targetSpacing: sourceSpacing.x, targetOrigin: 0),
                        rows: AxisResampling(sourceCount: height, sourceSpacing: spacing.y, sourceOrigin: origin.y,
                                             targetCount: sourceHeight, targetSpacing: sourceSpacing.y, targetOrigin: 0))
    }

    /// Labels on the model's grid, nearest neighbour (for training targets); outside is 0.
    public func sampleNearest(_ labels: Plane<UInt8>) -> Plane<UInt8> {
        precondition(labels.width == sourceWidth && labels.height == sourceHeight, "the labels are not this frame's source size")
        func nearest(_ index: Int, _ axis: Int) -> Int {
            let millimetres = origin[axis] + Double(index) * spacing[axis]
            return Int((millimetres / sourceSpacing[axis]).rounded())
        }
        let columns = (0..<width).map { nearest($0, 0) }
        var output = [UInt8](repeating: 0, count: width * height)
        for v in 0..<height {
            let row = nearest(v, 1)
            guard row >= 0 && row < sourceHeight else { continue }
            for (u, column) in columns.enumerated() where column >= 0 && column < sourceWidth {
                output[v * width + u] = labels.values[row * sourceWidth + column]
            }
        }
        return Plane(width: width, height: height, values: output)
    }

    private func resample(_ plane: Plane<Float>, fill: Float, columns: AxisResampling, rows: AxisResampling) -> Plane<Float> {
        let (targetWidth, targetHeight) = (columns.targetCount, rows.targetCount)
        // Columns first, on only the source rows that some output row reads.
        var needed = [Bool](repeating: false, count: plane.height)
        for y in 0..<targetHeight { for k in 0..<rows.count[y] { needed[rows.first[y] + k] = true } }
        var horizontal = [Float](repeating: fill, count: targetWidth * plane.height)
        plane.values.withUnsafeBufferPointer { input in
            horizontal.withUnsafeMutableBufferPointer { horizontal in
                for y in 0..<plane.height where needed[y] {
                    columns.resample(input.baseAddress! + y * plane.width, fill: fill, into: horizontal.baseAddress! + y * targetWidth)
                }
            }
        }
        // Then rows: each output row is a weighted sum of whole rows.
        var output = [Float](repeating: 0, count: targetWidth * targetHeight)
        horizontal.withUnsafeBufferPointer { horizontal in
            output.withUnsafeMutableBufferPointer { output in
                for y in 0..<targetHeight {
                    let row = output.baseAddress! + y * targetWidth
                    row.update(repeating: rows.outside[y] * fill, count: targetWidth)
                    for k in 0..<rows.count[y] {
                        let weight = rows.weights[rows.offset[y] + k]
                        let source = horizontal.baseAddress! + (rows.first[y] + k) * targetWidth
                        for x in 0..<targetWidth { row[x] += weight * source[x] }
                    }
                }
            }
        }
        return Plane(width: targetWidth, height: targetHeight, values: output)
    }
}

/// Linear interpolation from one evenly spaced grid onto another along one axis. Shrinking
/// widens the triangle filter to the target's spacing, so that every source pixel counts (no
/// aliasing of CT noise); growing is plain linear interpolation. Weights are normalised, and the
/// share that falls outside the source is `outside`, for the caller's fill value.
struct AxisResampling {
    /// Target `i` reads the source pixels `first[i] ..< first[i] + count[i]` (inside the source),
    /// with the weights from `weights[offset[i]]` on, stored flat for the inner loops.
    var first: [Int] = [], count: [Int] = [], offset: [Int] = []
    var weights: [Float] = []
    var outside: [Float] = []

    var targetCount: Int { first.count }

    init(sourceCount: Int, sourceSpacing: Double, sourceOrigin: Double, targetCount: Int, targetSpacing: Double, targetOrigin: Double) {
        let radius = max(1, targetSpacing / sourceSpacing)
        for target in 0..<targetCount {
            let position = (targetOrigin + Double(target) * targetSpacing - sourceOrigin) / sourceSpacing
            var inside: [(index: Int, weight: Double)] = []
            var total = 0.0, beyond = 0.0
            for index in Int((position - radius).rounded(.up))...Int((position + radius).rounded(.down)) {
                let weight = 1 - abs(Double(index) - position) / radius
                guard weight > 0 else { continue }
                total += weight
                if index >= 0 && index < sourceCount { inside.append((index, weight)) } else { beyond += weight }
            }
            // The pixels inside the source are consecutive.
            first.append(inside.first?.index ?? 0)
            count.append(inside.count)
            offset.append(weights.count)
            weights += inside.map { Float($0.weight / total) }
            outside.append(Float(beyond / total))
        }
    }

    /// One line: `output[i] = outside[i] · fill + Σ weight · input[pixel]`.
    func resample(_ input: UnsafePointer<Float>, fill: Float, into output: UnsafeMutablePointer<Float>) {
        first.withUnsafeBufferPointer { first in
            count.withUnsafeBufferPointer { count in
                offset.withUnsafeBufferPointer { offset in
                    weights.withUnsafeBufferPointer { weights in
                        for target in 0..<first.count {
                            var sum = outside[target] * fill
                            for k in 0..<count[target] { sum += weights[offset[target] + k] * input[first[target] + k] }
                            output[target] = sum
                        }
                    }
                }
            }
        }
    }
}
