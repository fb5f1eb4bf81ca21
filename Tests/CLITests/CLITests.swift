import Foundation
import Imaging
import TestSupport
import Testing

/// Runs the built `kidneyseg` binary as a user would.
struct CLI {
    /// The binary sits beside the test bundle in the build directory.
    static let executable = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("kidneyseg")

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static func run(_ arguments: String...) throws -> Result { try run(arguments) }

    static func run(_ arguments: [String]) throws -> Result {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let stdout = output.fileHandleForReading.readDataToEndOfFile()
        let stderr = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                      stderr: String(decoding: stderr, as: UTF8.self))
    }
}

extension CLI {
    /// Starts `kidneyseg serve` on a port the system picks, waits for its start line, and returns
    /// the process and the port. Its log goes to a file in `logs`: a pipe nobody reads would fill
    /// and stall the server.
    static func startServer(models: URL?, data: URL, logs: URL, drainSeconds: Double = 30,
                            workingDirectory: URL? = nil) throws -> (process: Process, port: Int, log: URL) {
        // An empty settings file: the defaults, whatever the repository's Config/ holds.
        let settings = logs.appendingPathComponent("settings-\(UUID().uuidString).json")
        try Data("{}".utf8).write(to: settings)
        let process = Process()
        process.executableURL = executable
        process.arguments = ["serve", "--port", "0", "--data-dir", data.path, "--config", settings.path, "--drain-seconds", "\(drainSeconds)"]
            + (models.map { ["--models", $0.path] } ?? [])
        if let workingDirectory { process.currentDirectoryURL = workingDirectory }
        let log = logs.appendingPathComponent("serve-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        var port: Int?
        for _ in 0..<300 where port == nil {
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            if let line = text.split(separator: "\n").first(where: { $0.contains("listening on") }) {
                port = line.split(separator: ":").last.flatMap { Int($0.prefix { $0.isNumber }) }
            } else {
                Thread.sleep(forTimeInterval: 0.05)
            }
        }
        return (process, try #require(port, "no start line in \(log.path)"), log)
    }
}

@Suite struct InfoCommandTests {
    @Test func describesTheExampleCT() throws {
        let result = try CLI.run("info", SharedData.exampleCT.path)
        #expect(result.status == 0)
        #expect(result.stdout.contains("dims        122 x 101 x 112"))
        #expect(result.stdout.contains("spacing     3 x 3 x 3 mm"))
        #expect(result.stdout.contains("axis codes  RAS"))
        #expect(result.stdout.contains("HU range    -1207 to 3382"))
        #expect(result.stdout.contains("labels      none"))
    }

    @Test func countsTheLabelsOfAKiTSMap() throws {
        let result = try CLI.run("info", SharedData.kitsLabels(61).path)
        #expect(result.stdout.contains("axis codes  IPL"))
        #expect(result.stdout.contains("1 kidney: 124943 voxels"))
        #expect(result.stdout.contains("2 tumour: 23276 voxels"))
    }

    @Test func readsEightBitPNGsOnTheDeclaredRange() throws {
        let url = SharedData.root.appendingPathComponent("curvas-slices/images/10001_394.png")
        #expect(try CLI.run("info", url.path).stdout.contains("HU range    -125 to 225"))
        #expect(try CLI.run("info", url.path, "--hu-range", "0,255").stdout.contains("HU range    0 to 255"))
    }

    /// Every NIfTI, PNG and label file in ../shared/data, one after another (the largest KiTS
    /// maps take a gigabyte each).
    @Test func describesEveryFileInTheSharedData() throws {
        let files = SharedData.files(in: "kits19-labels", suffix: ".nii.gz") + SharedData.files(in: "example-ct", suffix: ".nii.gz")
            + [SharedData.pancreasSlice] + SharedData.files(in: "curvas-slices", suffix: ".png")
        #expect(files.count == 100 + 2 + 1 + 216)
        for file in files {
            let result = try CLI.run("info", file.path)
            #expect(result.status == 0, "\(file.lastPathComponent): \(result.stderr)")
            #expect(result.stdout.contains("axis codes"))
            if file.path.contains("kits19") {
                #expect(result.stdout.contains("1 kidney:"), "\(file.path) has kidney labels")
            }
            if file.path.contains("/labels/") {
                #expect(result.stdout.contains("labels      0 background:"), "\(file.path) is a label map")
            }
        }
    }
}

@Suite struct EvaluateCommandTests {
    @Test func aKiTSMapAgainstItselfHasDiceOne() throws {
        let path = SharedData.kitsLabels(61).path
        let result = try CLI.run("evaluate", "--prediction", path, "--reference", path, "--json")
        #expect(result.status == 0)
        let rows = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]]
        #expect(rows?.map { $0["label"] as? String } == ["kidney", "tumour"])
        #expect(rows?.map { $0["dice"] as? Double } == [1, 1])
    }

    @Test func printsUndefinedValuesAsNotAvailable() throws {
        // The example's reference has kidney only: tumour is absent from both maps.
        let path = SharedData.exampleKidneyReference.path
        let table = try CLI.run("evaluate", "--prediction", path, "--reference", path)
        let tumour = table.stdout.split(separator: "\n").first { $0.hasPrefix("tumour") }
        #expect(tumour?.split(separator: " ").filter { $0 == "n/a" }.count == 4)
        let json = try CLI.run("evaluate", "--prediction", path, "--reference", path, "--json")
        let rows = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]]
        #expect(rows?.last?["dice"] is NSNull)
    }
}

@Suite struct OverlayCommandTests {
    let scratch = ScratchDirectory()

    @Test func writesAnRGBPNGOfTheRequestedSlice() throws {
        let output = scratch.url.appendingPathComponent("overlay.png")
        let result = try CLI.run("overlay", SharedData.exampleCT.path, "--mask", SharedData.exampleKidneyReference.path,
                                 "--slice", "80", "-o", output.path)
        #expect(result.status == 0, "\(result.stderr)")
        let png = try [UInt8](Data(contentsOf: output))
        // IHDR: 122 columns (left-right) by 101 rows (anterior-posterior), 8-bit RGB.
        #expect(Array(png[16..<26]) == [0, 0, 0, 122, 0, 0, 0, 101, 8, 2])
    }
}

@Suite struct CommandErrorTests {
    /// Each failure is exactly one line on stderr and a non-zero exit status.
    static let failures: [([String], String)] = [
        (["info", "/no/such/file.nii.gz"], "kidneyseg: cannot read /no/such/file.nii.gz: no such file or no permission"),
        (["info"], "kidneyseg: Missing expected argument '<file>'"),
        (["info", "/etc/hostname"], "kidneyseg: not a NIfTI (.nii, .nii.gz), PNG, DICOM file or zip of DICOM files"),
        (["overlay", SharedData.exampleCT.path, "--mask", SharedData.exampleKidneyReference.path, "--slice", "112", "-o", "/tmp/x.png"],
         "kidneyseg: slice 112 is outside 0...111"),
        (["evaluate", "--prediction", SharedData.exampleKidneyReference.path, "--reference", SharedData.kitsLabels(61).path],
         "kidneyseg: the prediction (122 x 101 x 112 voxels of 3 x 3 x 3 mm) and the reference (512 x 512 x 29 voxels of 0.976562 x 0.976562 x 5 mm) do not share a voxel grid"),
        (["evaluate", "--prediction", SharedData.exampleCT.path, "--reference", SharedData.exampleCT.path],
         "kidneyseg: not a label map: voxel value -1023.0 is not an integer from 0 to 255"),
        (["segment", SharedData.exampleCT.path, "-o", "/tmp/mask.png"],
         "kidneyseg: the label map is written in the input's format, NIfTI: name the output .nii or .nii.gz, not mask.png"),
        (["segment", SharedData.curvasSlice.path, "-o", "/tmp/mask.nii.gz"],
         "kidneyseg: the label map is written in the input's format, PNG: name the output .png, not mask.nii.gz"),
    ]

    @Test(arguments: failures)
    func failsWithOneClearLine(arguments: [String], message: String) throws {
        let result = try CLI.run(arguments)
        #expect(result.status != 0)
        #expect(result.stderr == message + "\n")
        #expect(result.stdout.isEmpty)
    }
}

@Suite struct SegmentCommandTests {
    let scratch = ScratchDirectory()

    var models: URL {
        get throws {
            let folder = scratch.url.appendingPathComponent("models")
            try RandomModels.writeEnsemble(into: folder)
            return folder
        }
    }

    /// The label map reads back with the input's exact geometry, in the input's format.
    static let inputs: [(URL, String, ImageFormat)] = [
        (SharedData.exampleCT, "mask.nii.gz", .nifti(version: 1, gzipped: true)),
        (SharedData.pancreasSlice, "mask.nii", .nifti(version: 1, gzipped: false)),
        (SharedData.root.appendingPathComponent("curvas-slices/images/10001_394.png"), "mask.png", .png),
    ]

    @Test(arguments: inputs)
    func writesALabelMapInTheInputsGeometry(input: URL, name: String, format: ImageFormat) throws {
        let output = scratch.url.appendingPathComponent(name)
        let result = try CLI.run("segment", input.path, "-o", output.path, "--models", models.path)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("kidney: ") && result.stdout.contains("tumour: "))
        let reader = VolumeReader()
        let written = try reader.readLabels(from: output)
        let source = try reader.readCT(from: input)
        #expect(written.geometry == source.geometry)
        #expect(written.source.format == format)
        #expect(written.voxels.allSatisfy { $0 <= 2 })
    }

    @Test func printsMetricsAgainstAReference() throws {
        let output = scratch.url.appendingPathComponent("mask.nii.gz")
        let result = try CLI.run("segment", SharedData.exampleCT.path, "-o", output.path, "--models", models.path,
                                 "--reference", SharedData.exampleKidneyReference.path)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("class ") && result.stdout.contains("Dice"))
    }

    @Test func printsItsVersion() throws {
        let result = try CLI.run("--version")
        #expect(result.status == 0)
        #expect(result.stdout.wholeMatch(of: /\d+\.\d+\.\d+\n/) != nil, "printed \(result.stdout)")
    }

    /// A named settings file that does not exist once meant the defaults: no tokens, silently.
    @Test func refusesToServeWithAMissingSettingsFile() throws {
        let result = try CLI.run("serve", "--port", "0", "--config", "/nonexistent/kidneyseg.json")
        #expect(result.status != 0)
        #expect(result.stderr == "kidneyseg: the configuration file /nonexistent/kidneyseg.json does not exist\n")
    }

    @Test func saysWhenNoModelsAreInstalled() throws {
        let empty = scratch.url.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        let result = try CLI.run("segment", SharedData.exampleCT.path, "-o", scratch.url.appendingPathComponent("x.nii.gz").path,
                                 "--models", empty.path)
        #expect(result.status != 0)
        #expect(result.stderr.hasPrefix("kidneyseg: no models installed in \(empty.path)"))
        #expect(result.stderr.split(separator: "\n").count == 1)
    }
}

/// The fuzz harnesses' seed corpus (Fuzz/corpus), and every crash once found and added there,
/// replayed through the parsers on each test run.
@Suite struct FuzzCorpusTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz/corpus")

    @Test(arguments: ["http", "multipart", "nifti", "png", "safetensors", "config", "manifest", "dicom", "zip", "accept"])
    func replaysTheCorpusWithoutACrash(harness: String) throws {
        let folder = Self.corpus.appendingPathComponent(harness)
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted().map { folder.appendingPathComponent($0).path }
        #expect(!files.isEmpty)
        let replayer = CLI.executable.deletingLastPathComponent().appendingPathComponent("kidneyseg-fuzz")
        let process = Process()
        process.executableURL = replayer
        process.arguments = [harness] + files
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(printed == "\(files.count) inputs through \(harness): no crash\n")
    }
}
