import Foundation

/// Debian's DICOM command-line tools, used to re-encode a file in each transfer syntax:
/// gdcmconv (libgdcm-tools) decompresses, DCMTK's tools (dcmtk) encode.
public enum DICOMTools {
    public static let isInstalled = ["gdcmconv", "dcmconv", "dcmcrle", "dcmcjpeg", "dcmcjpls"]
        .allSatisfy { FileManager.default.isExecutableFile(atPath: "/usr/bin/\($0)") }

    /// Each lossless transfer syntax by name, and the command that turns an explicit little
    /// endian file (the first argument) into it (the second).
    public static let encodings: [(name: String, uid: String, tool: String, options: [String])] = [
        ("implicit little endian", "1.2.840.10008.1.2", "dcmconv", ["+ti"]),
        ("explicit big endian", "1.2.840.10008.1.2.2", "dcmconv", ["+tb"]),
        ("deflate", "1.2.840.10008.1.2.1.99", "dcmconv", ["+td"]),
        ("RLE", "1.2.840.10008.1.2.5", "dcmcrle", []),
        ("JPEG lossless, first-order prediction", "1.2.840.10008.1.2.4.70", "dcmcjpeg", ["+e1"]),
        ("JPEG lossless, process 14", "1.2.840.10008.1.2.4.57", "dcmcjpeg", ["+el"]),
        ("JPEG-LS lossless", "1.2.840.10008.1.2.4.80", "dcmcjpls", []),
    ]

    /// The lossy JPEG syntaxes, each with the mean HU error allowed after encoding: baseline
    /// keeps 8 bits (16 HU steps over a CT slice's range), extended sequential 12.
    public static let lossyEncodings: [(name: String, uid: String, tool: String, options: [String], meanError: Float)] = [
        ("JPEG baseline", "1.2.840.10008.1.2.4.50", "dcmcjpeg", ["+eb"], 20),
        ("JPEG extended sequential", "1.2.840.10008.1.2.4.51", "dcmcjpeg", ["+ee"], 4),
    ]

    /// `source` decompressed to explicit little endian, at `output`.
    public static func uncompressed(_ source: URL, to output: URL) throws -> URL {
        try run("gdcmconv", ["--raw", source.path, output.path])
        return output
    }

    /// `source` (explicit little endian) in each of `encodings` (the lossless ones unless
    /// told), in `folder`.
    public static func encode(_ source: URL, in folder: URL, as encodings: [(name: String, uid: String, tool: String, options: [String])] = encodings)
        throws -> [(name: String, uid: String, file: URL)] {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return try encodings.enumerated().map { index, encoding in
            let output = folder.appendingPathComponent("syntax-\(index).dcm")
            try run(encoding.tool, encoding.options + [source.path, output.path])
            return (encoding.name, encoding.uid, output)
        }
    }

    static func run(_ tool: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/\(tool)")
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "\(tool) failed"]) }
    }
}
