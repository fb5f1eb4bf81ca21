/// A 3-D image in its source's stored voxel order (x fastest), with the geometry it came with.
///
/// CT volumes hold Hounsfield units as `Float`; label maps hold `SegmentationLabel` raw values.
public struct Volume<Voxel: Sendable>: Sendable {
    public var geometry: VolumeGeometry
    public var voxels: [Voxel]
    /// The file format and datatype the voxels were decoded from.
    public var source: VolumeSource

    public init(geometry: VolumeGeometry, voxels: [Voxel], source: VolumeSource) {
        precondition(voxels.count == geometry.size.voxelCount, "\(voxels.count) voxels do not fill a \(geometry.size) grid")
        self.geometry = geometry
        self.voxels = voxels
        self.source = source
    }

    /// The permutation and flips between stored order and canonical axial order.
    public var layout: CanonicalLayout { CanonicalLayout(orientation: geometry.orientation, size: geometry.size) }

    /// The voxels as axial slices in `Orientation.canonical` order.
    public func axialStack() -> AxialStack<Voxel> {
        let layout = self.layout
        return AxialStack(size: layout.canonicalSize, spacing: layout.canonicalSpacing(geometry.spacing),
                          voxels: layout.toCanonical(voxels))
    }

    /// A volume with this one's geometry and source whose voxels come from a canonical stack,
    /// put back into stored order.
    public func replacingVoxels<Other>(withAxial stack: AxialStack<Other>, source: VolumeSource? = nil) -> Volume<Other> {
        Volume<Other>(geometry: geometry, voxels: layout.toSource(stack.voxels), source: source ?? self.source)
    }
}

/// Hounsfield units.
public typealias CTVolume = Volume<Float>
/// Values of `SegmentationLabel`.
public typealias LabelMap = Volume<UInt8>

/// A volume in canonical axial order: x to the patient's left, y to posterior, z to superior.
public struct AxialStack<Voxel: Sendable>: Sendable {
    public var size: GridSize
    /// Millimetres between neighbouring voxels along x, y and z.
    public var spacing: SIMD3<Double>
    public var voxels: [Voxel]

    public init(size: GridSize, spacing: SIMD3<Double>, voxels: [Voxel]) {
        precondition(voxels.count == size.voxelCount, "\(voxels.count) voxels do not fill a \(size) grid")
        self.size = size
        self.spacing = spacing
        self.voxels = voxels
    }

    public var sliceCount: Int { size.z }
    public var pixelsPerSlice: Int { size.x * size.y }

    /// Axial slice `index`, row-major, counted from the inferior end.
    public func slice(_ index: Int) -> Plane<Voxel> {
        precondition((0..<size.z).contains(index), "slice \(index) is outside 0..<\(size.z)")
        let start = index * pixelsPerSlice
        return Plane(width: size.x, height: size.y, values: Array(voxels[start..<start + pixelsPerSlice]))
    }
}

/// A 2-D image or one channel of a feature map, row-major.
public struct Plane<Value: Sendable>: Sendable {
    public var width: Int
    public var height: Int
    public var values: [Value]

    public init(width: Int, height: Int, values: [Value]) {
        precondition(values.count == width * height, "\(values.count) values do not fill \(width)x\(height)")
        self.width = width
        self.height = height
        self.values = values
    }

    public subscript(x: Int, y: Int) -> Value {
        get { values[y * width + x] }
        set { values[y * width + x] = newValue }
    }
}

extension Plane: Equatable where Value: Equatable {}

/// The classes of the KiTS19 label convention. In JSON a class is its name.
public enum SegmentationLabel: UInt8, CaseIterable, Sendable, Codable {
    case background = 0, kidney = 1, tumour = 2

    public var name: String {
        switch self {
        case .background: "background"
        case .kidney: "kidney"
        case .tumour: "tumour"
        }
    }

    /// The classes a segmentation is judged on.
    public static let foreground: [SegmentationLabel] = [.kidney, .tumour]

    public init(from decoder: any Decoder) throws {
        let name = try decoder.singleValueContainer().decode(String.self)
        guard let label = Self.allCases.first(where: { $0.name == name }) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "unknown class \(name)"))
        }
        self = label
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(name)
    }
}

/// What a volume was decoded from, so results can be written back in the same format.
public struct VolumeSource: Equatable, Sendable {
    public var format: ImageFormat
    public var datatype: VoxelDatatype

    public init(format: ImageFormat, datatype: VoxelDatatype) {
        self.format = format
        self.datatype = datatype
    }
}

public enum ImageFormat: Equatable, Sendable, CustomStringConvertible {
    case nifti(version: Int, gzipped: Bool)
    case png
    /// A DICOM series (or one DICOM file).
    case dicom

    public var description: String {
        switch self {
        case let .nifti(version, gzipped): "NIfTI-\(version)\(gzipped ? " (gzip)" : "")"
        case .png: "PNG"
        case .dicom: "DICOM"
        }
    }

    /// The format a label map of this input is written in: its own, except that DICOM's is
    /// gzipped NIfTI-1 (DICOM SEG is still to come).
    public var labelMapFormat: ImageFormat { self == .dicom ? .nifti(version: 1, gzipped: true) : self }
}

/// Voxel datatypes the readers accept, with their NIfTI codes.
public enum VoxelDatatype: Int16, Sendable, CaseIterable {
    case uint8 = 2, int16 = 4, int32 = 8, float32 = 16, float64 = 64, uint16 = 512

    public var bytes: Int {
        switch self {
        case .uint8: 1
        case .int16, .uint16: 2
        case .int32, .float32: 4
        case .float64: 8
        }
    }

    public var name: String { "\(self)" }
}
