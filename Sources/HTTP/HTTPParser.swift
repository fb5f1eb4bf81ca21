/// An incremental HTTP/1.1 request parser: bytes in, request parts out. It owns no socket and no
/// thread, so it is tested by feeding bytes whole, one at a time, or several requests back to back.
///
/// Bodies are framed by Content-Length or chunked transfer coding (RFC 9112 §6). A request with
/// both, a Transfer-Encoding other than chunked, or conflicting lengths is refused, as such
/// requests are how requests are smuggled past proxies.
public struct HTTPParser: Sendable {
    public enum Event: Equatable, Sendable {
        case head(HTTPRequestHead)
        case body([UInt8])
        case end
    }

    public struct Limits: Equatable, Sendable {
        /// Request line plus headers.
        public var maxHeaderBytes: Int
        public var maxHeaderCount: Int
        /// The largest body accepted, declared or chunked.
        public var maxBodyBytes: Int

        public init(maxHeaderBytes: Int = 16 * 1024, maxHeaderCount: Int = 100, maxBodyBytes: Int = 1 << 30) {
            self.maxHeaderBytes = maxHeaderBytes
            self.maxHeaderCount = maxHeaderCount
            self.maxBodyBytes = maxBodyBytes
        }
    }

    private enum State: Sendable {
        case head
        case fixedBody(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers
        case failed(HTTPParseError)
    }

    public let limits: Limits
    private var state = State.head
    private var buffer: [UInt8] = []
    private var chunkedTotal = 0
    /// Trailer lines and bytes so far: trailers count against the header limits.
    private var trailerLines = 0
    private var trailerBytes = 0

    public init(limits: Limits = Limits()) { self.limits = limits }

    /// Whether the parser sits between requests with nothing buffered: a connection closed now
    /// loses no request.
    public var isIdle: Bool {
        if case .head = state { return buffer.isEmpty }
        return false
    }

    /// Parses as much of `bytes` (and anything buffered before) as it can.
    public mutating func feed<Bytes: Collection<UInt8>>(_ bytes: Bytes) throws(HTTPParseError) -> [Event] {
        if case let .failed(error) = state { throw error }
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
        buffer.removeFirst(position)
        return events
    }

    /// Consumes one piece from `buffer[position...]`; returns the new position, or nil when more
    /// bytes are needed.
    private mutating func step(from position: Int, into events: inout [Event]) throws(HTTPParseError) -> Int? {
        switch state {
        case .failed(let error):
            throw error
        case .head:
            // RFC 9112 §2.2: empty lines before a request line are ignored.
            if position < buffer.count, buffer[position] == UInt8(ascii: "\r") || buffer[position] == UInt8(ascii: "\n") {
                return position + 1
            }
            guard let end = Self.endOfHead(in: buffer, from: position) else {
                if buffer.count - position > limits.maxHeaderBytes { throw .headerTooLarge }
                return nil
            }
            guard end - position <= limits.maxHeaderBytes else { throw .headerTooLarge }
            let head = try parseHead(buffer[position..<end])
            events.append(.head(head))
            try startBody(for: head, events: &events)
            return end
        case let .fixedBody(remaining):
            let available = min(remaining, buffer.count - position)
            guard available > 0 else { return nil }
            events.append(.body(Array(buffer[position..<(position + available)])))
            if remaining == available {
                state = .head
                events.append(.end)
            } else {
                state = .fixedBody(remaining: remaining - available)
            }
            return position + available
        case .chunkSize:
            guard let (line, next) = try Self.line(in: buffer, from: position, limit: 1024) else { return nil }
            let size = try Self.chunkSize(line)
            chunkedTotal += size
            guard chunkedTotal <= limits.maxBodyBytes else { throw .bodyTooLarge(limit: limits.maxBodyBytes) }
            state = size == 0 ? .trailers : .chunkData(remaining: size)
            return next
        case let .chunkData(remaining):
            let available = min(remaining, buffer.count - position)
            guard available > 0 else { return nil }
            events.append(.body(Array(buffer[position..<(position + available)])))
            state = remaining == available ? .chunkDataEnd : .chunkData(remaining: remaining - available)
            return position + available
        case .chunkDataEnd:
            guard position < buffer.count else { return nil }
            var next = position
            if buffer[next] == UInt8(ascii: "\r") {
                guard next + 1 < buffer.count else { return nil }
                next += 1
            }
            guard buffer[next] == UInt8(ascii: "\n") else { throw .invalidChunk("chunk data is not followed by CRLF") }
            state = .chunkSize
            return next + 1
        case .trailers:
            guard let (line, next) = try Self.line(in: buffer, from: position, limit: limits.maxHeaderBytes) else { return nil }
            if line.isEmpty {
                state = .head
                events.append(.end)
                return next
            }
            // Trailer fields are read and ignored, within the limits a head has.
            trailerLines += 1
            trailerBytes += next - position
            guard trailerLines <= limits.maxHeaderCount else { throw .tooManyHeaders }
            guard trailerBytes <= limits.maxHeaderBytes else { throw .headerTooLarge }
            return next
        }
    }

    private mutating func startBody(for head: HTTPRequestHead, events: inout [Event]) throws(HTTPParseError) {
        let encodings = head.values("Transfer-Encoding")
        let lengths = head.values("Content-Length")
        if !encodings.isEmpty {
            guard lengths.isEmpty else { throw .conflictingFraming }
            let codings = encodings.flatMap { $0.split(separator: ",").map { $0.trimmingSpaces.lowercased() } }
            guard codings == ["chunked"] else { throw .unsupportedTransferEncoding(encodings.joined(separator: ", ")) }
            (chunkedTotal, trailerLines, trailerBytes) = (0, 0, 0)
            state = .chunkSize
            return
        }
        let distinct = Set(lengths.flatMap { $0.split(separator: ",").map(\.trimmingSpaces) })
        guard distinct.count <= 1 else { throw .invalidContentLength(lengths.joined(separator: ", ")) }
        guard let text = distinct.first else {
            events.append(.end)
            return
        }
        guard !text.isEmpty, text.count <= 18, text.allSatisfy(\.isASCIIDigit), let length = Int(text) else {
            throw .invalidContentLength(text)
        }
        guard length <= limits.maxBodyBytes else { throw .bodyTooLarge(limit: limits.maxBodyBytes) }
        if length == 0 {
            events.append(.end)
        } else {
            state = .fixedBody(remaining: length)
        }
    }

    private func parseHead(_ bytes: ArraySlice<UInt8>) throws(HTTPParseError) -> HTTPRequestHead {
        let lines = bytes.split(separator: UInt8(ascii: "\n")).map { $0.last == UInt8(ascii: "\r") ? $0.dropLast() : $0 }.filter { !$0.isEmpty }
        guard let requestLine = lines.first, let text = String(validating: requestLine, as: UTF8.self) else {
            throw .invalidRequestLine
        }
        let parts = text.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, parts[0].allSatisfy(\.isTokenCharacter),
              !parts[1].isEmpty, parts[1].allSatisfy({ $0.isASCII && !$0.isWhitespace && $0 != "\u{7F}" && $0.asciiValue! >= 0x21 }) else {
            throw .invalidRequestLine
        }
        let minorVersion: Int
        switch parts[2] {
        case "HTTP/1.1": minorVersion = 1
        case "HTTP/1.0": minorVersion = 0
        default:
            guard parts[2].hasPrefix("HTTP/") else { throw .invalidRequestLine }
            throw .unsupportedVersion(String(parts[2]))
        }
        guard lines.count - 1 <= limits.maxHeaderCount else { throw .tooManyHeaders }
        var headers: [(name: String, value: String)] = []
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > line.startIndex,
                  let name = String(validating: line[line.startIndex..<colon], as: UTF8.self),
                  name.allSatisfy(\.isTokenCharacter) else {
                throw .invalidHeader(String(decoding: line.prefix(80), as: UTF8.self))
            }
            let rawValue = line[(colon + 1)...]
            guard !rawValue.contains(0), !rawValue.contains(UInt8(ascii: "\r")), !rawValue.contains(UInt8(ascii: "\n")) else {
                throw .invalidHeader(name)
            }
            headers.append((name, String(decoding: rawValue, as: UTF8.self).trimmingSpaces))
        }
        return HTTPRequestHead(method: String(parts[0]), target: String(parts[1]), minorVersion: minorVersion, headers: headers)
    }

    /// The index just past the empty line that ends a head, accepting CRLF or bare LF. `start`
    /// is the first byte of the request line.
    private static func endOfHead(in bytes: [UInt8], from start: Int) -> Int? {
        var lineStart = start
        for index in start..<bytes.count where bytes[index] == UInt8(ascii: "\n") {
            let length = index - lineStart
            if length == 0 || (length == 1 && bytes[lineStart] == UInt8(ascii: "\r")) { return index + 1 }
            lineStart = index + 1
        }
        return nil
    }

    /// The line starting at `start` without its CRLF (or LF), and the index after it. A line
    /// longer than `limit` fails whether it arrives whole or in pieces.
    private static func line(in bytes: [UInt8], from start: Int, limit: Int) throws(HTTPParseError) -> (ArraySlice<UInt8>, Int)? {
        guard let newline = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) else {
            if bytes.count - start > limit { throw .invalidChunk("a line is longer than \(limit) bytes") }
            return nil
        }
        guard newline - start <= limit else { throw .invalidChunk("a line is longer than \(limit) bytes") }
        var end = newline
        if end > start && bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        return (bytes[start..<end], newline + 1)
    }

    private static func chunkSize(_ line: ArraySlice<UInt8>) throws(HTTPParseError) -> Int {
        let digits = line.prefix { $0 != UInt8(ascii: ";") }.drop { $0 == UInt8(ascii: " ") }.reversed().drop { $0 == UInt8(ascii: " ") }.reversed()
        guard !digits.isEmpty, digits.count <= 15, let text = String(validating: digits, as: UTF8.self),
              text.allSatisfy(\.isHexDigit), let size = Int(text, radix: 16) else {
            throw .invalidChunk("bad chunk size line")
        }
        return size
    }
}

public enum HTTPParseError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidRequestLine
    case invalidHeader(String)
    case headerTooLarge
    case tooManyHeaders
    case unsupportedVersion(String)
    case conflictingFraming
    case invalidContentLength(String)
    case unsupportedTransferEncoding(String)
    case bodyTooLarge(limit: Int)
    case invalidChunk(String)

    /// The status the server answers with.
    public var status: Int {
        switch self {
        case .invalidRequestLine, .invalidHeader, .conflictingFraming, .invalidContentLength, .invalidChunk: 400
        case .headerTooLarge, .tooManyHeaders: 431
        case .unsupportedVersion: 505
        case .unsupportedTransferEncoding: 501
        case .bodyTooLarge: 413
        }
    }

    public var description: String {
        switch self {
        case .invalidRequestLine: "malformed request line"
        case let .invalidHeader(field): "malformed header field: \(field)"
        case .headerTooLarge: "the request line and headers are too large"
        case .tooManyHeaders: "too many header fields"
        case let .unsupportedVersion(version): "\(version) is not supported; use HTTP/1.1"
        case .conflictingFraming: "a request may not carry both Transfer-Encoding and Content-Length"
        case let .invalidContentLength(value): "invalid Content-Length: \(value)"
        case let .unsupportedTransferEncoding(value): "unsupported Transfer-Encoding: \(value); only chunked is accepted"
        case let .bodyTooLarge(limit): "the body is larger than the limit of \(limit) bytes"
        case let .invalidChunk(reason): "malformed chunked body: \(reason)"
        }
    }
}

extension Character {
    /// RFC 9110 tchar: the characters of methods and header names.
    var isTokenCharacter: Bool {
        guard let ascii = asciiValue else { return false }
        return (ascii >= 0x30 && ascii <= 0x39) || (ascii >= 0x41 && ascii <= 0x5A) || (ascii >= 0x61 && ascii <= 0x7A)
            || "!#$%&'*+-.^_`|~".utf8.contains(ascii)
    }

    var isASCIIDigit: Bool { asciiValue.map { $0 >= 0x30 && $0 <= 0x39 } ?? false }
}
