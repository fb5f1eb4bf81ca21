/// The patient's body in a CT, found from the image alone: in each axial slice, everything
/// that is not air reached from the image's border. Air inside the body (bowel gas, lungs) stays
/// inside, and so does the fat under the skin. The mask is kept on a grid of 1.5 mm or finer,
/// which is all that centring a crop and judging whole components need.
///
/// "Air" is what lies below `threshold(forMinimum:)`: −300 HU in full-range CT; just above the
/// floor in clipped images, whose air was stored at the window's lower end (KiTS19's −125 HU, or
/// the 0 HU of the 8-bit PNG sets). There fat reads as air too, so the skin, a thin line with
/// gaps, is all that walls the body in: a clipped slice's solid pixels are first closed over
/// `sealingMillimetres`, or the air from the border leaks through the fat between the organs and
/// the table, a solid arc around its own pocket of air, becomes the largest region.
public struct BodyMask: Sendable {
    /// Source pixels per mask pixel along x and y.
    public let step: Int
    public let width: Int
    public let height: Int
    public let slices: Int
    /// Inside the body, row-major per slice.
    public let inside: [Bool]
    /// The union over slices of each slice's largest body region, in source millimetres (pixel
    /// centres): where a crop is centred. Nil when no slice shows a body.
    public let extent: (lower: SIMD2<Double>, upper: SIMD2<Double>)?

    public static func threshold(forMinimum minimum: Float) -> Float { max(-300, minimum + 25) }

    /// The radius of the closing that seals a clipped slice's skin: gaps up to twice it close.
    public static let sealingMillimetres = 3.0

    public init(_ stack: AxialStack<Float>) {
        step = max(1, Int(1.5 / min(stack.spacing.x, stack.spacing.y)))
        (width, height, slices) = ((stack.size.x + step - 1) / step, (stack.size.y + step - 1) / step, stack.size.z)
        let floor = Self.threshold(forMinimum: stack.voxels.min() ?? 0)
        let sealing = floor > -300 ? max(1, Int((Self.sealingMillimetres / (min(stack.spacing.x, stack.spacing.y) * Double(step))).rounded())) : 0
        var inside = [Bool](repeating: false, count: width * height * slices)
        var lower = SIMD2(Int.max, Int.max), upper = SIMD2(Int.min, Int.min)
        for z in 0..<slices {
            let base = z * stack.pixelsPerSlice
            var dense = [Bool](repeating: false, count: width * height)
            for y in 0..<height {
                for x in 0..<width { dense[y * width + x] = stack.voxels[base + y * step * stack.size.x + x * step] > floor }
            }
            if sealing > 0 { dense = Self.closed(dense, width: width, height: height, radius: sealing) }
            let body = Self.fillFromBorder(dense, width: width, height: height)
            inside.replaceSubrange((z * width * height)..<((z + 1) * width * height), with: body)
            if let box = Self.largestRegionBox(body, width: width, height: height) {
                lower = pointwiseMin(lower, box.lower)
                upper = pointwiseMax(upper, box.upper)
            }
        }
        self.inside = inside
        let millimetres = SIMD2(stack.spacing.x, stack.spacing.y) * Double(step)
        extent = lower.x <= upper.x ? (SIMD2(Double(lower.x), Double(lower.y)) * millimetres, SIMD2(Double(upper.x), Double(upper.y)) * millimetres) : nil
    }

    /// Whether source voxel (x, y, z) is inside the body.
    public func contains(x: Int, y: Int, z: Int) -> Bool {
        inside[(z * height + y / step) * width + x / step]
    }

    /// `solid` dilated, then eroded, by a square of `radius` pixels: what it holds, and the gaps
    /// narrower than the square between its parts. Beyond the image counts as solid, so nothing
    /// is eroded from the border.
    static func closed(_ solid: [Bool], width: Int, height: Int, radius: Int) -> [Bool] {
        let dilated = dilate(solid, width: width, height: height, radius: radius)
        return dilate(dilated.map { !$0 }, width: width, height: height, radius: radius).map { !$0 }
    }

    /// True wherever a true pixel lies within `radius` along x and along y: a running count of
    /// the true pixels in the window, along rows and then along columns.
    private static func dilate(_ mask: [Bool], width: Int, height: Int, radius: Int) -> [Bool] {
        func pass(_ input: [Bool], lines: Int, length: Int, index: (Int, Int) -> Int) -> [Bool] {
            var output = input
            for line in 0..<lines {
                var count = (0...min(radius, length - 1)).filter { input[index(line, $0)] }.count
                for position in 0..<length {
                    output[index(line, position)] = count > 0
                    if position + radius + 1 < length && input[index(line, position + radius + 1)] { count += 1 }
                    if position - radius >= 0 && input[index(line, position - radius)] { count -= 1 }
                }
            }
            return output
        }
        let rows = pass(mask, lines: height, length: width) { $0 * width + $1 }
        return pass(rows, lines: width, length: height) { $1 * width + $0 }
    }

    /// Everything not reached from the border through pixels that are not `solid`.
    private static func fillFromBorder(_ solid: [Bool], width: Int, height: Int) -> [Bool] {
        var outside = [Bool](repeating: false, count: solid.count)
        var stack: [Int] = []
        func visit(_ pixel: Int) {
            if !solid[pixel] && !outside[pixel] {
                outside[pixel] = true
                stack.append(pixel)
            }
        }
        for x in 0..<width { visit(x); visit((height - 1) * width + x) }
        for y in 0..<height { visit(y * width); visit(y * width + width - 1) }
        while let pixel = stack.popLast() {
            let (x, y) = (pixel % width, pixel / width)
            if x > 0 { visit(pixel - 1) }
            if x < width - 1 { visit(pixel + 1) }
            if y > 0 { visit(pixel - width) }
            if y < height - 1 { visit(pixel + width) }
        }
        return outside.map { !$0 }
    }

    /// The bounding box of the largest 4-connected region: the body rather than the table or an arm.
    private static func largestRegionBox(_ mask: [Bool], width: Int, height: Int) -> (lower: SIMD2<Int>, upper: SIMD2<Int>)? {
        var seen = [Bool](repeating: false, count: mask.count)
        var best: (count: Int, lower: SIMD2<Int>, upper: SIMD2<Int>)?
        for seed in mask.indices where mask[seed] && !seen[seed] {
            var stack = [seed]
            seen[seed] = true
            var (count, lower, upper) = (0, SIMD2(seed % width, seed / width), SIMD2(seed % width, seed / width))
            while let pixel = stack.popLast() {
                count += 1
                let point = SIMD2(pixel % width, pixel / width)
                lower = pointwiseMin(lower, point)
                upper = pointwiseMax(upper, point)
                for (neighbour, valid) in [(pixel - 1, point.x > 0), (pixel + 1, point.x < width - 1), (pixel - width, point.y > 0), (pixel + width, point.y < height - 1)]
                where valid && mask[neighbour] && !seen[neighbour] {
                    seen[neighbour] = true
                    stack.append(neighbour)
                }
            }
            if count > best?.count ?? 0 { best = (count, lower, upper) }
        }
        return best.map { ($0.lower, $0.upper) }
    }
}
