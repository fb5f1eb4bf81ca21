import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// Answers requests. It may read the request's body, piece by piece, before answering. It runs
/// on a thread of its own, so it may block: on the store, on the disk, or on the body.
public protocol HTTPResponder: Sendable {
    func respond(to request: HTTPRequest) -> HTTPResponse
    /// Whether a request without a body is answered so fast (in memory, no disk, no waiting)
    /// that the server's loop answers it itself, without two thread switches: a health probe.
    func answersAtOnce(_ head: HTTPRequestHead) -> Bool
}

extension HTTPResponder {
    public func answersAtOnce(_ head: HTTPRequestHead) -> Bool { false }
}

public struct HTTPServerConfiguration: Sendable {
    public var host: String
    /// 0 picks a free port (see `HTTPServer.port`).
    public var port: Int
    /// Open connections at most. At the limit, the longest-idle kept-alive connection is closed
    /// to make room; with none idle, a newcomer gets 503.
    public var maxConnections: Int
    /// Requests with a body being received at once; more get 503 with Retry-After, unless one of
    /// them trickles below `minimumBodyRate` and gives its place up. Each one holds a responder
    /// thread while its body arrives.
    public var maxUploads: Int
    /// How long a client has to send a whole request head, from its first byte: a slow client
    /// (slowloris) cannot hold a connection open by trickling headers.
    public var headerTimeout: TimeInterval
    /// How long a kept-alive connection may wait for its next request.
    public var idleTimeout: TimeInterval
    /// The slowest a body may arrive, in bytes per second, judged over each `bodyRateWindow`
    /// (time the server itself stopped reading does not count): a client that trickles its
    /// upload is cut off with 408.
    public var minimumBodyRate: Double
    public var bodyRateWindow: TimeInterval
    /// The longest a response may wait for the client to take any of it.
    public var sendTimeout: TimeInterval
    public var limits: HTTPParser.Limits

    public init(host: String = "127.0.0.1", port: Int = 8080, maxConnections: Int = 4096, maxUploads: Int = 8,
                headerTimeout: TimeInterval = 10, idleTimeout: TimeInterval = 60, minimumBodyRate: Double = 1024,
                bodyRateWindow: TimeInterval = 10, sendTimeout: TimeInterval = 30, limits: HTTPParser.Limits = HTTPParser.Limits()) {
        self.host = host
        self.port = port
        self.maxConnections = maxConnections
        self.maxUploads = maxUploads
        self.headerTimeout = headerTimeout
        self.idleTimeout = idleTimeout
        self.minimumBodyRate = minimumBodyRate
        self.bodyRateWindow = bodyRateWindow
        self.sendTimeout = sendTimeout
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

/// An event-driven HTTP/1.1 server on non-blocking POSIX sockets. One Dispatch queue, the loop,
/// owns every connection: Dispatch read and write sources tell it when a socket is ready, and a
/// timer enforces the deadlines. A connection costs no thread while it waits, so slow clients
/// cannot starve the others. Only the responder runs elsewhere, one call per request. Keep-alive, pipelining, `Expect: 100-continue` and streamed bodies are handled
/// here (in `Connection`); routing is the responder's.
public final class HTTPServer: @unchecked Sendable {
    public let configuration: HTTPServerConfiguration
    let responder: any HTTPResponder
    let logger: Logger
    let loop = DispatchQueue(label: "kidneyseg.http.loop")
    /// Where the loop reads sockets into; the parser copies what it keeps.
    let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 16)

    // Touched only on the loop.
    private var listener: Int32 = -1
    private var listenSource: DispatchSourceRead?
    private var timer: DispatchSourceTimer?
    private var connections: [ObjectIdentifier: Connection] = [:]
    /// Requests whose body is being received (see `maxUploads`).
    var uploads = 0
    private(set) var isStopping = false

    /// `logger` gets one line per request: method, path, status, bytes sent and milliseconds.
    public init(configuration: HTTPServerConfiguration, responder: any HTTPResponder, logger: Logger = Logger(label: "kidneyseg.http")) {
        self.configuration = configuration
        self.responder = responder
        self.logger = logger
    }

    deinit { scratch.deallocate() }

    /// The port the server listens on (the chosen one when configured with 0).
    public private(set) var port = 0

    public func start() throws {
        Self.raiseDescriptorLimit(to: configuration.maxConnections * 2 + 256)
        let descriptor = try Self.listen(host: configuration.host, port: configuration.port)
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        loop.sync {
            listener = descriptor
            let source = DispatchSource.makeReadSource(fileDescriptor: descriptor, queue: loop)
            source.setEventHandler { [self] in acceptAll() }
            source.setCancelHandler { _ = Glibc.close(descriptor) }
            source.resume()
            listenSource = source
            // The timer holds the server until the last connection is closed after stop().
            let timer = DispatchSource.makeTimerSource(queue: loop)
            timer.schedule(deadline: .now(), repeating: .milliseconds(100))
            timer.setEventHandler { [self] in
                let now = DispatchTime.now().uptimeNanoseconds
                for connection in Array(connections.values) { connection.tick(now) }
            }
            timer.resume()
            self.timer = timer
        }
    }

    /// Stops accepting connections and closes idle ones. Connections in the middle of a request
    /// finish it, then close.
    public func stop() {
        loop.sync {
            guard !isStopping else { return }
            isStopping = true
            listenSource?.cancel()
            listenSource = nil
            for connection in connections.values where connection.isIdle { connection.closeNow() }
            if connections.isEmpty { timer?.cancel() }
        }
    }

    public var openConnections: Int { loop.sync { connections.count } }

    func remove(_ connection: Connection) {
        connections[ObjectIdentifier(connection)] = nil
        if isStopping && connections.isEmpty { timer?.cancel() }
    }

    private func acceptAll() {
        while !isStopping {
            let client = accept(listener, nil, nil)
            if client < 0 {
                switch errno {
                case EINTR, ECONNABORTED: continue
                case EMFILE, ENFILE:
                    // Out of descriptors: make room, or wait a moment rather than spin on the listener.
                    if closeLongestIdle() { continue }
                    listenSource?.suspend()
                    loop.asyncAfter(deadline: .now() + .milliseconds(100)) { [self] in listenSource?.resume() }
                    return
                default: return  // EAGAIN: none left to accept
                }
            }
            _ = fcntl(client, F_SETFL, fcntl(client, F_GETFL) | O_NONBLOCK)
            var yes: Int32 = 1
            setsockopt(client, Int32(IPPROTO_TCP), TCP_NODELAY, &yes, socklen_t(MemoryLayout<Int32>.size))
            guard connections.count < configuration.maxConnections || closeLongestIdle() else {
                Self.turnAway(client)
                continue
            }
            let connection = Connection(descriptor: client, server: self)
            connections[ObjectIdentifier(connection)] = connection
        }
    }

    /// When every upload slot is taken, one whose body arrives slower than the minimum rate
    /// gives its slot up, so that clients trickling bodies cannot lock a normal upload out.
    func preemptTricklingUpload() -> Bool {
        let now = DispatchTime.now().uptimeNanoseconds
        let trickling = connections.values.compactMap { connection in connection.uploadRate(at: now).map { (connection, $0) } }
            .filter { $0.1 < configuration.minimumBodyRate }
        guard let slowest = trickling.min(by: { $0.1 < $1.1 }) else { return false }
        slowest.0.preemptUpload()
        return true
    }

    /// Closes the kept-alive connection that has waited longest for its next request.
    private func closeLongestIdle() -> Bool {
        guard let idle = connections.values.filter(\.isIdle).min(by: { $0.lastActivity < $1.lastActivity }) else { return false }
        idle.closeNow()
        return true
    }

    /// A 503 for a connection over the limit, written at once: it fits in any socket buffer.
    private static func turnAway(_ client: Int32) {
        let body = #"{"error":{"code":"too_many_connections","message":"the server is at its connection limit; retry shortly"}}"#
        let text = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
            + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        _ = Array(text.utf8).withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        _ = Glibc.close(client)
    }

    private static func listen(host: String, port: Int) throws -> Int32 {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw HTTPServerError.cannotListen(String(cString: strerror(errno))) }
        var yes: Int32 = 1
        setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
            _ = Glibc.close(descriptor)
            throw HTTPServerError.cannotListen("\(host) is not an IPv4 address")
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, Glibc.listen(descriptor, 1024) == 0 else {
            let reason = String(cString: strerror(errno))
            _ = Glibc.close(descriptor)
            throw HTTPServerError.cannotListen("\(host):\(port): \(reason)")
        }
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
        return descriptor
    }

    /// Thousands of connections need thousands of descriptors: the soft limit (often 1,024)
    /// is raised as far as the hard limit allows.
    private static func raiseDescriptorLimit(to wanted: Int) {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < rlim_t(wanted) else { return }
        limit.rlim_cur = min(rlim_t(wanted), limit.rlim_max)
        _ = setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
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
