internal import CDICOM
import Foundation

/// What a DICOM series read chose and why, for the input summary.
public struct DICOMSeriesSummary: Equatable, Sendable, Codable {
    public var seriesInstanceUID: String
    public var studyInstanceUID: String
    public var frameOfReferenceUID: String
    public var slices: Int
    public var transferSyntaxes: [String]
    /// The other CT series present, by UID, with their slice counts.
    public var otherSeries: [String: Int]
    /// Files left out, counted by reason ("not DICOM", "a localiser", …).
    public var skipped: [String: Int]

    enum CodingKeys: String, CodingKey {
        case seriesInstanceUID = "series_instance_uid", studyInstanceUID = "study_instance_uid"
        case frameOfReferenceUID = "frame_of_reference_uid", slices, transferSyntaxes = "transfer_syntaxes"
        case otherSeries = "other_series", skipped
    }

    /// Why a DICOM SEG cannot be made for this series, or nil when it can: a SEG belongs to its
    /// source's study and references its series, so both need their UIDs (anonymisers sometimes
    /// blank them).
    public var segmentationRefusal: String? {
        let missing = [("Study", studyInstanceUID), ("Series", seriesInstanceUID)].filter { $0.1.isEmpty }.map(\.0)
        guard !missing.isEmpty else { return nil }
        return "the source series has no \(missing.joined(separator: " or ")) Instance UID, so a DICOM SEG could not refer to it"
    }
}

/// A CT series from DICOM files: each file parsed and decompressed by GDCM, the series chosen,
/// sorted and measured here.
///
/// - Only CT Image Storage files with pixels join; localisers, other modalities, structured
///   reports and enhanced multi-frame CT are left out and counted.
/// - The series named by `seriesUID` is taken, or else the one with the most slices.
/// - Slices are sorted by their position along the slice normal (never by file name or
///   instance number), and must share one orientation, one grid and one pixel spacing, and be
///   evenly spaced without gaps.
/// - Voxels are Rescale Slope × stored + Intercept, in HU; the geometry comes from Image
///   Position and Orientation (Patient), turned from DICOM's LPS into NIfTI's RAS.
public struct DICOMSeries: Sendable {
    static let ctImageStorage = "1.2.840.10008.5.1.4.1.1.2"
    static let enhancedCTImageStorage = "1.2.840.10008.5.1.4.1.1.2.1"
    public static let maxFiles = 10_000

    public let slices: [DICOMSlice]
    public let geometry: VolumeGeometry
    public let summary: DICOMSeriesSummary

    /// The series among `files` (a folder's files, or one file).
    public init(files: [URL], seriesUID: String? = nil, limits: VolumeLimits) throws {
        guard files.count <= Self.maxFiles else { throw VolumeIOError.invalidDICOM("\(files.count) files, over the limit of \(Self.maxFiles)") }
        var skipped: [String: Int] = [:]
        var bySeries: [String: [DICOMSlice]] = [:]
        for file in files {
            guard let slice = try DICOMSlice(reading: file) else {
                skipped["not DICOM", default: 0] += 1
                continue
            }
            if let reason = slice.reasonLeftOut {
                skipped[reason, default: 0] += 1
            } else {
                bySeries[slice.seriesInstanceUID, default: []].append(slice)
            }
        }
        guard !bySeries.isEmpty else {
            if skipped.keys.allSatisfy({ $0 == "not DICOM" }) { throw VolumeIOError.unrecognizedFormat }
            throw VolumeIOError.invalidDICOM("no CT image series: " + skipped.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", "))
        }
        let chosen: String
        if let seriesUID {
            guard bySeries[seriesUID] != nil else {
                throw VolumeIOError.invalidDICOM("no CT series \(seriesUID); the series are \(bySeries.keys.sorted().joined(separator: ", "))")
            }
            chosen = seriesUID
        } else {
            chosen = bySeries.max { ($0.value.count, $1.key) < ($1.value.count, $0.key) }!.key
        }
        let (sorted, geometry) = try Self.assemble(bySeries[chosen]!, limits: limits)
        slices = sorted
        self.geometry = geometry
        summary = DICOMSeriesSummary(
            seriesInstanceUID: chosen, studyInstanceUID: sorted[0].studyInstanceUID, frameOfReferenceUID: sorted[0].frameOfReferenceUID,
            slices: sorted.count, transferSyntaxes: Array(Set(sorted.map(\.transferSyntaxUID))).sorted(),
            otherSeries: bySeries.filter { $0.key != chosen }.mapValues(\.count), skipped: skipped)
    }

    /// The series in a folder (and its subfolders); hidden files are ignored, and links are
    /// followed to files only.
    public init(directory: URL, seriesUID: String? = nil, limits: VolumeLimits) throws {
        let enumerator = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: [.isRegularFileKey], options: [.skipsHiddenFiles])
        var files: [URL] = []
        while let url = enumerator?.nextObject() as? URL {
            if (try? url.resolvingSymlinksInPath().resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true { files.append(url) }
            guard files.count <= Self.maxFiles else { break }
        }
        try self.init(files: files.sorted { $0.path < $1.path }, seriesUID: seriesUID, limits: limits)
    }

    /// The voxels in HU, slice by slice in sorted order. With `keep` false each slice is decoded
    /// and dropped, which checks every file without holding the volume.
    public func hounsfield(keep: Bool = true) throws -> [Float] {
        let plane = geometry.size.x * geometry.size.y
        var voxels = [Float](repeating: 0, count: keep ? geometry.size.voxelCount : 0)
        var pixels = [Float](repeating: 0, count: plane)
        var message = [CChar](repeating: 0, count: 512)
        for (index, slice) in slices.enumerated() {
            guard kseg_dicom_read_pixels(slice.url.path, &pixels, plane, &message, message.count) == 0 else {
                let reason = String(nulTerminated: message)
                if reason.hasPrefix("cannot decompress") { throw VolumeIOError.unsupportedTransferSyntax(slice.transferSyntaxUID) }
                throw VolumeIOError.invalidDICOM("\(slice.url.lastPathComponent): \(reason)")
            }
            guard keep else { continue }
            for pixel in 0..<plane { voxels[index * plane + pixel] = Float(Double(pixels[pixel]) * slice.slope + slice.intercept) }
        }
        return voxels
    }

    /// Sorts the slices along their normal and measures the grid.
    static func assemble(_ unsorted: [DICOMSlice], limits: VolumeLimits) throws -> ([DICOMSlice], VolumeGeometry) {
        let first = unsorted[0]
        for slice in unsorted {
            guard slice.rows == first.rows, slice.columns == first.columns else {
                throw VolumeIOError.invalidDICOM("the series mixes \(first.columns)x\(first.rows) and \(slice.columns)x\(slice.rows) images")
            }
            guard zip(slice.orientation, first.orientation).allSatisfy({ abs($0 - $1) < 1e-4 }) else {
                throw VolumeIOError.invalidDICOM("the series mixes image orientations")
            }
            guard abs(slice.pixelSpacing.row - first.pixelSpacing.row) < 1e-4, abs(slice.pixelSpacing.column - first.pixelSpacing.column) < 1e-4 else {
                throw VolumeIOError.invalidDICOM("the series mixes pixel spacings")
            }
        }
        let rowDirection = SIMD3(first.orientation[0], first.orientation[1], first.orientation[2])
        let columnDirection = SIMD3(first.orientation[3], first.orientation[4], first.orientation[5])
        let normal = SIMD3(rowDirection.y * columnDirection.z - rowDirection.z * columnDirection.y,
                           rowDirection.z * columnDirection.x - rowDirection.x * columnDirection.z,
                           rowDirection.x * columnDirection.y - rowDirection.y * columnDirection.x)
        guard abs((normal * normal).sum() - 1) < 1e-3 else { throw VolumeIOError.invalidDICOM("Image Orientation (Patient) is not two unit vectors at right angles") }
        let sorted = unsorted.sorted { ($0.position * normal).sum() < ($1.position * normal).sum() }
        var thickness = first.sliceThickness ?? 1
        if sorted.count > 1 {
            let steps = zip(sorted, sorted.dropFirst()).map { (($1.position - $0.position) * normal).sum() }
            let typical = steps.sorted()[steps.count / 2]
            guard typical > 0.001 else { throw VolumeIOError.invalidDICOM("two or more slices lie at the same position") }
            let tolerance = 0.01 * typical + 0.005
            for (index, step) in steps.enumerated() where abs(step - typical) > tolerance {
                let at = String(format: "%.2f mm", (sorted[index].position * normal).sum())
                if step < 0.001 { throw VolumeIOError.invalidDICOM("two slices lie at the same position (\(at))") }
                if (step / typical).rounded() >= 2 { throw VolumeIOError.invalidDICOM("a slice is missing after the one at \(at): a gap of \(String(format: "%g", step)) mm where slices are \(String(format: "%g", typical)) mm apart") }
                throw VolumeIOError.invalidDICOM("the slices are not evenly spaced: \(String(format: "%g", step)) mm after \(at), \(String(format: "%g", typical)) mm elsewhere")
            }
            // Positions must move along the normal only: a tilted gantry shifts them sideways.
            for (previous, next) in zip(sorted, sorted.dropFirst()) {
                let offset = next.position - previous.position
                let sideways = offset - normal * (offset * normal).sum()
                guard (sideways * sideways).sum().squareRoot() < 0.05 * min(first.pixelSpacing.row, first.pixelSpacing.column) + 0.01 else {
                    throw VolumeIOError.invalidDICOM("the slices move sideways from one to the next (a tilted gantry), which is not supported")
                }
            }
            thickness = typical
        }
        let size = GridSize(x: first.columns, y: first.rows, z: sorted.count)
        try limits.check(size)
        let (dx, dy, dz) = (first.pixelSpacing.column, first.pixelSpacing.row, thickness)
        let origin = sorted[0].position
        // DICOM's patient axes are LPS; NIfTI's are RAS: the first two rows change sign.
        let lps = [rowDirection * dx, columnDirection * dy, normal * dz]
        let rows = (0..<3).map { axis in
            let sign: Double = axis < 2 ? -1 : 1
            return SIMD4(sign * lps[0][axis], sign * lps[1][axis], sign * lps[2][axis], sign * origin[axis])
        }
        let geometry = VolumeGeometry(size: size, pixdim: SIMD3(dx, dy, dz), spatialUnit: .millimetre,
                                      sform: SForm(code: .scannerAnatomical, matrix: Affine(rows: rows)))
        return (sorted, try geometry.checked())
    }
}

/// One DICOM file's attributes, parsed.
public struct DICOMSlice: Sendable {
    public var url: URL
    public var sopClassUID: String
    public var sopInstanceUID: String
    public var studyInstanceUID: String
    public var seriesInstanceUID: String
    public var frameOfReferenceUID: String
    public var transferSyntaxUID: String
    public var modality: String
    public var imageType: [String]
    public var position: SIMD3<Double>
    public var orientation: [Double]
    public var pixelSpacing: (row: Double, column: Double)
    public var sliceThickness: Double?
    public var slope: Double
    public var intercept: Double
    public var rows: Int
    public var columns: Int
    var frames: Int
    var hasPixelData: Bool
    var hasGeometry: Bool

    /// Nil when the file is not DICOM at all.
    init?(reading url: URL) throws {
        var header = kseg_dicom_header()
        var message = [CChar](repeating: 0, count: 512)
        switch kseg_dicom_read_header(url.path, &header, &message, message.count) {
        case 0: break
        case 1: return nil
        default: throw VolumeIOError.invalidDICOM("\(url.lastPathComponent): \(String(nulTerminated: message))")
        }
        self.url = url
        let text = { (field: UnsafeRawPointer) in String(cString: field.assumingMemoryBound(to: CChar.self)) }
        sopClassUID = withUnsafeBytes(of: &header.sop_class_uid) { text($0.baseAddress!) }
        sopInstanceUID = withUnsafeBytes(of: &header.sop_instance_uid) { text($0.baseAddress!) }
        studyInstanceUID = withUnsafeBytes(of: &header.study_instance_uid) { text($0.baseAddress!) }
        seriesInstanceUID = withUnsafeBytes(of: &header.series_instance_uid) { text($0.baseAddress!) }
        frameOfReferenceUID = withUnsafeBytes(of: &header.frame_of_reference_uid) { text($0.baseAddress!) }
        transferSyntaxUID = withUnsafeBytes(of: &header.transfer_syntax_uid) { text($0.baseAddress!) }
        modality = withUnsafeBytes(of: &header.modality) { text($0.baseAddress!) }
        imageType = withUnsafeBytes(of: &header.image_type) { text($0.baseAddress!) }.split(separator: "\\").map { $0.uppercased() }
        let numbers = { (raw: String) in raw.split(separator: "\\").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) } }
        let position = numbers(withUnsafeBytes(of: &header.image_position) { text($0.baseAddress!) })
        orientation = numbers(withUnsafeBytes(of: &header.image_orientation) { text($0.baseAddress!) })
        let spacing = numbers(withUnsafeBytes(of: &header.pixel_spacing) { text($0.baseAddress!) })
        hasGeometry = position.count == 3 && orientation.count == 6 && spacing.count == 2
            && (position + orientation + spacing).allSatisfy(\.isFinite) && spacing.allSatisfy { $0 > 0 }
        self.position = hasGeometry ? SIMD3(position[0], position[1], position[2]) : .zero
        pixelSpacing = hasGeometry ? (spacing[0], spacing[1]) : (1, 1)
        sliceThickness = numbers(withUnsafeBytes(of: &header.slice_thickness) { text($0.baseAddress!) }).first.flatMap { $0 > 0 ? $0 : nil }
        slope = numbers(withUnsafeBytes(of: &header.rescale_slope) { text($0.baseAddress!) }).first ?? 1
        intercept = numbers(withUnsafeBytes(of: &header.rescale_intercept) { text($0.baseAddress!) }).first ?? 0
        rows = Int(header.rows)
        columns = Int(header.columns)
        frames = Int(header.frames)
        hasPixelData = header.has_pixel_data != 0
    }

    /// Why this file does not join a CT volume, or nil when it does.
    var reasonLeftOut: String? {
        if sopClassUID == DICOMSeries.enhancedCTImageStorage { return "enhanced multi-frame CT (not supported)" }
        if sopClassUID != DICOMSeries.ctImageStorage { return modality.isEmpty ? "not a CT image" : "not a CT image (\(modality))" }
        if imageType.contains("LOCALIZER") { return "a localiser" }
        if !hasPixelData || rows < 1 || columns < 1 { return "without pixel data" }
        if frames > 1 { return "multi-frame" }
        if !hasGeometry { return "without a position, orientation or pixel spacing" }
        guard slope.isFinite, slope != 0, intercept.isFinite else { return "an unusable rescale slope or intercept" }
        return nil
    }
}

/// Reads a single DICOM file as a one-slice series (see `DICOMInput`).
public struct DICOMDecoder: VolumeDecoder {
    public init() {}

    public var name: String { "DICOM" }

    /// DICOM Part 10: a 128-byte preamble, then "DICM".
    public func recognizes(prefix: [UInt8]) -> Bool { prefix.count >= 132 && Array(prefix[128..<132]) == Array("DICM".utf8) }

    public func decode(from url: URL, options: DecodeOptions) throws -> StoredVolume { try DICOMInput.stored(url, options: options) }

    public func describe(from url: URL, options: DecodeOptions) throws -> VolumeDescription { try DICOMInput.description(url, options: options) }
}

extension DICOMSeries {
    public func stored() throws -> StoredVolume {
        StoredVolume(volume: Volume(geometry: geometry, voxels: try hounsfield(), source: Self.source), mapping: .identity)
    }

    /// The grid, after decoding every slice once without keeping it.
    public func description() throws -> VolumeDescription {
        _ = try hounsfield(keep: false)
        var description = VolumeDescription(geometry: geometry, source: Self.source)
        description.dicom = summary
        return description
    }

    static let source = VolumeSource(format: .dicom, datatype: .int16)
}
