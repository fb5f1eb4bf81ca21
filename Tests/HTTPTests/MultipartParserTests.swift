import HTTP
import Testing

/// Multipart bodies arrive in arbitrary pieces: each case runs whole, byte by byte, and split at
/// every point, and must give the same parts.
@Suite struct MultipartParserTests {
    struct Part: Equatable {
        var name: String
        var filename: String?
        var contentType: String?
        var body: [UInt8]
    }

    func parts(_ pieces: [[UInt8]], boundary: String, maxPartHeaderBytes: Int = 8 * 1024) throws -> (parts: [Part], finished: Bool, ended: Int) {
        var parser = MultipartParser(boundary: boundary, maxPartHeaderBytes: maxPartHeaderBytes)
        var parts: [Part] = []
        var ended = 0
        for piece in pieces {
            for event in try parser.feed(piece) {
                switch event {
                case let .partHead(name, filename, contentType): parts.append(Part(name: name, filename: filename, contentType: contentType, body: []))
                case let .partBody(bytes): parts[parts.count - 1].body += bytes
                case .partEnd: ended += 1
                case .end: break
                }
            }
        }
        return (parts, parser.isFinished, ended)
    }

    func verify(_ raw: [UInt8], boundary: String, maxPartHeaderBytes: Int = 8 * 1024, _ expected: [Part],
                sourceLocation: SourceLocation = #_sourceLocation) throws {
        let ways = [[raw], raw.map { [$0] }] + (1..<raw.count).map { [Array(raw[..<$0]), Array(raw[$0...])] }
        for pieces in ways {
            let result = try parts(pieces, boundary: boundary, maxPartHeaderBytes: maxPartHeaderBytes)
            #expect(result.parts == expected, sourceLocation: sourceLocation)
            #expect(result.finished && result.ended == expected.count, sourceLocation: sourceLocation)
        }
    }

    /// A trailing `;`, `;;` or a bare `=` in Content-Disposition once crashed the server
    /// (indexing the first half of an empty parameter). They name nothing and are skipped.
    @Test(arguments: ["form-data; name=\"image\";", "form-data;; name=\"image\"", "form-data; =; name=\"image\"", "form-data; name=\"image\"; = ;;"])
    func skipsEmptyDispositionParameters(disposition: String) throws {
        let raw = Array("--B\r\nContent-Disposition: \(disposition)\r\n\r\nxxx\r\n--B--\r\n".utf8)
        try verify(raw, boundary: "B", [Part(name: "image", filename: nil, contentType: nil, body: Array("xxx".utf8))])
    }

    /// Part headers exactly at the limit pass however the bytes are split: the blank line that
    /// ends them does not count (it once did when split just inside it); one byte more fails.
    @Test func thePartHeaderLimitDoesNotDependOnTheSplit() throws {
        let header = "Content-Disposition: form-data; name=\"image\""
        let raw = Array("--B\r\n\(header)\r\n\r\nxyz\r\n--B--\r\n".utf8)
        try verify(raw, boundary: "B", maxPartHeaderBytes: header.utf8.count, [Part(name: "image", filename: nil, contentType: nil, body: Array("xyz".utf8))])
        for pieces in [[raw], raw.map { [$0] }] + (1..<raw.count).map { [Array(raw[..<$0]), Array(raw[$0...])] } {
            #expect(throws: MultipartError.partHeaderTooLarge) { try parts(pieces, boundary: "B", maxPartHeaderBytes: header.utf8.count - 1) }
        }
    }

    @Test func splitsAnUploadIntoItsParts() throws {
        // The image holds bytes that look like a delimiter's start: CR, LF and dashes.
        let image: [UInt8] = [0x1F, 0x8B, 0x0D, 0x0A, 0x2D, 0x2D, 0x58, 0x0D, 0x0A, 0x2D, 0x00, 0xFF]
        let raw = Array("preamble to ignore\r\n--XyZ\r\nContent-Disposition: form-data; name=\"image\"; filename=\"ct; final.nii.gz\"\r\nContent-Type: application/gzip\r\n\r\n".utf8)
            + image
            + Array("\r\n--XyZ  \r\ncontent-disposition: form-data; name=reference\r\n\r\nmask\r\n--XyZ--\r\nepilogue".utf8)
        try verify(raw, boundary: "XyZ", [
            Part(name: "image", filename: "ct; final.nii.gz", contentType: "application/gzip", body: image),
            Part(name: "reference", filename: nil, contentType: nil, body: Array("mask".utf8)),
        ])
    }

    @Test func acceptsAnEmptyPartAndNoPreamble() throws {
        try verify(Array("--b\r\nContent-Disposition: form-data; name=\"case_id\"\r\n\r\n\r\n--b--".utf8), boundary: "b", [
            Part(name: "case_id", filename: nil, contentType: nil, body: []),
        ])
    }

    @Test func readsTheBoundaryFromTheContentType() {
        #expect(MultipartParser.boundary(contentType: "multipart/form-data; boundary=----abc123") == "----abc123")
        #expect(MultipartParser.boundary(contentType: "Multipart/Form-Data; charset=utf-8; boundary=\"a b\"") == "a b")
        #expect(MultipartParser.boundary(contentType: "application/octet-stream") == nil)
        #expect(MultipartParser.boundary(contentType: "multipart/form-data") == nil)
        #expect(MultipartParser.boundary(contentType: "multipart/form-data; boundary=" + String(repeating: "x", count: 71)) == nil)
    }

    @Test func rejectsMalformedBodies() {
        func fails(_ raw: String, _ error: MultipartError) {
            #expect(throws: error) { try parts([Array(raw.utf8)], boundary: "b") }
        }
        fails("--b\r\nno colon\r\n\r\nx\r\n--b--", .malformed("a part header has no colon"))
        fails("--b\r\nContent-Disposition: attachment; name=x\r\n\r\nx\r\n--b--", .malformed("a part is not form-data"))
        fails("--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--", .malformed("a part has no form field name"))
        fails("--bX\r\n", .malformed("a boundary line does not end in CRLF"))
        fails("--b\r\n" + String(repeating: "H", count: 9000), .partHeaderTooLarge)
    }

    @Test func reportsWhetherTheClosingBoundaryArrived() throws {
        let truncated = try parts([Array("--b\r\nContent-Disposition: form-data; name=image\r\n\r\npartial".utf8)], boundary: "b")
        #expect(!truncated.finished)
        #expect(truncated.parts.first?.name == "image")
    }
}
