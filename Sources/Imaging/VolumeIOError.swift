/// Everything that can go wrong reading or writing an image file, each with a message a user can
/// act on. Parsers never crash on bad input: they throw one of these.
public enum VolumeIOError: Error, Equatable, Sendable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case unrecognizedFormat
    case truncatedHeader(bytes: Int, needed: Int)
    case wrongMagic(found: String)
    case twoFileNIfTI
    case invalidHeader(String)
    case unsupportedDatatype(code: Int)
    case multipleTimePoints(Int)
    case sizeOverflow(dims: [Int])
    case exceedsLimit(voxels: Int, limit: Int)
    case sliceExceedsLimit(pixels: Int, limit: Int)
    case truncatedData
    case invalidGeometry(String)
    case invalidDICOM(String)
    case invalidArchive(String)
    case unsupportedTransferSyntax(String)
    case nonFiniteVoxels(count: Int)
    case invalidPNG(String)
    case colourPNG
    case notALabelMap(value: Double)
    case writeFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason):
            "cannot read \(path): \(reason)"
        case .unrecognizedFormat:
            "not a NIfTI (.nii, .nii.gz), PNG, DICOM file or zip of DICOM files"
        case let .truncatedHeader(bytes, needed):
            "truncated NIfTI header: the file holds \(bytes) bytes of the \(needed) a header needs"
        case let .wrongMagic(found):
            "not a NIfTI file: the magic string is \(found.debugDescription), expected \"n+1\" or \"n+2\""
        case .twoFileNIfTI:
            "two-file NIfTI (.hdr/.img) is not supported: convert it to a single .nii or .nii.gz"
        case let .invalidHeader(reason):
            "invalid NIfTI header: \(reason)"
        case let .unsupportedDatatype(code):
            "unsupported NIfTI datatype \(code): use uint8, int16, uint16, int32, float32 or float64"
        case let .multipleTimePoints(count):
            "the volume has \(count) time points or channels; only a single 3-D volume can be segmented"
        case let .sizeOverflow(dims):
            "the declared dimensions \(dims) overflow any addressable size"
        case let .exceedsLimit(voxels, limit):
            "the volume has \(voxels) voxels, over the limit of \(limit)"
        case let .sliceExceedsLimit(pixels, limit):
            "a slice of the volume has \(pixels) pixels, over the limit of \(limit)"
        case .truncatedData:
            "the voxel data ends early: the file is truncated or its gzip stream is corrupt"
        case let .invalidDICOM(reason):
            "unusable DICOM: \(reason)"
        case let .invalidArchive(reason):
            "unusable zip: \(reason)"
        case let .unsupportedTransferSyntax(uid):
            "the DICOM pixel data uses transfer syntax \(uid), which cannot be decompressed here"
        case let .invalidGeometry(reason):
            "unusable geometry: \(reason)"
        case let .nonFiniteVoxels(count):
            "\(count) voxels are NaN or infinite; replace them (with -1024 HU outside the scan, say) before sending the volume"
        case let .invalidPNG(reason):
            "invalid PNG: \(reason)"
        case .colourPNG:
            "colour PNG: CT slices must be greyscale (RGB is accepted only when its channels are equal)"
        case let .notALabelMap(value):
            "not a label map: voxel value \(value) is not an integer from 0 to 255"
        case let .writeFailed(path, reason):
            "cannot write \(path): \(reason)"
        }
    }
}
