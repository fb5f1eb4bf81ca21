/// The patient direction a stored axis points to as its index grows (nibabel's axis codes).
public enum AxisDirection: Character, Sendable, CaseIterable {
    case right = "R", left = "L", anterior = "A", posterior = "P", superior = "S", inferior = "I"

    /// 0 for the left-right axis, 1 for anterior-posterior, 2 for superior-inferior.
    public var worldAxis: Int {
        switch self {
        case .right, .left: 0
        case .anterior, .posterior: 1
        case .superior, .inferior: 2
        }
    }

    /// Whether the direction points along +x, +y or +z of RAS+ world space.
    public var isPositive: Bool { self == .right || self == .anterior || self == .superior }

    init(worldAxis: Int, positive: Bool) {
        self = [[.right, .left], [.anterior, .posterior], [.superior, .inferior]][worldAxis][positive ? 0 : 1]
    }
}

/// The axis codes of a volume: which patient direction each stored axis points to.
public struct Orientation: Equatable, Sendable, CustomStringConvertible {
    public var axes: [AxisDirection]

    public init(_ axes: [AxisDirection]) {
        precondition(Set(axes.map(\.worldAxis)).count == 3, "an orientation names each patient axis once")
        self.axes = axes
    }

    /// The axis codes closest to an affine, even an oblique one: each stored axis is matched to a
    /// distinct world axis so that the summed cosines are largest.
    public init(affine: Affine) {
        let directions = (0..<3).map { axis -> SIMD3<Double> in
            let column = affine.column(axis)
            let length = (column * column).sum().squareRoot()
            return length > 0 ? column / length : .zero
        }
        let permutations = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]]
        let best = permutations.max { lhs, rhs in
            let score = { (p: [Int]) in (0..<3).map { abs(directions[$0][p[$0]]) }.reduce(0, +) }
            return score(lhs) < score(rhs)
        }!
        self.init((0..<3).map { AxisDirection(worldAxis: best[$0], positive: directions[$0][best[$0]] >= 0) })
    }

    /// Axial slices as radiologists read them: columns run to the patient's left, rows to
    /// posterior, and slices from inferior to superior (DICOM's LPS).
    public static let canonical = Orientation([.left, .posterior, .superior])

    public var description: String { String(axes.map(\.rawValue)) }
}

/// The axis permutation and flips that present a volume in `Orientation.canonical` order, and
/// take canonical data back to the source's own voxel order. Both directions are exact.
public struct CanonicalLayout: Equatable, Sendable {
    /// The source's size along its stored axes.
    public let sourceSize: GridSize
    /// For each canonical axis (x, y, z), the stored axis it reads from.
    public let sourceAxis: [Int]
    /// For each canonical axis, whether it runs against its stored axis.
    public let flipped: [Bool]

    public init(orientation: Orientation, size: GridSize) {
        let target = Orientation.canonical.axes
        sourceSize = size
        let sourceAxis = target.map { want in orientation.axes.firstIndex { $0.worldAxis == want.worldAxis }! }
        self.sourceAxis = sourceAxis
        flipped = target.indices.map { orientation.axes[sourceAxis[$0]] != target[$0] }
    }

    /// Size of the canonical grid: width (to the left), height (to posterior), slices (to superior).
    public var canonicalSize: GridSize {
        GridSize(x: sourceSize[sourceAxis[0]], y: sourceSize[sourceAxis[1]], z: sourceSize[sourceAxis[2]])
    }

    /// Spacing along the canonical axes, given the source's spacing.
    public func canonicalSpacing(_ sourceSpacing: SIMD3<Double>) -> SIMD3<Double> {
        SIMD3(sourceSpacing[sourceAxis[0]], sourceSpacing[sourceAxis[1]], sourceSpacing[sourceAxis[2]])
    }

    public var isIdentity: Bool { sourceAxis == [0, 1, 2] && flipped == [false, false, false] }

    /// The stored voxel index of canonical voxel (x, y, z).
    public func sourceIndex(ofCanonical canonical: SIMD3<Int>) -> SIMD3<Int> {
        var stored = SIMD3<Int>(repeating: 0)
        for axis in 0..<3 {
            let count = sourceSize[sourceAxis[axis]]
            stored[sourceAxis[axis]] = flipped[axis] ? count - 1 - canonical[axis] : canonical[axis]
        }
        return stored
    }

    /// Source voxels, in stored order, rearranged into canonical order.
    public func toCanonical<Element>(_ source: [Element]) -> [Element] {
        precondition(source.count == sourceSize.voxelCount, "source has \(source.count) voxels, layout expects \(sourceSize.voxelCount)")
        if isIdentity { return source }
        return source.withUnsafeBufferPointer { input in
            [Element](unsafeUninitializedCapacity: source.count) { output, count in
                forEachVoxel { canonical, stored in output.initializeElement(at: canonical, to: input[stored]) }
                count = source.count
            }
        }
    }

    /// Canonical voxels put back into the source's stored order: the exact inverse of `toCanonical`.
    public func toSource<Element>(_ canonical: [Element]) -> [Element] {
        precondition(canonical.count == sourceSize.voxelCount, "data has \(canonical.count) voxels, layout expects \(sourceSize.voxelCount)")
        if isIdentity { return canonical }
        return canonical.withUnsafeBufferPointer { input in
            [Element](unsafeUninitializedCapacity: canonical.count) { output, count in
                forEachVoxel { canonicalIndex, stored in output.initializeElement(at: stored, to: input[canonicalIndex]) }
                count = canonical.count
            }
        }
    }

    /// Calls `body(canonicalIndex, storedIndex)` for every voxel, in canonical order.
    private func forEachVoxel(_ body: (Int, Int) -> Void) {
        let storedStrides = [1, sourceSize.x, sourceSize.x * sourceSize.y]
        let size = canonicalSize
        var start = 0
        var step = [0, 0, 0]
        for axis in 0..<3 {
            let stride = storedStrides[sourceAxis[axis]]
            step[axis] = flipped[axis] ? -stride : stride
            if flipped[axis] { start += (size[axis] - 1) * stride }
        }
        var canonical = 0
        for z in 0..<size.z {
            for y in 0..<size.y {
                var stored = start + z * step[2] + y * step[1]
                for _ in 0..<size.x {
                    body(canonical, stored)
                    canonical += 1
                    stored += step[0]
                }
            }
        }
    }
}
