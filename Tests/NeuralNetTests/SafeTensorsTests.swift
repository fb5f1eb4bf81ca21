import Foundation
import NeuralNet
import TestSupport
import Testing

@Suite struct SafeTensorsTests {
    /// A hand-made file: 8-byte length, JSON header, data.
    func file(header: String, data: [UInt8]) -> Data {
        var bytes = Data()
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: Array(header.utf8))
        bytes.append(contentsOf: data)
        return bytes
    }

    @Test func roundTripsF32() throws {
        let written = try SafeTensorsFile.encode([.init(name: "a", shape: [2, 2], values: [1, -2, 0.5, 3e-8]),
                                                  .init(name: "b", shape: [3], values: [7, 8, 9])],
                                                 metadata: ["encoder": "resnet18"])
        let read = try SafeTensorsFile(data: written)
        #expect(read.metadata == ["encoder": "resnet18"])
        #expect(read.entries["a"]?.shape == [2, 2])
        #expect(try read.floats("a") == [1, -2, 0.5, 3e-8])
        #expect(try read.floats("b") == [7, 8, 9])
    }

    @Test func widensF16AndBF16() throws {
        // F16 0x3C00 = 1, 0xC000 = -2; BF16 0x3F80 = 1, 0x4049 = 3.140625.
        let header = #"{"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[4,8]}}"#
        let read = try SafeTensorsFile(data: file(header: header, data: [0x00, 0x3C, 0x00, 0xC0, 0x80, 0x3F, 0x49, 0x40]))
        #expect(try read.floats("h") == [1, -2])
        #expect(try read.floats("b") == [1, 3.140625])
    }

    @Test func readsTheFixturesEncoderFromItsMetadata() throws {
        let read = try SafeTensorsFile(contentsOf: ParityFixtures.root.appendingPathComponent("inception_v3/weights.safetensors"))
        #expect(read.metadata["encoder"] == "tu-inception_v3")
        #expect(read.entries["encoder.model.Mixed_5b.branch1x1.bn.num_batches_tracked"]?.dtype == .i64)
    }

    static let malformed: [(String, Data, SafeTensorsError)] = [
        ("too short", Data([1, 2, 3]), .truncated("the file is 3 bytes, shorter than its 8-byte header length")),
        ("huge header", Data([0, 0, 0, 0, 0, 0, 0, 1]), .headerTooLarge(1 << 56)),
        ("header past the end", Data([100, 0, 0, 0, 0, 0, 0, 0]) + Data("{}".utf8),
         .truncated("the header claims 100 bytes but the file has 2 after the length")),
    ]

    @Test(arguments: malformed)
    func rejectsMalformedFiles(name: String, data: Data, error: SafeTensorsError) {
        #expect(throws: error, "\(name)") { try SafeTensorsFile(data: data) }
    }

    static let lyingHeaders: [(String, String, Int)] = [
        ("not JSON", "{\"a\": ", 0),
        ("not an object", "[1, 2]", 0),
        ("unknown dtype", #"{"a":{"dtype":"F12","shape":[1],"data_offsets":[0,4]}}"#, 4),
        ("bytes disagree with shape", #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#, 4),
        ("offsets past the end", #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, 4),
        ("negative shape", #"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, 4),
        ("gap", #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, 8),
        ("overlap", #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, 8),
        ("trailing bytes", #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, 12),
        ("overflowing shape", #"{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}"#, 4),
        ("bad metadata", #"{"__metadata__":{"n":1}}"#, 0),
    ]

    @Test(arguments: lyingHeaders)
    func rejectsLyingHeaders(name: String, header: String, dataBytes: Int) {
        #expect(name.isEmpty == false)
        #expect {
            try SafeTensorsFile(data: file(header: header, data: [UInt8](repeating: 0, count: dataBytes)))
        } throws: { error in
            guard case .invalidHeader = error as? SafeTensorsError else { return false }
            return true
        }
    }

    @Test func refusesIntegerTensorsAsWeights() throws {
        let header = #"{"n":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#
        let read = try SafeTensorsFile(data: file(header: header, data: [UInt8](repeating: 0, count: 8)))
        #expect(throws: SafeTensorsError.unsupportedDType(name: "n", dtype: "I64")) { try read.floats("n") }
        #expect(throws: SafeTensorsError.missingTensor("m")) { try read.floats("m") }
    }
}
