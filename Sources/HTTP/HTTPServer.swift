import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// Answers requests. It may read the request's body, piece by piece, before answering.
public protocol HTTPResponder: Sendable {
    func respond(to request: HTTPRequest) -> HTTPResponse
}

public struct HTTPServerConfiguration: Sendable {
    public var host: String
    /// 0 picks a free port (see `HTTPServer.port`).
    public var port: Int
    public var maxConnections: Int
    /// How long a client has to send a whole request head, from its first byte: a slow client
    /// (slowloris) cannot hold a connection open by trickling headers.
    public var headerTimeout: TimeInterval
    /// How long a kept-alive connection may wait for its next request.
    public var idleTimeout: TimeInterval
    /// The longest silence while a body is being sent.
    public var readTimeout: TimeInterval
    public var limits: HTTPParser.Limits

    public init(host: String = "127.0.0.1", port: Int = 8080, maxConnections: Int = 64, headerTimeout: TimeInterval = 10,
                idleTimeout: TimeInterval = 60, readTimeout: TimeInterval = 30, limits: HTTPParser.Limits = HTTPParser.Limits()) {
        self.host = host
        self.port = port
        self.maxConnections = maxConnections
        self.headerTimeout = headerTimeout
        self.idleTimeout = idleTimeout
        self.readTimeout = readTimeout
        self.limits = limits
    }
}

public enum HTTPServerError: Error, Equatable, Sendable, CustomStringConvertible {
    case cannotListen(String)
    case timedOut
    case connectionClosed
    case invalidRequest(HTTPParseError)

    public var description: String {
        switch self {
        case let .cannotListen(reason): "cannot listen: \(reason)"
        case .timedOut: "the client was too slow"
        case .connectionClosed: "the client closed the connection mid-request"
        case let .invalidRequest(error): error.description
        }
    }
}

/// An HTTP/1.1 server on POSIX sockets: one thread accepts, each connection is served on a
/// Dispatch queue with blocking I/O bounded by poll() deadlines. Keep-alive, pipelining,
/// `Expect: 100-continue` and streamed bodies are handled here; routing is the responder's.
public final class HTTPServer: @unchecked Sendable {
    public let configuration: HTTPServerConfiguration
    private let responder: any HTTPResponder
    private let logger: Logger
    private var listener: Int32 = -1
    private let lock = NSLock()
    private var connections = 0
    private var acceptThread: Thread?

    /// `logger` gets one line per request: method, path, status, bytes sent and milliseconds.
    public init(configuration: HTTPServerConfiguration, responder: any HTTPResponder, logger: Logger = Logger(label: "kidneyseg.http")) {
        self.configuration = configuration
        self.responder = responder
        self.logger = logger
    }

    /// The port the server listens on (the chosen one when configured with 0).
    public private(set) var port = 0

    public func start() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw HTTPServerError.cannotListen(String(cString: strerror(errno))) }
        var yes: Int32 = 1
        setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(configuration.port).bigEndian)
        guard inet_pton(AF_INET, configuration.host, &address.sin_addr) == 1 else {
            close(descriptor)
            throw HTTPServerError.cannotListen("\(configuration.host) is not an IPv4 address")
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(descriptor, 128) == 0 else {
            let reason = String(cString: strerror(errno))
            close(descriptor)
            throw HTTPServerError.cannotListen("\(configuration.host):\(configuration.port): \(reason)")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        listener = descriptor
        let thread = Thread { [self] in acceptLoop(descriptor) }
        thread.name = "http-accept"
        acceptThread = thread
        thread.start()
    }

    /// Stops accepting connections. Connections already open finish their current request.
    public func stop() {
        lock.lock()
        let descriptor = listener
        listener = -1
        lock.unlock()
        guard descriptor >= 0 else { return }
        shutdown(descriptor, Int32(SHUT_RDWR))
        close(descriptor)
    }

    public var openConnections: Int {
        lock.lock()
        defer { lock.unlock() }
        return connections
    }

    private func acceptLoop(_ descriptor: Int32) {
        while true {
            let client = accept(descriptor, nil, nil)
            if client < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                return  // the listener was closed
            }
            var yes: Int32 = 1
            setsockopt(client, Int32(IPPROTO_TCP), TCP_NODELAY, &yes, socklen_t(MemoryLayout<Int32>.size))
            lock.lock()
            let admitted = connections < configuration.maxConnections
            if admitted { connections += 1 }
            lock.unlock()
            guard admitted else {
                let connection = Connection(descriptor: client, configuration: configuration, logger: logger)
                connection.send(.error(503, code: "too_many_connections", message: "the server is at its connection limit; retry shortly",
                                       headers: [("Retry-After", "1")]), keepAlive: false)
                connection.close()
                continue
            }
            DispatchQueue.global().async { [self] in
                let connection = Connection(descriptor: client, configuration: configuration, logger: logger)
                connection.serve(responder)
                connection.close()
                lock.lock()
                connections -= 1
                lock.unlock()
            }
        }
    }
}

/// A request being served: its head, and its body read on demand from the connection.
public final class HTTPRequest: @unchecked Sendable {
    public let head: HTTPRequestHead
    private let connection: Connection
    private var sentContinue = false
    public private(set) var bodyComplete = false

    init(head: HTTPRequestHead, connection: Connection) {
        self.head = head
        self.connection = connection
    }

    /// The next piece of the body, or nil once it has all been read. Sends `100 Continue` first
    /// when the client waits for it, so a request refused without reading its body costs the
    /// client nothing.
    public func readBody() throws(HTTPServerError) -> [UInt8]? {
        if bodyComplete { return nil }
        if head.expectsContinue && !sentContinue {
            sentContinue = true
            connection.write(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
        }
        while true {
            switch try connection.nextEvent(deadlineAfter: connection.configuration.readTimeout) {
            case let .body(bytes): return bytes
            case .end:
                bodyComplete = true
                return nil
            case .head, nil: throw .connectionClosed
            }
        }
    }
}

/// One client connection: its socket, its parser, and the events parsed but not yet used.
final class Connection {
    let descriptor: Int32
    let configuration: HTTPServerConfiguration
    private let logger: Logger
    private var parser: HTTPParser
    private var pending: [HTTPParser.Event] = []

    init(descriptor: Int32, configuration: HTTPServerConfiguration, logger: Logger) {
        self.descriptor = descriptor
        self.configuration = configuration
        self.logger = logger
        parser = HTTPParser(limits: configuration.limits)
    }

    /// Whether a body may still be on its way after the last response: a refusal before the
    /// body was read (413, 401, 507).
    private var bodyMayFollow = false

    /// Closes the connection. After a refusal with a body on its way, the close lingers: our
    /// side is shut for writing, and what the client still sends is read and dropped (for up to
    /// 2 s and 64 MiB) until it closes too. Closing with unread bytes would make the kernel send
    /// a reset, and a client still uploading would see ECONNRESET instead of the 413 or 401 it
    /// was sent (RFC 9112 §9.6).
    func close() {
        guard bodyMayFollow else {
            _ = Glibc.close(descriptor)
            return
        }
        shutdown(descriptor, Int32(SHUT_WR))
        let deadline = Date().addingTimeInterval(2)
        var buffer = [UInt8](repeating: 0, count: 65536)
        var drained = 0
        while drained < 64 << 20, let count = receive(into: &buffer, before: deadline), count > 0 { drained += count }
        _ = Glibc.close(descriptor)
    }

    /// Serves requests until the client closes, asks to close, errs, or times out.
    func serve(_ responder: any HTTPResponder) {
        var timeout = configuration.headerTimeout
        while true {
            let head: HTTPRequestHead
            do {
                guard let event = try nextEvent(deadlineAfter: timeout, headDeadline: configuration.headerTimeout) else { return }
                guard case let .head(parsed) = event else { return }
                head = parsed
            } catch {
                if case let .invalidRequest(parseError) = error {
                    bodyMayFollow = parseError.status == 413
                    send(.error(parseError.status, code: parseError.code, message: parseError.description), keepAlive: false)
                } else if error == .timedOut, !parser.isIdle {
                    send(.error(408, code: "request_timeout", message: "the request head did not arrive in time"), keepAlive: false)
                }
                return
            }
            let started = DispatchTime.now().uptimeNanoseconds
            // HEAD is GET without the body (RFC 9110 §9.3.2): the responder sees a GET, and the
            // client gets its status and headers, Content-Length included.
            var served = head
            if head.method == "HEAD" { served.method = "GET" }
            let request = HTTPRequest(head: served, connection: self)
            let response = responder.respond(to: request)
            // A body left unread cannot be skipped safely: close instead of keeping the connection.
            bodyMayFollow = hasUnreadBody(request)
            let keepAlive = head.keepAlive && !bodyMayFollow
            let bytes = send(response, keepAlive: keepAlive, withBody: head.method != "HEAD")
            let milliseconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6
            logger.info("\(head.method) \(head.path) \(response.status) \(bytes)B \(String(format: "%.1f", milliseconds))ms")
            guard keepAlive else { return }
            timeout = configuration.idleTimeout
        }
    }

    /// Whether part of the request's body is still to come. When all of it is already parsed,
    /// the unread rest is dropped so the next request can follow.
    private func hasUnreadBody(_ request: HTTPRequest) -> Bool {
        if request.bodyComplete { return false }
        if let index = pending.firstIndex(where: { if case .end = $0 { true } else { false } }) {
            pending.removeFirst(index + 1)
            return false
        }
        return true
    }

    /// The next parser event, reading from the socket as needed. Nil when the client closed the
    /// connection between requests.
    func nextEvent(deadlineAfter timeout: TimeInterval, headDeadline: TimeInterval? = nil) throws(HTTPServerError) -> HTTPParser.Event? {
        let start = Date()
        var deadline = start.addingTimeInterval(timeout)
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while pending.isEmpty {
            guard let count = receive(into: &buffer, before: deadline) else { throw .timedOut }
            guard count > 0 else {
                if parser.isIdle { return nil }
                throw .connectionClosed
            }
            // The first byte of a head starts its own, shorter clock.
            if let headDeadline, parser.isIdle { deadline = min(deadline, Date().addingTimeInterval(headDeadline)) }
            do { pending = try parser.feed(buffer[0..<count]) } catch { throw .invalidRequest(error) }
        }
        return pending.removeFirst()
    }

    /// Reads what has arrived into `buffer`, waiting until `deadline` at most: the byte count,
    /// 0 when the client closed (or the socket failed), nil when the deadline passed first.
    private func receive(into buffer: inout [UInt8], before deadline: Date) -> Int? {
        while true {
            let remaining = deadline.timeIntervalSinceNow
            guard remaining > 0 else { return nil }
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(min(remaining * 1000, 1e9)) + 1)
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { return nil }
            return max(recv(descriptor, &buffer, buffer.count, 0), 0)
        }
    }

    /// Sends the response and returns its body's size.
    @discardableResult
    func send(_ response: HTTPResponse, keepAlive: Bool, withBody: Bool = true) -> Int {
        var headers = response.headers.filter { !["content-length", "connection", "transfer-encoding"].contains($0.name.lowercased()) }
        let length: Int
        switch response.body {
        case let .bytes(data): length = data.count
        case let .file(url): length = ((try? FileManager.default.attributesOfItem(atPath: url.path))?[.size] as? Int) ?? 0
        }
        headers.append(("Content-Length", "\(length)"))
        headers.append(("Connection", keepAlive ? "keep-alive" : "close"))
        var head = "HTTP/1.1 \(response.status) \(HTTPResponse.reason(for: response.status))\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "\r\n"
        write(Array(head.utf8))
        guard withBody else { return 0 }
        switch response.body {
        case let .bytes(data): write(Array(data))
        case let .file(url):
            guard let file = FileHandle(forReadingAtPath: url.path) else { return length }
            defer { try? file.close() }
            while let chunk = try? file.read(upToCount: 256 * 1024), !chunk.isEmpty { write(Array(chunk)) }
        }
        return length
    }

    func write(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent < 0 && errno == EINTR { continue }
            guard sent > 0 else { return }  // the client went away
            offset += sent
        }
    }
}

extension HTTPParseError {
    /// The JSON error code of the response it gets.
    public var code: String {
        switch status {
        case 413: "body_too_large"
        case 431: "headers_too_large"
        case 501: "not_implemented"
        case 505: "http_version_not_supported"
        default: "bad_request"
        }
    }
}
