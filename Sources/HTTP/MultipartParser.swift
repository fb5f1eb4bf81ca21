/// A streaming multipart/form-data parser (RFC 7578): bytes in, parts out, so an upload's parts
/// can be written to disk as they arrive. Like `HTTPParser`, it owns no I/O.
public struct MultipartParser: Sendable {
    public enum Event: Equatable, Sendable {
        /// A part begins: its form field name, and its file name and type when given.
        case partHead(name: String, filename: String?, contentType: String?)
        case partBody([UInt8])
        case partEnd
        /// The closing delimiter arrived; anything after it is ignored.
        case end
    }

    private enum State: Sendable {
        case preamble
        case afterDelimiter
        case partHeaders
        case partBody
        case done
        case failed(MultipartError)
    }

    public let boundary: String
    public let maxPartHeaderBytes: Int
    /// "\r\n--" + boundary: what ends a part's body.
    private let delimiter: [UInt8]
    private var state = State.preamble
    private var buffer: [UInt8] = []
    /// Whether no byte of the body has been consumed yet.
    private var atStart = true

    public init(boundary: String, maxPartHeaderBytes: Int = 8 * 1024) {
        self.boundary = boundary
        self.maxPartHeaderBytes = maxPartHeaderBytes
        delimiter = Array("\r\n--\(boundary)".utf8)
    }

    /// The boundary parameter of a `multipart/form-data` Content-Type, or nil when the type is
    /// something else or the boundary is missing or invalid (RFC 2046: 1 to 70 characters).
    public static func boundary(contentType: String) -> String? {
        let parts = contentType.split(separator: ";").map(\.trimmingSpaces)
        guard parts.first?.lowercased() == "multipart/form-data" else { return nil }
        for parameter in parts.dropFirst() {
            let pair = parameter.split(separator: "=", maxSplits: 1).map(String.init)
            guard pair.count == 2, pair[0].trimmingSpaces.lowercased() == "boundary" else { continue }
            var value = pair[1].trimmingSpaces
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
            return (1...70).contains(value.utf8.count) && !value.hasSuffix(" ") ? value : nil
        }
        return nil
    }

    public var isFinished: Bool {
        if case .done = state { return true }
        return false
    }

    public mutating func feed<Bytes: Collection<UInt8>>(_ bytes: Bytes) throws(MultipartError) -> [Event] {
        if case let .failed(error) = state { throw error }
        if case .done = state { return [] }
        buffer.append(contentsOf: bytes)
        var events: [Event] = []
        var position = 0
        do {
            while let next = try step(from: position, into: &events) { position = next }
        } catch {
            state = .failed(error)
            buffer = []
            throw error
        }
        if case .done = state { buffer = [] } else { buffer.removeFirst(position) }
        return events
    }

    private mutating func step(from position: Int, into events: inout [Event]) throws(MultipartError) -> Int? {
        switch state {
        case .failed(let error):
            throw error
        case .done:
            return nil
        case .preamble:
            // The first delimiter may open the body without its leading CRLF.
            let opening = Array(delimiter.dropFirst(2))
            if atStart {
                guard buffer.count >= opening.count || !opening.starts(with: buffer) else { return nil }
                atStart = false
                if buffer.starts(with: opening) {
                    state = .afterDelimiter
                    return opening.count
                }
            }
            guard let found = find(delimiter, from: position) else {
                // Keep just enough to recognise a delimiter split across reads.
                let keep = max(position, buffer.count - delimiter.count)
                return keep > position ? keep : nil
            }
            state = .afterDelimiter
            return found + delimiter.count
        case .afterDelimiter:
            guard buffer.count - position >= 2 else { return nil }
            if buffer[position] == UInt8(ascii: "-") && buffer[position + 1] == UInt8(ascii: "-") {
                state = .done
                events.append(.end)
                return buffer.count  // the epilogue is ignored
            }
            // Transport padding (spaces, tabs) may precede the CRLF.
            var index = position
            while index < buffer.count, buffer[index] == UInt8(ascii: " ") || buffer[index] == UInt8(ascii: "\t") { index += 1 }
            guard index + 1 < buffer.count else { return nil }
            guard buffer[index] == UInt8(ascii: "\r"), buffer[index + 1] == UInt8(ascii: "\n") else {
                throw .malformed("a boundary line does not end in CRLF")
            }
            state = .partHeaders
            return index + 2
        case .partHeaders:
            guard let end = find(Array("\r\n\r\n".utf8), from: position) else {
                // Up to 3 bytes of the blank line may be here already: only more than that proves
                // the headers too long, however the bytes were split.
                if buffer.count - position > maxPartHeaderBytes + 3 { throw .partHeaderTooLarge }
                return nil
            }
            guard end - position <= maxPartHeaderBytes else { throw .partHeaderTooLarge }
            events.append(try partHead(buffer[position..<end]))
            state = .partBody
            return end + 4
        case .partBody:
            if let found = find(delimiter, from: position) {
                if found > position { events.append(.partBody(Array(buffer[position..<found]))) }
                events.append(.partEnd)
                state = .afterDelimiter
                return found + delimiter.count
            }
            // Everything except a possible start of the delimiter at the end is body.
            let safe = buffer.count - (delimiter.count - 1)
            guard safe > position else { return nil }
            events.append(.partBody(Array(buffer[position..<safe])))
            return safe
        }
    }

    private func partHead(_ bytes: ArraySlice<UInt8>) throws(MultipartError) -> Event {
        var name: String?
        var filename: String?
        var contentType: String?
        let lines = bytes.split(separator: UInt8(ascii: "\n")).map { String(decoding: $0.last == UInt8(ascii: "\r") ? $0.dropLast() : $0, as: UTF8.self) }
        for line in lines where !line.isEmpty {
            let pair = line.split(separator: ":", maxSplits: 1).map(String.init)
            guard pair.count == 2 else { throw .malformed("a part header has no colon") }
            switch pair[0].trimmingSpaces.lowercased() {
            case "content-disposition":
                let parameters = Self.parameters(pair[1])
                guard parameters.first?.key == "form-data" else { throw .malformed("a part is not form-data") }
                name = parameters.first { $0.key == "name" }?.value
                filename = parameters.first { $0.key == "filename" }?.value
            case "content-type":
                contentType = pair[1].trimmingSpaces
            default:
                break
            }
        }
        guard let name, !name.isEmpty else { throw .malformed("a part has no form field name") }
        return .partHead(name: name, filename: filename, contentType: contentType)
    }

    /// `form-data; name="image"; filename="a b.nii"` as [(form-data, ""), (name, image), (filename, a b.nii)].
    private static func parameters(_ text: String) -> [(key: String, value: String)] {
        var result: [(key: String, value: String)] = []
        var current = ""
        var quoted = false
        for character in text + ";" {
            if character == "\"" { quoted.toggle() }
            if character == ";" && !quoted {
                // Empty parameters (a trailing `;`, `;;`, a bare `=`) name nothing and are skipped.
                let pair = current.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
                var value = pair.count == 2 ? pair[1].trimmingSpaces : ""
                if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
                let key = pair[0].trimmingSpaces.lowercased()
                if !key.isEmpty { result.append((key, value)) }
                current = ""
            } else {
                current.append(character)
            }
        }
        return result
    }

    /// The first index at or after `start` where `pattern` begins in the buffer.
    private func find(_ pattern: [UInt8], from start: Int) -> Int? {
        guard let first = pattern.first, buffer.count - start >= pattern.count else { return nil }
        var index = start
        let last = buffer.count - pattern.count
        while index <= last {
            guard let candidate = buffer[index...last].firstIndex(of: first) else { return nil }
            if buffer[candidate..<(candidate + pattern.count)].elementsEqual(pattern) { return candidate }
            index = candidate + 1
        }
        return nil
    }
}

public enum MultipartError: Error, Equatable, Sendable, CustomStringConvertible {
    case malformed(String)
    case partHeaderTooLarge
    case incomplete

    public var description: String {
        switch self {
        case let .malformed(reason): "malformed multipart body: \(reason)"
        case .partHeaderTooLarge: "a multipart part's headers are too large"
        case .incomplete: "the multipart body ends before its closing boundary"
        }
    }
}
