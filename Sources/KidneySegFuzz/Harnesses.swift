import CFuzzer
import Foundation
import HTTP
import Imaging
import NeuralNet
import Service

/// One parser under fuzzing: it takes any bytes, and must answer with a value or a typed error,
/// never a crash, a hang or unbounded memory. `Fuzz/run.sh` runs each under libFuzzer; without
/// `-DFUZZING` this executable replays files through them (the seed corpus, or a crash to
/// reproduce).
enum Harness: String, CaseIterable {
    case http, multipart, nifti, png, safetensors, config, manifest, dicom, zip, accept

    func run(_ bytes: [UInt8]) {
        switch self {
        case .http:
            // The first byte says where to split the rest, so incremental parsing is covered too.
            var parser = HTTPParser(limits: .init(maxHeaderBytes: 4096, maxHeaderCount: 32, maxBodyBytes: 1 << 16))
            for piece in Self.pieces(bytes) { guard (try? parser.feed(piece)) != nil else { return } }
        case .multipart:
            var parser = MultipartParser(boundary: "B", maxPartHeaderBytes: 1024)
            for piece in Self.pieces(bytes) { guard (try? parser.feed(piece)) != nil else { return } }
        case .nifti:
            // Through a file, as uploads arrive: the header checks and libnifti together.
            let reader = VolumeReader(options: DecodeOptions(limits: VolumeLimits(maxVoxels: 1 << 22, maxSlicePixels: 1 << 20)))
            Self.throughFile(bytes, suffix: ".nii") { _ = try? reader.readCT(from: $0) }
        case .png:
            _ = try? PNGCodec.decode(Data(bytes), maxPixels: 1 << 20)
        case .dicom:
            // As the service reads it: GDCM and the series checks in a child `kidneyseg
            // read-dicom` (GDCM aborts on some hostile files), its reply and NIfTI here.
            Self.throughFile(bytes, suffix: ".dcm") { _ = try? Self.dicomReader.readCT(from: $0) }
        case .zip:
            // libzip and the unpacking checks here, the series in the child.
            Self.throughFile(bytes, suffix: ".zip") { _ = try? Self.dicomReader.describe($0) }
        case .safetensors:
            _ = try? SafeTensorsFile(data: Data(bytes))
        case .config:
            Self.throughFile(bytes, suffix: ".json") { _ = try? ServiceConfiguration.load(file: $0, required: true, environment: [:], flags: [:]) }
        case .manifest:
            if let manifest = try? JSONDecoder().decode(ModelManifest.self, from: Data(bytes)) { _ = try? manifest.validate() }
        case .accept:
            // An Accept header (or a ?format=, when the first byte is odd) against what a
            // job may offer: its own format alone, or with DICOM SEG.
            let header = String(decoding: bytes.dropFirst(), as: UTF8.self)
            let asFormat = (bytes.first ?? 0) & 1 == 1
            for available: [KidneySegService.MaskFormat] in [[.nifti], [.png], [.nifti, .dicomSEG]] {
                _ = try? KidneySegService.negotiate(available, format: asFormat ? header : nil, accept: asFormat ? nil : header)
            }
        }
    }

    /// Small limits, so that an input cannot spend the fuzzer's memory legitimately; DICOM read
    /// by the `kidneyseg` beside this binary, or the one KIDNEYSEG_DICOM_READER names.
    private static let dicomReader: VolumeReader = {
        var options = DecodeOptions(limits: VolumeLimits(maxVoxels: 1 << 22, maxSlicePixels: 1 << 20))
        let beside = Bundle.main.executableURL!.deletingLastPathComponent().appendingPathComponent("kidneyseg")
        options.dicomReader = ProcessInfo.processInfo.environment["KIDNEYSEG_DICOM_READER"].map { URL(fileURLWithPath: $0) } ?? beside
        return VolumeReader(options: options)
    }()

    /// The input after its first byte, split where that byte says.
    private static func pieces(_ bytes: [UInt8]) -> [ArraySlice<UInt8>] {
        guard let first = bytes.first else { return [] }
        let rest = bytes.dropFirst()
        let cut = rest.startIndex + min(Int(first), rest.count)
        return [rest[..<cut], rest[cut...]]
    }

    private static func throughFile(_ bytes: [UInt8], suffix: String, _ body: (URL) -> Void) {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("kidneyseg-fuzz-\(getpid())\(suffix)")
        guard (try? Data(bytes).write(to: url)) != nil else { return }
        defer { try? FileManager.default.removeItem(at: url) }
        body(url)
    }
}

#if FUZZING
/// One input, as libFuzzer calls it, through the harness that KIDNEYSEG_FUZZ_HARNESS names.
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    Harness.selected.run(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
    return 0
}

/// The entry point SwiftPM links as main (it renames an executable's main): libFuzzer's loop.
@_cdecl("kidneyseg_fuzz_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    _ = Harness.selected
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments, fuzzOneInput)
}

extension Harness {
    static let selected: Harness = {
        let name = ProcessInfo.processInfo.environment["KIDNEYSEG_FUZZ_HARNESS"] ?? ""
        guard let harness = Harness(rawValue: name) else {
            fatalError("set KIDNEYSEG_FUZZ_HARNESS to one of \(allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return harness
    }()
}
#else
/// `kidneyseg-fuzz HARNESS FILE...`: runs each file through the harness and prints how many.
@main
struct Replay {
    static func main() throws {
        let arguments = CommandLine.arguments.dropFirst()
        guard let name = arguments.first, let harness = Harness(rawValue: name) else {
            FileHandle.standardError.write(Data("usage: kidneyseg-fuzz \(Harness.allCases.map(\.rawValue).joined(separator: "|")) FILE...\n".utf8))
            exit(2)
        }
        for path in arguments.dropFirst() { harness.run([UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))) }
        print("\(arguments.count - 1) inputs through \(name): no crash")
    }
}
#endif
