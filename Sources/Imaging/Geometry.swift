/// Where the voxels of a volume sit in patient space, in the terms NIfTI uses, so that a label map
/// written with the same geometry overlays its source exactly in 3D Slicer or ITK-SNAP.
///
/// World coordinates are NIfTI's RAS+: +x is the patient's right, +y anterior, +z superior.
public struct VolumeGeometry: Equatable, Sendable {
    /// Voxels along the first, second and third stored axis.
    public var size: GridSize
    /// `pixdim[1...3]` as stored, in `spatialUnit`s.
    public var pixdim: SIMD3<Double>
    public var spatialUnit: SpatialUnit
    public var qform: QForm
    public var sform: SForm

    public init(size: GridSize, pixdim: SIMD3<Double>, spatialUnit: SpatialUnit = .millimetre,
                qform: QForm = QForm(), sform: SForm = SForm()) {
        self.size = size
        self.pixdim = pixdim
        self.spatialUnit = spatialUnit
        self.qform = qform
        self.sform = sform
    }

    /// Voxel spacing along the three stored axes in millimetres.
    public var spacing: SIMD3<Double> { pixdim * spatialUnit.millimetres }

    /// The volume of one voxel in millilitres (1 mL = 1000 mm³).
    public var voxelMillilitres: Double { spacing.x * spacing.y * spacing.z / 1000 }

    /// The voxel-to-world transform NIfTI says to prefer: the sform when it is set, then the qform,
    /// then plain scaling by the voxel size (NIfTI's "method 1").
    public var affine: Affine {
        if sform.code != .unknown { return sform.matrix }
        if qform.code != .unknown { return qform.matrix(pixdim: pixdim) }
        return Affine(rows: [SIMD4(pixdim.x, 0, 0, 0), SIMD4(0, pixdim.y, 0, 0), SIMD4(0, 0, pixdim.z, 0)])
    }

    /// Which way each stored axis points in patient space.
    public var orientation: Orientation { Orientation(affine: affine) }
}

extension VolumeGeometry {
    /// Voxels smaller or larger than this (in mm) are a broken header, not a CT.
    static let plausibleSpacing = 0.001...100.0

    /// This geometry, when it describes a real grid: finite, invertible transforms and voxel
    /// sizes a CT can have. Voxel sizes that are not positive and finite are taken from a usable
    /// sform; with none, the file cannot be measured and is refused.
    public func checked() throws -> VolumeGeometry {
        var checked = self
        let sformUsable = Self.isInvertible(sform.matrix)
        if sform.code != .unknown && !sformUsable {
            throw VolumeIOError.invalidGeometry("the sform matrix is not finite or is singular")
        }
        if qform.code != .unknown {
            let q = qform.quaternion
            guard q.x.isFinite, q.y.isFinite, q.z.isFinite, qform.offset.x.isFinite, qform.offset.y.isFinite, qform.offset.z.isFinite,
                  q.x * q.x + q.y * q.y + q.z * q.z <= 1.000001 else {
                throw VolumeIOError.invalidGeometry("the qform quaternion or offset is not finite, or not a rotation")
            }
        }
        let sizes = [pixdim.x, pixdim.y, pixdim.z]
        if !sizes.allSatisfy({ $0.isFinite && $0 > 0 }) {
            guard sform.code != .unknown else {
                throw VolumeIOError.invalidGeometry("pixdim is \(sizes.map { String(format: "%g", $0) }.joined(separator: ", ")): voxel sizes must be positive and finite, and there is no sform to take them from")
            }
            let columns = (0..<3).map { axis in (sform.matrix.column(axis) * sform.matrix.column(axis)).sum().squareRoot() / spatialUnit.millimetres }
            checked.pixdim = SIMD3(columns[0], columns[1], columns[2])
        }
        let millimetres = checked.spacing
        guard (0..<3).allSatisfy({ Self.plausibleSpacing.contains(millimetres[$0]) }) else {
            throw VolumeIOError.invalidGeometry("voxels of \((0..<3).map { String(format: "%g", millimetres[$0]) }.joined(separator: " x ")) mm are not a CT's (each side must be 0.001 to 100 mm)")
        }
        return checked
    }

    /// Whether the matrix's numbers are finite and its 3x3 part can be inverted.
    static func isInvertible(_ affine: Affine) -> Bool {
        guard affine.rows.allSatisfy({ row in (0..<4).allSatisfy { row[$0].isFinite } }) else { return false }
        let (a, b, c) = (affine.column(0), affine.column(1), affine.column(2))
        let determinant = (a * SIMD3(b.y * c.z - b.z * c.y, b.z * c.x - b.x * c.z, b.x * c.y - b.y * c.x)).sum()
        let scale = [a, b, c].map { ($0 * $0).sum().squareRoot() }.reduce(1, *)
        return scale > 0 && abs(determinant) > 1e-6 * scale
    }

    /// Why `other` is not on this geometry's voxel grid, or nil when it is: the same canonical
    /// size and spacing, and, when both place their voxels in the world, the same corners there.
    public func gridMismatch(with other: VolumeGeometry) -> String? {
        let mine = CanonicalLayout(orientation: orientation, size: size)
        let theirs = CanonicalLayout(orientation: other.orientation, size: other.size)
        let (spacing, otherSpacing) = (mine.canonicalSpacing(self.spacing), theirs.canonicalSpacing(other.spacing))
        let millimetres = { (s: SIMD3<Double>) in [s.x, s.y, s.z].map { String(format: "%g", $0) }.joined(separator: " x ") + " mm" }
        guard mine.canonicalSize == theirs.canonicalSize else {
            return "its grid (\(other.size)) differs from the image's (\(size))"
        }
        guard (0..<3).allSatisfy({ abs(spacing[$0] - otherSpacing[$0]) <= 1e-4 * spacing[$0] }) else {
            return "its voxels (\(millimetres(otherSpacing))) differ from the image's (\(millimetres(spacing)))"
        }
        guard sform.code != .unknown || qform.code != .unknown, other.sform.code != .unknown || other.qform.code != .unknown else { return nil }
        let tolerance = 0.1 * [spacing.x, spacing.y, spacing.z].min()!
        let corners = self.corners, otherCorners = other.corners
        let aligned = corners.allSatisfy { corner in otherCorners.contains { (($0 - corner) * ($0 - corner)).sum().squareRoot() <= tolerance } }
        return aligned ? nil : "it lies elsewhere in the patient: its affine places the voxels away from the image's"
    }

    /// The world positions of the eight corner voxels.
    var corners: [SIMD3<Double>] {
        let affine = self.affine
        return [0, 1].flatMap { i in [0, 1].flatMap { j in [0, 1].map { k in
            let index = SIMD4(Double(i * (size.x - 1)), Double(j * (size.y - 1)), Double(k * (size.z - 1)), 1)
            return SIMD3((affine.rows[0] * index).sum(), (affine.rows[1] * index).sum(), (affine.rows[2] * index).sum())
        } } }
    }
}

public struct GridSize: Equatable, Hashable, Sendable, CustomStringConvertible {
    public var x: Int
    public var y: Int
    public var z: Int

    public init(x: Int, y: Int, z: Int) {
        self.x = x
        self.y = y
        self.z = z
    }

    public subscript(axis: Int) -> Int { [x, y, z][axis] }
    public var voxelCount: Int { x * y * z }
    public var description: String { "\(x) x \(y) x \(z)" }
}

public enum SpatialUnit: Int32, Sendable {
    case unknown = 0, metre = 1, millimetre = 2, micron = 3

    /// Millimetres per unit. NIfTI files with no unit are, in practice, millimetres.
    public var millimetres: Double {
        switch self {
        case .metre: 1000
        case .micron: 0.001
        case .millimetre, .unknown: 1
        }
    }
}

/// NIfTI's xform codes: what the world coordinates of a transform mean.
public enum XFormCode: Int32, Sendable {
    case unknown = 0, scannerAnatomical = 1, alignedAnatomical = 2, talairach = 3, mni152 = 4, template = 5

    public var name: String {
        switch self {
        case .unknown: "unknown"
        case .scannerAnatomical: "scanner"
        case .alignedAnatomical: "aligned"
        case .talairach: "talairach"
        case .mni152: "mni152"
        case .template: "template"
        }
    }
}

/// A 3x4 voxel-to-world matrix: world = rows · (i, j, k, 1).
public struct Affine: Equatable, Sendable {
    public var rows: [SIMD4<Double>]

    public init(rows: [SIMD4<Double>]) {
        precondition(rows.count == 3, "an affine has three rows")
        self.rows = rows
    }

    /// The world-space direction (and length) of one step along stored axis `axis`.
    public func column(_ axis: Int) -> SIMD3<Double> {
        SIMD3(rows[0][axis], rows[1][axis], rows[2][axis])
    }
}

/// The qform as NIfTI stores it: a rotation quaternion (b, c, d), an offset, and qfac (±1) for
/// the handedness of the third axis. Kept in this form so that writing it back is exact.
public struct QForm: Equatable, Sendable {
    public var code: XFormCode
    public var quaternion: SIMD3<Double>
    public var offset: SIMD3<Double>
    public var qfac: Double

    public init(code: XFormCode = .unknown, quaternion: SIMD3<Double> = .zero, offset: SIMD3<Double> = .zero, qfac: Double = 1) {
        self.code = code
        self.quaternion = quaternion
        self.offset = offset
        self.qfac = qfac
    }

    /// The voxel-to-world matrix, following the formula in nifti1.h.
    public func matrix(pixdim: SIMD3<Double>) -> Affine {
        let (b, c, d) = (quaternion.x, quaternion.y, quaternion.z)
        let a = max(0, 1 - (b * b + c * c + d * d)).squareRoot()
        let scale = SIMD3(pixdim.x, pixdim.y, qfac < 0 ? -pixdim.z : pixdim.z)
        let r = [
            SIMD3(a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)),
            SIMD3(2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b)),
            SIMD3(2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - c * c - b * b),
        ]
        return Affine(rows: (0..<3).map { row in
            let scaled = r[row] * scale
            return SIMD4(scaled.x, scaled.y, scaled.z, offset[row])
        })
    }
}

public struct SForm: Equatable, Sendable {
    public var code: XFormCode
    public var matrix: Affine

    public init(code: XFormCode = .unknown, matrix: Affine = Affine(rows: [.zero, .zero, .zero])) {
        self.code = code
        self.matrix = matrix
    }
}
