import Foundation

/// Zips made by Python's zipfile, as PACS exports are made by tools other than ours.
public enum ZipFixture {
    /// Writes a zip at `url` of `entries` (name in the archive → file on disk, or nil for
    /// `zeros` zero bytes). Names are kept exactly as given, `../` included. With `claiming`,
    /// the headers of a one-entry zip lie that it inflates to that many bytes.
    public static func write(_ url: URL, _ entries: [(String, URL?)], zeros: Int = 0, claiming: Int? = nil) throws {
        let script = """
            import struct, sys, zipfile
            out, size, claim, pairs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
            with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
                for name, path in zip(pairs[::2], pairs[1::2]):
                    # ZipInfo keeps the name as given; z.write would clean "../" away.
                    info = zipfile.ZipInfo(name)
                    info.compress_type = zipfile.ZIP_DEFLATED
                    with z.open(info, "w", force_zip64=True) as entry:
                        if path != "-":
                            entry.write(open(path, "rb").read())
                        for start in range(0, size if path == "-" else 0, 1 << 20):  # zeros, a MiB at a time
                            entry.write(bytes(min(1 << 20, size - start)))
            if claim >= 0:  # the uncompressed size in the local header, its zip64 field and the central one
                data = bytearray(open(out, "rb").read())
                local, central = data.find(b"PK\\x03\\x04"), data.find(b"PK\\x01\\x02")
                name_length = struct.unpack_from("<H", data, local + 26)[0]
                struct.pack_into("<I", data, local + 22, claim)
                struct.pack_into("<Q", data, local + 30 + name_length + 4, claim)
                struct.pack_into("<I", data, central + 24, claim)
                open(out, "wb").write(data)
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-c", script, url.path, "\(zeros)", "\(claiming ?? -1)"] + entries.flatMap { [$0.0, $0.1?.path ?? "-"] }
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw CocoaError(.fileWriteUnknown) }
    }

    /// The example DICOM series' files, by name.
    public static var exampleSeriesFiles: [URL] {
        get throws {
            try FileManager.default.contentsOfDirectory(at: SharedData.exampleDICOMSeries, includingPropertiesForKeys: nil).sorted { $0.path < $1.path }
        }
    }
}

/// dcm2niix (Debian's), the independent DICOM-to-NIfTI converter the DICOM reader is checked against.
public enum Dcm2niix {
    public static let isInstalled = FileManager.default.isExecutableFile(atPath: "/usr/bin/dcm2niix")

    /// Converts the DICOM folder into `output/series.nii.gz` and returns its URL.
    public static func convert(_ folder: URL, into output: URL) throws -> URL {
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/dcm2niix")
        process.arguments = ["-z", "y", "-b", "n", "-f", "series", "-o", output.path, folder.path]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return output.appendingPathComponent("series.nii.gz")
    }
}
