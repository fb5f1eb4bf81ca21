import Foundation
import HTTP
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Echoes what it received: the method, path and body size, as JSON. `/refuse` answers 401
/// without reading the body.
struct EchoResponder: HTTPResponder {
    func respond(to request: HTTPRequest) -> HTTPResponse {
        if request.head.path == "/refuse" { return .error(401, code: "unauthorized", message: "no token") }
        var size = 0
        do {
            while let piece = try request.readBody() { size += piece.count }
        } catch {
            return .error(400, code: "bad_request", message: "\(error)")
        }
        let body = #"{"method":"\#(request.head.method)","path":"\#(request.head.path)","size":\#(size)}"#
        return .json(200, Data(body.utf8))
    }
}

/// A plain TCP client on loopback that reads responses by their Content-Length.
final class RawClient {
    let descriptor: Int32
    private var buffer: [UInt8] = []

    init(port: Int) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw HTTPServerError.connectionClosed }
    }

    deinit { close(descriptor) }

    func send(_ text: String) { send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// The next response: status, headers (lower-cased names) and body; nil if the server closed.
    func response() -> (status: Int, headers: [String: String], body: String)? {
        while true {
            if let end = buffer.firstRange(of: Array("\r\n\r\n".utf8)) {
                let head = String(decoding: buffer[..<end.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
                var headers: [String: String] = [:]
                for line in head.dropFirst() {
                    let pair = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                    if pair.count == 2 { headers[pair[0].lowercased()] = pair[1] }
                }
                let length = Int(headers["content-length"] ?? "0") ?? 0
                if buffer.count >= end.upperBound + length {
                    let body = String(decoding: buffer[end.upperBound..<(end.upperBound + length)], as: UTF8.self)
                    buffer.removeFirst(end.upperBound + length)
                    let status = Int(head[0].split(separator: " ")[1]) ?? 0
                    return (status, headers, body)
                }
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let count = recv(descriptor, &chunk, chunk.count, 0)
            guard count > 0 else { return nil }
            buffer += chunk[0..<count]
        }
    }

    /// Whether the server has closed the connection (reads end of stream).
    func isClosed() -> Bool {
        var byte: UInt8 = 0
        return recv(descriptor, &byte, 1, 0) == 0
    }
}

@Suite(.serialized) struct HTTPServerTests {
    func withServer(_ configuration: HTTPServerConfiguration = HTTPServerConfiguration(port: 0),
                    _ body: (HTTPServer) throws -> Void) throws {
        let server = HTTPServer(configuration: configuration, responder: EchoResponder())
        try server.start()
        defer { server.stop() }
        try body(server)
    }

    @Test func keepsAConnectionAliveAcrossRequests() throws {
        try withServer { server in
            let client = try RawClient(port: server.port)
            for path in ["/one", "/two"] {
                client.send("GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n")
                let response = try #require(client.response())
                #expect(response.status == 200)
                #expect(response.headers["connection"] == "keep-alive")
                #expect(response.body == #"{"method":"GET","path":"\#(path)","size":0}"#)
            }
        }
    }

    @Test func answersPipelinedRequestsInOrder() throws {
        try withServer { server in
            let client = try RawClient(port: server.port)
            client.send("POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\nConnection: close\r\n\r\n")
            #expect(client.response()?.body == #"{"method":"POST","path":"/a","size":5}"#)
            #expect(client.response()?.body == #"{"method":"GET","path":"/b","size":0}"#)
            let last = try #require(client.response())
            #expect(last.body == #"{"method":"GET","path":"/c","size":0}"#)
            #expect(last.headers["connection"] == "close")
            #expect(client.isClosed())
        }
    }

    @Test func readsAChunkedUpload() throws {
        try withServer { server in
            let client = try RawClient(port: server.port)
            client.send("POST /upload HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
            for _ in 0..<10 { client.send("400\r\n" + String(repeating: "x", count: 1024) + "\r\n") }
            client.send("0\r\n\r\n")
            #expect(client.response()?.body == #"{"method":"POST","path":"/upload","size":10240}"#)
        }
    }

    @Test func refusesAnOversizeBodyBeforeReadingIt() throws {
        var configuration = HTTPServerConfiguration(port: 0)
        configuration.limits.maxBodyBytes = 1000
        try withServer(configuration) { server in
            let client = try RawClient(port: server.port)
            client.send("POST /upload HTTP/1.1\r\nContent-Length: 5000000\r\n\r\n")  // and no body at all
            let response = try #require(client.response())
            #expect(response.status == 413)
            #expect(response.body.contains(#""code":"body_too_large""#))
            #expect(client.isClosed())
        }
    }

    @Test func answersMalformedRequestsWithJSONAndCloses() throws {
        try withServer { server in
            let client = try RawClient(port: server.port)
            client.send("GARBAGE\r\n\r\n")
            let response = try #require(client.response())
            #expect(response.status == 400)
            #expect(response.headers["content-type"] == "application/json")
            #expect(response.body == #"{"error":{"code":"bad_request","message":"malformed request line"}}"#)
            #expect(client.isClosed())
        }
    }

    @Test func closesASlowlorisConnection() throws {
        var configuration = HTTPServerConfiguration(port: 0)
        configuration.headerTimeout = 0.5
        try withServer(configuration) { server in
            let client = try RawClient(port: server.port)
            let start = Date()
            client.send("GET / HTTP/1.1\r\n")
            for _ in 0..<20 {  // a header byte every 100 ms never finishes the head
                client.send("X")
                Thread.sleep(forTimeInterval: 0.1)
                if server.openConnections == 0 { break }
            }
            #expect(client.response()?.status == 408)
            #expect(Date().timeIntervalSince(start) < 2)
            #expect(server.openConnections == 0)
        }
    }

    @Test func sendsContinueOnlyWhenTheBodyIsWanted() throws {
        try withServer { server in
            let client = try RawClient(port: server.port)
            client.send("PUT /upload HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
            #expect(client.response()?.status == 100)
            client.send("abc")
            #expect(client.response()?.body == #"{"method":"PUT","path":"/upload","size":3}"#)

            let refused = try RawClient(port: server.port)
            refused.send("PUT /refuse HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
            let response = try #require(refused.response())
            #expect(response.status == 401)
            #expect(refused.isClosed())  // the unread body cannot be skipped
        }
    }

    @Test func turnsAwayConnectionsOverTheLimit() throws {
        var configuration = HTTPServerConfiguration(port: 0)
        configuration.maxConnections = 1
        try withServer(configuration) { server in
            let first = try RawClient(port: server.port)
            first.send("GET / HTTP/1.1\r\n\r\n")
            #expect(first.response()?.status == 200)
            let second = try RawClient(port: server.port)
            let response = try #require(second.response())
            #expect(response.status == 503)
            #expect(response.headers["retry-after"] == "1")
        }
    }
}
