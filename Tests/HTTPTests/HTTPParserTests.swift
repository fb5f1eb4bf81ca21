import HTTP
import Testing

/// Every case runs four ways, as swift-nio's decoder tests do: the bytes whole, one byte at a
/// time, twice back to back on one connection, and split at every point into two reads. Each
/// way must give the same requests and leave nothing buffered.
@Suite struct HTTPParserTests {
    /// Requests as (head, body) after merging body pieces.
    struct Request: Equatable {
        var head: HTTPRequestHead
        var body: [UInt8]
    }

    func requests(_ events: [HTTPParser.Event]) -> [Request] {
        var result: [Request] = []
        for event in events {
            switch event {
            case let .head(head): result.append(Request(head: head, body: []))
            case let .body(bytes): result[result.count - 1].body += bytes
            case .end: break
            }
        }
        return result
    }

    func parse(_ pieces: [[UInt8]], limits: HTTPParser.Limits = .init()) throws -> (requests: [Request], ends: Int, idle: Bool) {
        var parser = HTTPParser(limits: limits)
        var events: [HTTPParser.Event] = []
        for piece in pieces { events += try parser.feed(piece) }
        return (requests(events), events.filter { $0 == .end }.count, parser.isIdle)
    }

    /// Checks `raw` gives `expected` every way it can arrive.
    func verify(_ raw: String, _ expected: [Request], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let bytes = Array(raw.utf8)
        let ways: [(String, [[UInt8]], [Request])] = [
            ("whole", [bytes], expected),
            ("byte by byte", bytes.map { [$0] }, expected),
            ("back to back", [bytes + bytes], expected + expected),
        ] + (1..<bytes.count).map { ("split at \($0)", [Array(bytes[..<$0]), Array(bytes[$0...])], expected) }
        for (name, pieces, want) in ways {
            let result = try parse(pieces)
            #expect(result.requests == want, "\(name)", sourceLocation: sourceLocation)
            #expect(result.ends == want.count, "\(name)", sourceLocation: sourceLocation)
            #expect(result.idle, "\(name) left bytes behind", sourceLocation: sourceLocation)
        }
    }

    /// Checks `raw` fails with `error` whole, byte by byte, and split at every point: a limit
    /// must not depend on how the bytes arrive.
    func verifyFails(_ raw: String, _ error: HTTPParseError, limits: HTTPParser.Limits = .init(),
                     sourceLocation: SourceLocation = #_sourceLocation) {
        let bytes = Array(raw.utf8)
        let splits = (1..<bytes.count).map { [Array(bytes[..<$0]), Array(bytes[$0...])] }
        for pieces in [[bytes], bytes.map { [$0] }] + splits {
            #expect(throws: error, sourceLocation: sourceLocation) { try parse(pieces, limits: limits) }
        }
    }

    @Test func parsesAGetWithoutBody() throws {
        try verify("GET /healthz HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n", [
            Request(head: HTTPRequestHead(method: "GET", target: "/healthz", headers: [("Host", "localhost"), ("Accept", "*/*")]), body: []),
        ])
    }

    @Test func readsAContentLengthBody() throws {
        try verify("POST /v1/jobs?case_id=7 HTTP/1.1\r\nContent-Length: 11\r\nContent-Type: application/octet-stream\r\n\r\nhello world", [
            Request(head: HTTPRequestHead(method: "POST", target: "/v1/jobs?case_id=7",
                                          headers: [("Content-Length", "11"), ("Content-Type", "application/octet-stream")]),
                    body: Array("hello world".utf8)),
        ])
    }

    @Test func decodesAChunkedBodyWithExtensionsAndTrailers() throws {
        let raw = "POST /v1/jobs HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "5;name=value\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nChecksum: abc\r\n\r\n"
        try verify(raw, [
            Request(head: HTTPRequestHead(method: "POST", target: "/v1/jobs", headers: [("Transfer-Encoding", "chunked")]),
                    body: Array("hello world".utf8)),
        ])
    }

    @Test func acceptsBareLineFeedsAndLeadingEmptyLines() throws {
        try verify("\r\n\nGET / HTTP/1.0\nHost: x\n\n", [
            Request(head: HTTPRequestHead(method: "GET", target: "/", minorVersion: 0, headers: [("Host", "x")]), body: []),
        ])
    }

    @Test func trimsOptionalWhitespaceAroundValues() throws {
        try verify("GET / HTTP/1.1\r\nX-Token: \t secret value \t\r\nEmpty:\r\n\r\n", [
            Request(head: HTTPRequestHead(method: "GET", target: "/", headers: [("X-Token", "secret value"), ("Empty", "")]), body: []),
        ])
    }

    @Test func keepsPipelinedRequestsApart() throws {
        let raw = "POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /b HTTP/1.1\r\n\r\nPOST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\n"
        try verify(raw, [
            Request(head: HTTPRequestHead(method: "POST", target: "/a", headers: [("Content-Length", "3")]), body: Array("abc".utf8)),
            Request(head: HTTPRequestHead(method: "GET", target: "/b"), body: []),
            Request(head: HTTPRequestHead(method: "POST", target: "/c", headers: [("Transfer-Encoding", "chunked")]), body: Array("xy".utf8)),
        ])
    }

    @Test func reportsConnectionAndExpectations() {
        let http11 = HTTPRequestHead(method: "GET", target: "/x?y=1", headers: [("connection", "Keep-Alive, Close")])
        #expect(!http11.keepAlive)
        #expect(http11.path == "/x")
        #expect(HTTPRequestHead(method: "GET", target: "/").keepAlive)
        #expect(!HTTPRequestHead(method: "GET", target: "/", minorVersion: 0).keepAlive)
        #expect(HTTPRequestHead(method: "GET", target: "/", minorVersion: 0, headers: [("Connection", "keep-alive")]).keepAlive)
        #expect(HTTPRequestHead(method: "PUT", target: "/", headers: [("Expect", "100-Continue")]).expectsContinue)
    }

    @Test func isIdleOnlyBetweenRequests() throws {
        var parser = HTTPParser()
        #expect(parser.isIdle)
        _ = try parser.feed(Array("POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\nab".utf8))
        #expect(!parser.isIdle)
        #expect(try parser.feed(Array("cd".utf8)) == [.body(Array("cd".utf8)), .end])
        #expect(parser.isIdle)
    }

    // MARK: - Malformed requests

    @Test func rejectsMalformedRequestLines() {
        verifyFails("GET /\r\n\r\n", .invalidRequestLine)
        verifyFails("GET  / HTTP/1.1\r\n\r\n", .invalidRequestLine)
        verifyFails("G(T / HTTP/1.1\r\n\r\n", .invalidRequestLine)
        verifyFails("GET / FTP/1.1\r\n\r\n", .invalidRequestLine)
        verifyFails("GET /a\u{7F}b HTTP/1.1\r\n\r\n", .invalidRequestLine)
        verifyFails("GET / HTTP/2.0\r\n\r\n", .unsupportedVersion("HTTP/2.0"))
    }

    @Test func rejectsMalformedHeaders() {
        verifyFails("GET / HTTP/1.1\r\nNo colon here\r\n\r\n", .invalidHeader("No colon here"))
        verifyFails("GET / HTTP/1.1\r\nSpace : before colon\r\n\r\n", .invalidHeader("Space : before colon"))
        verifyFails("GET / HTTP/1.1\r\n: empty name\r\n\r\n", .invalidHeader(": empty name"))
        verifyFails("GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", .invalidHeader(" folded"))
    }

    @Test func refusesAmbiguousBodyFraming() {
        verifyFails("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", .conflictingFraming)
        verifyFails("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", .invalidContentLength("3, 4"))
        verifyFails("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", .invalidContentLength("-1"))
        verifyFails("POST / HTTP/1.1\r\nContent-Length: 1e3\r\n\r\n", .invalidContentLength("1e3"))
        verifyFails("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", .unsupportedTransferEncoding("gzip, chunked"))
    }

    @Test func rejectsMalformedChunks() {
        let head = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        verifyFails(head + "zz\r\n", .invalidChunk("bad chunk size line"))
        verifyFails(head + "3\r\nabcX", .invalidChunk("chunk data is not followed by CRLF"))
        verifyFails(head + "3\r\nabc\rX", .invalidChunk("chunk data is not followed by CRLF"))
        verifyFails(head + String(repeating: "0", count: 2000), .invalidChunk("a line is longer than 1024 bytes"))
        verifyFails(head + "fffffffffffffffffff\r\n", .invalidChunk("bad chunk size line"))
        // A 3,000-byte chunk extension was accepted whole and refused when split mid-line.
        verifyFails(head + "5;" + String(repeating: "x", count: 3000) + "\r\nhello\r\n0\r\n\r\n", .invalidChunk("a line is longer than 1024 bytes"))
    }

    @Test func enforcesItsLimits() {
        let limits = HTTPParser.Limits(maxHeaderBytes: 64, maxHeaderCount: 2, maxBodyBytes: 10)
        verifyFails("GET / HTTP/1.1\r\nX: " + String(repeating: "a", count: 100) + "\r\n\r\n", .headerTooLarge, limits: limits)
        verifyFails("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", .tooManyHeaders, limits: limits)
        // A declared length over the limit fails before any of the body arrives.
        verifyFails("POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n", .bodyTooLarge(limit: 10), limits: limits)
        verifyFails("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n", .bodyTooLarge(limit: 10), limits: limits)
        // A head that never ends cannot grow past the limit.
        verifyFails("GET / HTTP/1.1\r\nX: " + String(repeating: "a", count: 100), .headerTooLarge, limits: limits)
        // Trailers count against the header limits: once 200,000 were accepted.
        let chunked = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
        verifyFails(chunked + "A: 1\r\nB: 2\r\nC: 3\r\n\r\n", .tooManyHeaders, limits: limits)
        verifyFails(chunked + "A: " + String(repeating: "a", count: 40) + "\r\nB: " + String(repeating: "b", count: 40) + "\r\n\r\n", .headerTooLarge, limits: limits)
    }

    @Test func staysFailedAfterAnError() throws {
        var parser = HTTPParser()
        #expect(throws: HTTPParseError.invalidRequestLine) { try parser.feed(Array("BAD\r\n\r\n".utf8)) }
        #expect(throws: HTTPParseError.invalidRequestLine) { try parser.feed(Array("GET / HTTP/1.1\r\n\r\n".utf8)) }
    }

    @Test func mapsErrorsToStatusCodes() {
        #expect(HTTPParseError.headerTooLarge.status == 431)
        #expect(HTTPParseError.bodyTooLarge(limit: 1).status == 413)
        #expect(HTTPParseError.unsupportedVersion("HTTP/2.0").status == 505)
        #expect(HTTPParseError.unsupportedTransferEncoding("gzip").status == 501)
        #expect(HTTPParseError.conflictingFraming.status == 400)
    }
}
