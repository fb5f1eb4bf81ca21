import Foundation

/// The real public data beside the project (../shared/data), read-only.
public enum SharedData {
    public static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("shared/data")

    public static let exampleCT = root.appendingPathComponent("example-ct/example_ct.nii.gz")
    public static let exampleKidneyReference = root.appendingPathComponent("example-ct/example_ct_kidney_reference.nii.gz")
    public static let pancreasSlice = root.appendingPathComponent("pancreas-ct-slice/slice.nii.gz")
    /// The same slice as one JPEG 2000 DICOM file.
    public static let pancreasSliceDICOM = root.appendingPathComponent("pancreas-ct-slice/slice.dcm")
    /// A 20-slice JPEG 2000 DICOM series of the example CT's patient (its dataset's SOP Class
    /// and Series UIDs are empty).
    public static let exampleDICOMSeries = root.appendingPathComponent("example-ct/dicom")
    /// An 8-bit CURVAS slice (pixel = clamp(HU, 0, 255)) with a kidney label.
    public static let curvasSlice = root.appendingPathComponent("curvas-slices/images/10001_394.png")
    /// The real KiTS19 slices of 4 patients, with spacing.json.
    public static let kitsRealSlices = root.appendingPathComponent("kits19-real-slices")

    /// The KiTS19 label map of `caseNumber` (0 to 99).
    public static func kitsLabels(_ caseNumber: Int) -> URL {
        root.appendingPathComponent(String(format: "kits19-labels/case_%05d/segmentation.nii.gz", caseNumber))
    }

    /// All files of one kind under a folder of the data, sorted by name.
    public static func files(in folder: String, suffix: String) -> [URL] {
        let directory = root.appendingPathComponent(folder)
        let enumerator = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: nil)
        return (enumerator?.allObjects as? [URL] ?? []).filter { $0.path.hasSuffix(suffix) }.sorted { $0.path < $1.path }
    }
}

/// The full-size reference U-Nets from PyTorch, with inputs and logits (../shared/fixtures/smp-unet).
public enum ParityFixtures {
    public static let root = SharedData.root.deletingLastPathComponent().appendingPathComponent("fixtures/smp-unet")

    /// A raw little-endian float32 file.
    public static func floats(_ relativePath: String) throws -> [Float] {
        let data = try Data(contentsOf: root.appendingPathComponent(relativePath))
        return data.withUnsafeBytes { raw in
            (0..<(data.count / 4)).map { Float(bitPattern: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self).littleEndian) }
        }
    }
}

/// A fresh directory under the system's temporary directory, removed with its contents when the
/// last reference goes. A suite holds one, so each test gets its own and leaves nothing behind.
public final class ScratchDirectory: Sendable {
    public let url: URL

    public init() {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("kidneyseg-test-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }
}

/// gzip-compresses `data` with the system's gzip, as scanners' exporters do.
public func gzip(_ data: Data) throws -> Data {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/gzip")
    process.arguments = ["-c", "-n"]
    let input = Pipe()
    let output = Pipe()
    process.standardInput = input
    process.standardOutput = output
    try process.run()
    // Write on another thread: a large input would fill the pipe while nobody reads the output.
    let writer = Thread { input.fileHandleForWriting.write(data); try? input.fileHandleForWriting.close() }
    writer.start()
    let compressed = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return compressed
}

/// The executables built beside the test bundle.
public enum BuiltProducts {
    /// `kidneyseg`, which the service runs as its DICOM reader (`read-dicom`).
    public static let kidneyseg = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("kidneyseg")
}
