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
