import Foundation

/// A safetensors file: an 8-byte little-endian header length N, N bytes of JSON naming each
/// tensor's dtype, shape and byte range, then the tensors' bytes. Every field is checked when the
/// file opens, so a bad file is a typed error and never a crash.
///
/// The byte-level format and the model folder around it are documented in docs/MODEL_FORMAT.md.
public struct SafeTensorsFile: Sendable {
    public struct Entry: Equatable, Sendable {
        public var dtype: DType
        public var shape: [Int]
        /// Byte range within the data section.
        public var range: Range<Int>
    }

    public enum DType: String, Sendable, CaseIterable {
        case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16"
        case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8"
        case u64 = "U64", u32 = "U32", u16 = "U16", u8 = "U8", bool = "BOOL"
        case f8e4m3 = "F8_E4M3", f8e5m2 = "F8_E5M2"

        public var size: Int {
            switch self {
            case .f64, .i64, .u64: 8
            case .f32, .i32, .u32: 4
            case .f16, .bf16, .i16, .u16: 2
            case .i8, .u8, .bool, .f8e4m3, .f8e5m2: 1
            }
        }
    }

    /// The largest JSON header accepted (the format's own limit).
    public static let maximumHeaderBytes = 100_000_000

    public let entries: [String: Entry]
    public let metadata: [String: String]
    private let data: Data
    private let dataStart: Int

    public init(contentsOf url: URL) throws {
        let data: Data
        do { data = try Data(contentsOf: url, options: .alwaysMapped) } catch {
            throw SafeTensorsError.unreadable(path: url.path, reason: error.localizedDescription)
        }
        try self.init(data: data)
    }

    public init(data: Data) throws {
        guard data.count >= 8 else { throw SafeTensorsError.truncated("the file is \(data.count) bytes, shorter than its 8-byte header length") }
        let headerLength = data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard headerLength <= UInt64(Self.maximumHeaderBytes) else { throw SafeTensorsError.headerTooLarge(headerLength) }
        guard Int(headerLength) <= data.count - 8 else {
            throw SafeTensorsError.truncated("the header claims \(headerLength) bytes but the file has \(data.count - 8) after the length")
        }
        let header = data.subdata(in: (data.startIndex + 8)..<(data.startIndex + 8 + Int(headerLength)))
        guard let json = try? JSONSerialization.jsonObject(with: header), let object = json as? [String: Any] else {
            throw SafeTensorsError.invalidHeader("the header is not a JSON object")
        }
        let dataLength = data.count - 8 - Int(headerLength)
        var entries: [String: Entry] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in object {
            if name == "__metadata__" {
                guard let strings = value as? [String: String] else { throw SafeTensorsError.invalidHeader("__metadata__ must map strings to strings") }
                metadata = strings
                continue
            }
            entries[name] = try Self.entry(named: name, value, dataLength: dataLength)
        }
        // The tensors must tile the data section exactly: no gaps, no overlaps, nothing after.
        var expectedStart = 0
        for (name, entry) in entries.sorted(by: { $0.value.range.lowerBound < $1.value.range.lowerBound }) {
            guard entry.range.lowerBound == expectedStart else {
                throw SafeTensorsError.invalidHeader("\(name) starts at byte \(entry.range.lowerBound), expected \(expectedStart): tensors must be contiguous")
            }
            expectedStart = entry.range.upperBound
        }
        guard expectedStart == dataLength else {
            throw SafeTensorsError.invalidHeader("the tensors cover \(expectedStart) of the \(dataLength) data bytes")
        }
        self.entries = entries
        self.metadata = metadata
        self.data = data
        dataStart = 8 + Int(headerLength)
    }

    private static func entry(named name: String, _ value: Any, dataLength: Int) throws -> Entry {
        guard let fields = value as? [String: Any], let dtypeName = fields["dtype"] as? String,
              let shapeValues = fields["shape"] as? [Any], let offsetValues = fields["data_offsets"] as? [Any] else {
            throw SafeTensorsError.invalidHeader("\(name) needs dtype, shape and data_offsets")
        }
        guard let dtype = DType(rawValue: dtypeName) else { throw SafeTensorsError.invalidHeader("\(name) has unknown dtype \(dtypeName)") }
        let shape = try shapeValues.map { try nonNegativeInteger($0, field: "shape", of: name) }
        let offsets = try offsetValues.map { try nonNegativeInteger($0, field: "data_offsets", of: name) }
        guard offsets.count == 2, offsets[0] <= offsets[1], offsets[1] <= dataLength else {
            throw SafeTensorsError.invalidHeader("\(name) has data_offsets \(offsets) outside the \(dataLength) data bytes")
        }
        var bytes = dtype.size
        for dimension in shape {
            let (product, overflow) = bytes.multipliedReportingOverflow(by: dimension)
            guard !overflow else { throw SafeTensorsError.invalidHeader("\(name) has shape \(shape), too large to address") }
            bytes = product
        }
        guard bytes == offsets[1] - offsets[0] else {
            throw SafeTensorsError.invalidHeader("\(name) is \(dtypeName) \(shape) = \(bytes) bytes, but its data_offsets span \(offsets[1] - offsets[0])")
        }
        return Entry(dtype: dtype, shape: shape, range: offsets[0]..<offsets[1])
    }

    private static func nonNegativeInteger(_ value: Any, field: String, of name: String) throws -> Int {
        guard let number = value as? NSNumber, let integer = Int(exactly: number.doubleValue), integer >= 0 else {
            throw SafeTensorsError.invalidHeader("\(name).\(field) holds \(value), not a non-negative integer")
        }
        return integer
    }

    /// A floating-point tensor widened to Float32.
    public func floats(_ name: String) throws -> [Float] {
        guard let entry = entries[name] else { throw SafeTensorsError.missingTensor(name) }
        let start = data.startIndex + dataStart + entry.range.lowerBound
        let count = entry.range.count / entry.dtype.size
        return try data[start..<(start + entry.range.count)].withUnsafeBytes { raw -> [Float] in
            switch entry.dtype {
            case .f32: return (0..<count).map { Float(bitPattern: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self).littleEndian) }
            case .f16: return (0..<count).map { Float(Float16(bitPattern: raw.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self).littleEndian)) }
            case .bf16: return (0..<count).map { Float(bitPattern: UInt32(raw.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self).littleEndian) << 16) }
            default: throw SafeTensorsError.unsupportedDType(name: name, dtype: entry.dtype.rawValue)
            }
        }
    }
}

extension SafeTensorsFile {
    /// A named F32 tensor to write.
    public struct Tensor32: Sendable {
        public var name: String
        public var shape: [Int]
        public var values: [Float]

        public init(name: String, shape: [Int], values: [Float]) {
            precondition(shape.reduce(1, *) == values.count, "\(name): \(values.count) values do not fill \(shape)")
            self.name = name
            self.shape = shape
            self.values = values
        }
    }

    /// The bytes of a safetensors file holding `tensors` as F32, in the given order.
    public static func encode(_ tensors: [Tensor32], metadata: [String: String] = [:]) throws -> Data {
        var header: [String: Any] = metadata.isEmpty ? [:] : ["__metadata__": metadata]
        var offset = 0
        for tensor in tensors {
            header[tensor.name] = ["dtype": "F32", "shape": tensor.shape, "data_offsets": [offset, offset + 4 * tensor.values.count]]
            offset += 4 * tensor.values.count
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        json.append(contentsOf: [UInt8](repeating: 0x20, count: (8 - json.count % 8) % 8))  // pad to 8 bytes
        var data = Data(capacity: 8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(json)
        for tensor in tensors {
            tensor.values.withUnsafeBufferPointer { values in
                for value in values { withUnsafeBytes(of: value.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
            }
        }
        return data
    }
}

public enum SafeTensorsError: Error, Equatable, Sendable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case truncated(String)
    case headerTooLarge(UInt64)
    case invalidHeader(String)
    case missingTensor(String)
    case unsupportedDType(name: String, dtype: String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason): "cannot read \(path): \(reason)"
        case let .truncated(reason): "truncated safetensors file: \(reason)"
        case let .headerTooLarge(bytes): "the safetensors header claims \(bytes) bytes, over the limit of \(SafeTensorsFile.maximumHeaderBytes)"
        case let .invalidHeader(reason): "invalid safetensors header: \(reason)"
        case let .missingTensor(name): "the safetensors file has no tensor \(name)"
        case let .unsupportedDType(name, dtype): "\(name) is stored as \(dtype); weights must be F32, F16 or BF16"
        }
    }
}
