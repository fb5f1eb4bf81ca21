import Foundation
import HTTP
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Echoes what it received: the method, path and body size, as JSON. `/refuse` answers 401
/// without reading the body; `/big` answers 16 MiB.
struct EchoResponder: HTTPResponder {
    func respond(to request: HTTPRequest) -> HTTPResponse {
        if request.head.path == "/refuse" { return .error(401, code: "unauthorized", message: "no token") }
        if request.head.path == "/big" { return HTTPResponse(status: 200, body: .bytes(Data(count: 16 << 20))) }
        var size = 0
        do {
            while let piece = try request.readBody() { size += piece.count }
        } catch {
            return .error(error == .timedOut ? 408 : 400, code: "bad_request", message: "\(error)")
        }
        let body = #"{"method":"\#(request.head.method)","path":"\#(request.head.path)","size":\#(size)}"#
        return .json(200, Data(body.utf8))
    }
}

@Suite(.serialized) struct HTTPServerTests {
    func withServer(_ configuration: HTTPServerConfiguration = HTTPServerConfiguration(port: 0),
                    _ body: (HTTPServer) throws -> Void) throws {
        _ = TestLogging.toFile
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

    /// HEAD gets GET's status and headers, Content-Length included, and no body: the next
    /// response on the connection follows the head at once.
    @Test func answersHeadAsGetWithoutTheBody() throws {
        try withServer { server in
            let client = try RawClient(port: server.port)
            client.send("HEAD /one HTTP/1.1\r\n\r\nGET /two HTTP/1.1\r\n\r\n")
            let head = try #require(client.responseHead())
            #expect(head.hasPrefix("HTTP/1.1 200"))
            #expect(head.contains("Content-Length: 39"))  // {"method":"GET","path":"/one","size":0}
            let next = try #require(client.response())
            #expect(next.status == 200 && next.body.contains("/two"))
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

    /// A client that sends its whole upload before reading, as curl does, reads the refusal
    /// the server sent at the start: the server drains before it closes. Closing at once made
    /// the kernel reset the connection, and the client saw ECONNRESET, not 401.
    @Test func aClientStillUploadingReadsItsRefusal() throws {
        try withServer { server in
            let client = try RawClient(port: server.port)
            // Part of the body is on its way as the 401 is sent; the rest follows.
            client.send("POST /refuse HTTP/1.1\r\nContent-Length: 4000000\r\n\r\n")
            client.send([UInt8](repeating: 0x41, count: 1_000_000))
            Thread.sleep(forTimeInterval: 0.2)
            client.send([UInt8](repeating: 0x41, count: 3_000_000))
            let response = try #require(client.response(), "the connection was reset before the response was read")
            #expect(response.status == 401)
        }
    }

    /// A head over the limit gets 431, which the client reads even while it goes on sending.
    @Test func aClientStillSendingAnOversizeHeadReadsIts431() throws {
        try withServer { server in
            let client = try RawClient(port: server.port)
            // More of the head is on its way as the 431 is sent; the rest follows.
            client.send("GET / HTTP/1.1\r\n" + String(repeating: "X-Padding: \(String(repeating: "p", count: 100))\r\n", count: 5000))
            Thread.sleep(forTimeInterval: 0.2)
            client.send(String(repeating: "X-More: \(String(repeating: "m", count: 100))\r\n", count: 10000))
            let response = try #require(client.response(), "the connection was reset before the response was read")
            #expect(response.status == 431)
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

    /// At the limit, a newcomer gets 503 when every connection is in the middle of a request.
    @Test func turnsAwayConnectionsOverTheLimit() throws {
        var configuration = HTTPServerConfiguration(port: 0)
        configuration.maxConnections = 1
        try withServer(configuration) { server in
            let busy = try RawClient(port: server.port)
            busy.send("GET / HTTP/1.1\r\n")  // half a head
            Thread.sleep(forTimeInterval: 0.1)
            let second = try RawClient(port: server.port)
            let response = try #require(second.response())
            #expect(response.status == 503)
            #expect(response.headers["retry-after"] == "1")
            busy.send("\r\n")
            #expect(busy.response()?.status == 200)
        }
    }

    /// At the limit, the kept-alive connection idle longest is closed to make room.
    @Test func closesTheLongestIdleConnectionToMakeRoom() throws {
        var configuration = HTTPServerConfiguration(port: 0)
        configuration.maxConnections = 2
        try withServer(configuration) { server in
            let clients = try (0..<2).map { _ in try RawClient(port: server.port) }
            for client in clients {
                client.send("GET / HTTP/1.1\r\n\r\n")
                #expect(client.response()?.status == 200)
            }
            let newcomer = try RawClient(port: server.port)
            newcomer.send("GET /new HTTP/1.1\r\n\r\n")
            #expect(newcomer.response()?.status == 200)
            #expect(clients[0].isClosed())
            clients[1].send("GET /still HTTP/1.1\r\n\r\n")
            #expect(clients[1].response()?.status == 200)
        }
    }

    /// A body that trickles (here 10 bytes/s against a minimum of 1,000) is cut off with 408.
    @Test func cutsOffABodyThatTrickles() throws {
        var configuration = HTTPServerConfiguration(port: 0)
        configuration.minimumBodyRate = 1000
        configuration.bodyRateWindow = 0.5
        try withServer(configuration) { server in
            let client = try RawClient(port: server.port)
            client.send("POST /upload HTTP/1.1\r\nContent-Length: 100000\r\n\r\n")
            let start = Date()
            let trickle = Thread {
                for _ in 0..<30 {
                    client.send("x")
                    Thread.sleep(forTimeInterval: 0.1)
                }
            }
            trickle.start()
            let response = try #require(client.response())
            #expect(response.status == 408)
            #expect(Date().timeIntervalSince(start) < 2.5)
        }
    }

    /// Uploads beyond the limit get 503 at once, while other requests and the upload already
    /// under way carry on.
    @Test func limitsConcurrentUploads() throws {
        var configuration = HTTPServerConfiguration(port: 0)
        configuration.maxUploads = 1
        try withServer(configuration) { server in
            let first = try RawClient(port: server.port)
            first.send("POST /one HTTP/1.1\r\nContent-Length: 1000\r\n\r\n" + String(repeating: "a", count: 10))
            Thread.sleep(forTimeInterval: 0.1)
            let second = try RawClient(port: server.port)
            second.send("POST /two HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello")
            let refused = try #require(second.response())
            #expect(refused.status == 503)
            #expect(refused.body.contains(#""code":"too_many_uploads""#))
            #expect(refused.headers["retry-after"] != nil)
            let reader = try RawClient(port: server.port)
            reader.send("GET /three HTTP/1.1\r\n\r\n")
            #expect(reader.response()?.status == 200)
            first.send(String(repeating: "a", count: 990))
            #expect(first.response()?.body == #"{"method":"POST","path":"/one","size":1000}"#)
        }
    }

    /// With every upload slot taken by a body that trickles, a new upload takes the slot and
    /// the trickling one gets 408: slow clients cannot lock normal uploads out.
    @Test func aNewUploadTakesTheSlotOfOneThatTrickles() throws {
        var configuration = HTTPServerConfiguration(port: 0)
        configuration.maxUploads = 1
        configuration.minimumBodyRate = 1000
        try withServer(configuration) { server in
            let trickler = try RawClient(port: server.port)
            trickler.send("POST /slow HTTP/1.1\r\nContent-Length: 100000\r\n\r\n" + String(repeating: "a", count: 10))
            Thread.sleep(forTimeInterval: 0.8)
            let upload = try RawClient(port: server.port)
            upload.send("POST /normal HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello")
            #expect(upload.response()?.body == #"{"method":"POST","path":"/normal","size":5}"#)
            #expect(trickler.response()?.status == 408)
        }
    }

    /// A client that sends its request and shuts its sending side (`printf … | nc`) still gets
    /// the whole response, however long it takes to send.
    @Test func answersAClientThatShutItsSendingSide() throws {
        try withServer { server in
            let client = try RawClient(port: server.port)
            client.send("GET /big HTTP/1.1\r\n\r\n")
            shutdown(client.descriptor, Int32(SHUT_WR))
            let response = try #require(client.response())
            #expect(response.status == 200)
            #expect(response.body.utf8.count == 16 << 20)
            #expect(client.isClosed())
        }
    }

    /// A client that never reads its 16 MiB response is dropped after the send timeout, so its
    /// connection does not stay open for ever.
    @Test func dropsAClientThatStopsReading() throws {
        var configuration = HTTPServerConfiguration(port: 0)
        configuration.sendTimeout = 0.5
        try withServer(configuration) { server in
            let client = try RawClient(port: server.port)
            client.send("GET /big HTTP/1.1\r\n\r\n")
            var open = 1
            for _ in 0..<50 where open > 0 {
                Thread.sleep(forTimeInterval: 0.1)
                open = server.openConnections
            }
            #expect(open == 0)
        }
    }

    /// Waiting connections cost no thread: while 1,000 clients hold connections (half of them
    /// trickling a head, half kept alive and idle), /healthz-like requests on another connection
    /// are all answered. `Deploy/bench-http.sh` measures the latency.
    @Test func answersWhileAThousandSlowClientsHoldConnections() throws {
        try withServer { server in
            var slow: [RawClient] = []
            for index in 0..<1000 {
                let client = try RawClient(port: server.port)
                if index % 2 == 0 {
                    client.send("GET /slow HTTP/1.1\r\nX-Trickle: ")
                } else {
                    client.send("GET /idle HTTP/1.1\r\n\r\n")
                    #expect(client.response()?.status == 200)
                }
                slow.append(client)
            }
            #expect(server.openConnections == 1000)
            let probe = try RawClient(port: server.port)
            var answered = 0
            for _ in 0..<200 {
                probe.send("GET /healthz HTTP/1.1\r\n\r\n")
                if probe.response()?.status == 200 { answered += 1 }
            }
            #expect(answered == 200)
            withExtendedLifetime(slow) {}
        }
    }

    /// 100 clients with a connection each, all sending at once, get no 503.
    @Test func serves100ConcurrentKeepAliveClients() throws {
        try withServer { server in
            let clients = try (0..<100).map { _ in try RawClient(port: server.port) }
            let statuses = Statuses()
            let threads = clients.map { client in
                Thread {
                    for _ in 0..<20 {
                        client.send("GET /healthz HTTP/1.1\r\n\r\n")
                        statuses.add(client.response()?.status ?? 0)
                    }
                }
            }
            threads.forEach { $0.start() }
            for _ in 0..<200 where statuses.count < 2000 { Thread.sleep(forTimeInterval: 0.05) }
            #expect(statuses.count == 2000)
            #expect(statuses.all(200))
        }
    }
}

/// Statuses collected from many threads.
final class Statuses: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [Int] = []
    func add(_ status: Int) { lock.withLock { values.append(status) } }
    var count: Int { lock.withLock { values.count } }
    func all(_ status: Int) -> Bool { lock.withLock { values.allSatisfy { $0 == status } } }
}
