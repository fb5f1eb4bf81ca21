import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One client connection, driven by the server's loop: every method runs on `server.loop`.
///
/// A connection waits for a request head, hands the request to the responder (on the global
/// queue, or on a thread of its own for a request with a body) while it keeps feeding the body
/// into the request's channel, sends the response, and either waits for the next request or
/// closes. The socket is read only while something wants
/// its bytes, so a responder that reads slowly slows the client, and a pipelined request waits
/// in the kernel until its turn.
final class Connection: @unchecked Sendable {
    enum Phase {
        /// Waiting for (the rest of) a request head.
        case awaitingHead
        case handling(Exchange)
        case sending(keepAlive: Bool)
        /// Shut for writing after a refusal, reading and dropping what the client still sends.
        case lingering
        case closed
    }

    let descriptor: Int32
    unowned let server: HTTPServer
    private var configuration: HTTPServerConfiguration { server.configuration }
    private var parser: HTTPParser
    /// Parsed events not yet used: the rest of a body, or pipelined requests.
    private var pending: [HTTPParser.Event] = []
    private var phase = Phase.awaitingHead
    /// When the current phase's time is up, in uptime nanoseconds.
    private var deadline: UInt64
    private(set) var lastActivity: UInt64

    private let readSource: DispatchSourceRead
    private var readingPaused = false
    private var writeSource: DispatchSourceWrite?
    private var writing = false
    /// The descriptor is closed once every source on it is cancelled.
    private var liveSources = 1

    private var outbox: [UInt8] = []
    private var sentBytes = 0
    private var file: FileHandle?

    /// Whether a body may still be arriving after the response: a refusal before it was read.
    private var bodyMayFollow = false
    private var peerClosed = false
    private var windowStart: UInt64 = 0
    private var windowBytes = 0
    private var drainedBytes = 0

    init(descriptor: Int32, server: HTTPServer) {
        self.descriptor = descriptor
        self.server = server
        parser = HTTPParser(limits: server.configuration.limits)
        let now = DispatchTime.now().uptimeNanoseconds
        lastActivity = now
        deadline = now + Self.nanoseconds(server.configuration.headerTimeout)
        readSource = DispatchSource.makeReadSource(fileDescriptor: descriptor, queue: server.loop)
        readSource.setEventHandler { [self] in readable() }
        readSource.setCancelHandler { [self] in sourceCancelled() }
        readSource.resume()
    }

    /// Between requests with nothing received: the first to close when room is needed.
    var isIdle: Bool {
        if case .awaitingHead = phase { return parser.isIdle && pending.isEmpty }
        return false
    }

    // MARK: Reading

    private func readable() {
        for _ in 0..<4 {  // then let other connections have a turn
            let count = recv(descriptor, server.scratch.baseAddress, server.scratch.count, 0)
            if count > 0 {
                received(UnsafeRawBufferPointer(rebasing: server.scratch[0..<count]))
                if case .closed = phase { return }
                if readingPaused { return }
                continue
            }
            if count < 0 && errno == EINTR { continue }
            if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
            return peerHungUp()
        }
    }

    private func received(_ bytes: UnsafeRawBufferPointer) {
        let now = DispatchTime.now().uptimeNanoseconds
        lastActivity = now
        switch phase {
        case .lingering:
            drainedBytes += bytes.count
            if drainedBytes > 64 << 20 { closeNow() }
            return
        case .awaitingHead where parser.isIdle:
            // The first byte of a head starts its own, shorter clock.
            deadline = min(deadline, now + Self.nanoseconds(configuration.headerTimeout))
        case .handling:
            windowBytes += bytes.count
        default:
            break
        }
        do {
            pending += try parser.feed(bytes)
        } catch {
            return refuse(error)
        }
        advance()
    }

    /// Moves parsed events on: a head starts an exchange, body pieces go to its channel.
    private func advance() {
        switch phase {
        case .awaitingHead:
            guard !pending.isEmpty else { return }
            guard case let .head(head) = pending.removeFirst() else { return closeNow() }
            begin(head)
        case let .handling(exchange):
            let channel = exchange.request.channel
            while !pending.isEmpty && !channel.received {  // what follows the end is the next request
                switch pending.removeFirst() {
                case let .body(bytes): channel.put(bytes)
                case .end: channel.finish()
                case .head: break
                }
            }
            updateReading()
        default:
            updateReading()
        }
    }

    /// Reads the socket only while a phase wants its bytes. Once a request's body is in, reading
    /// goes on until the next request is parsed (usually nothing comes: the client waits for
    /// the response), so a plain request costs no suspend and resume.
    private func updateReading() {
        if case .closed = phase { return }  // the read source is cancelled
        let wanted: Bool
        switch phase {
        case .awaitingHead, .lingering: wanted = !peerClosed
        case let .handling(exchange):
            let channel = exchange.request.channel
            wanted = !peerClosed && !exchange.bodyStopped && (channel.received ? pending.isEmpty : !channel.isFull)
        case .sending: wanted = !peerClosed && pending.isEmpty
        case .closed: wanted = false
        }
        if wanted && readingPaused {
            readingPaused = false
            readSource.resume()
            restartRateWindow()
        } else if !wanted && !readingPaused {
            readingPaused = true
            readSource.suspend()
        }
    }

    private func restartRateWindow() {
        windowStart = DispatchTime.now().uptimeNanoseconds
        windowBytes = 0
    }

    /// The client closed its side. It may still read: a request being answered gets its
    /// response (400 for a cut-off body), then the connection closes.
    private func peerHungUp() {
        peerClosed = true
        switch phase {
        case let .handling(exchange):
            exchange.bodyStopped = true
            exchange.request.channel.fail(.connectionClosed)
            updateReading()
        case .sending: updateReading()
        default: closeNow()
        }
    }

    private func refuse(_ error: HTTPParseError) {
        if case let .handling(exchange) = phase {
            exchange.bodyStopped = true
            exchange.request.channel.fail(.invalidRequest(error))
            return updateReading()
        }
        // The client may still be sending (a 413's body, the rest of a 431's head): linger.
        bodyMayFollow = true
        respond(.error(error.status, code: error.code, message: error.description), to: nil, keepAlive: false)
    }

    // MARK: Handling

    private func begin(_ head: HTTPRequestHead) {
        let hasBody = pending.first != .end
        if hasBody && server.uploads >= configuration.maxUploads && !server.preemptTricklingUpload() {
            bodyMayFollow = true
            let refusal = HTTPResponse.error(503, code: "too_many_uploads", message: "\(configuration.maxUploads) uploads are being received; retry shortly",
                                             headers: [("Retry-After", "2")])
            return respond(refusal, to: head, keepAlive: false)
        }
        if hasBody { server.uploads += 1 }
        // HEAD is GET without the body (RFC 9110 §9.3.2): the responder sees a GET, and the
        // client gets its status and headers, Content-Length included.
        var served = head
        if head.method == "HEAD" { served.method = "GET" }
        let loop = server.loop
        let channel = BodyChannel(patience: configuration.bodyRateWindow + 60) { [self] in loop.async { self.advance() } }
        let request = HTTPRequest(head: served, channel: channel) { [self] in loop.async { self.bodyWanted() } }
        let exchange = Exchange(head: head, request: request, hasBody: hasBody)
        phase = .handling(exchange)
        restartRateWindow()
        advance()
        let responder = server.responder
        if !hasBody && responder.answersAtOnce(served) { return finished(exchange, responder.respond(to: request)) }
        let work = { @Sendable [self, server] in
            let response = responder.respond(to: request)
            loop.async { withExtendedLifetime(server) { self.finished(exchange, response) } }
        }
        // A responder reading a body blocks while the body arrives. Dispatch's global queue
        // would not know those threads are waiting and would stop starting new ones (on Linux
        // it keeps about one per core), so every upload gets a thread of its own; there are at
        // most `maxUploads` of them.
        if hasBody {
            let thread = Thread(block: work)
            thread.name = "http-upload"
            thread.start()
        } else {
            DispatchQueue.global().async(execute: work)
        }
    }

    /// Bytes per second the body is arriving at, when it can be judged: the server is reading
    /// it, and has been for at least half a second.
    func uploadRate(at now: UInt64) -> Double? {
        guard case let .handling(exchange) = phase, exchange.holdsUploadSlot, !exchange.bodyStopped, !exchange.awaitingContinue,
              !exchange.request.channel.received, !readingPaused, now - windowStart >= 500_000_000 else { return nil }
        return Double(windowBytes) / (Double(now - windowStart) / 1e9)
    }

    /// Cuts off a trickling body (408) so that its upload slot goes to a new upload at once.
    func preemptUpload() {
        guard case let .handling(exchange) = phase, exchange.holdsUploadSlot else { return }
        exchange.holdsUploadSlot = false
        server.uploads -= 1
        exchange.bodyStopped = true
        exchange.request.channel.fail(.timedOut)
        updateReading()
    }

    private func bodyWanted() {
        guard case let .handling(exchange) = phase, exchange.awaitingContinue else { return }
        exchange.awaitingContinue = false
        restartRateWindow()
        enqueue(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
        flush()
    }

    private func finished(_ exchange: Exchange, _ response: HTTPResponse) {
        if exchange.holdsUploadSlot { server.uploads -= 1 }
        guard case let .handling(current) = phase, current === exchange else { return }  // closed meanwhile
        // A body not yet received cannot be skipped safely: close instead of keeping the connection.
        bodyMayFollow = !exchange.request.channel.received
        respond(response, to: exchange.head, keepAlive: exchange.head.keepAlive && !bodyMayFollow && !peerClosed,
                started: exchange.started)
    }

    /// The 408s and 413s a timer or the parser decides on, and each request's one line in the log.
    func tick(_ now: UInt64) {
        switch phase {
        case .awaitingHead:
            guard now >= deadline else { return }
            if parser.isIdle && pending.isEmpty { return closeNow() }
            respond(.error(408, code: "request_timeout", message: "the request head did not arrive in time"), to: nil, keepAlive: false)
        case let .handling(exchange):
            guard !readingPaused, !exchange.awaitingContinue, !exchange.request.channel.received, now - windowStart >= Self.nanoseconds(configuration.bodyRateWindow) else { return }
            let seconds = Double(now - windowStart) / 1e9
            if Double(windowBytes) < configuration.minimumBodyRate * seconds {
                exchange.bodyStopped = true
                exchange.request.channel.fail(.timedOut)
                updateReading()
            } else {
                restartRateWindow()
            }
        case .sending, .lingering:
            if now >= deadline { closeNow() }
        case .closed:
            break
        }
    }

    // MARK: Writing

    private func respond(_ response: HTTPResponse, to head: HTTPRequestHead?, keepAlive: Bool,
                         started: UInt64 = DispatchTime.now().uptimeNanoseconds) {
        var headers = response.headers.filter { !["content-length", "connection", "transfer-encoding"].contains($0.name.lowercased()) }
        let length: Int
        switch response.body {
        case let .bytes(data): length = data.count
        case let .file(url): length = ((try? FileManager.default.attributesOfItem(atPath: url.path))?[.size] as? Int) ?? 0
        }
        headers.append(("Content-Length", "\(length)"))
        headers.append(("Connection", keepAlive ? "keep-alive" : "close"))
        var text = "HTTP/1.1 \(response.status) \(HTTPResponse.reason(for: response.status))\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        enqueue(Array((text + "\r\n").utf8))
        if head?.method != "HEAD" {
            switch response.body {
            case let .bytes(data): enqueue(Array(data))
            case let .file(url): file = FileHandle(forReadingAtPath: url.path)
            }
        }
        phase = .sending(keepAlive: keepAlive)
        deadline = DispatchTime.now().uptimeNanoseconds + Self.nanoseconds(configuration.sendTimeout)
        updateReading()
        if let head {
            let milliseconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6
            server.logger.info("\(head.method) \(head.path) \(response.status) \(length)B \(String(format: "%.1f", milliseconds))ms")
        }
        flush()
    }

    private func enqueue(_ bytes: [UInt8]) {
        if sentBytes == outbox.count {
            outbox = bytes
            sentBytes = 0
        } else {
            outbox += bytes
        }
    }

    /// Writes until the socket is full (then waits for the write source) or all is sent.
    private func flush() {
        while true {
            if sentBytes == outbox.count {
                if let chunk = try? file?.read(upToCount: 256 << 10), !chunk.isEmpty {
                    enqueue(Array(chunk))
                    continue
                }
                try? file?.close()
                file = nil
                setWriting(false)
                return sent()
            }
            let count = outbox.withUnsafeBytes { send(descriptor, $0.baseAddress! + sentBytes, $0.count - sentBytes, Int32(MSG_NOSIGNAL)) }
            if count > 0 {
                sentBytes += count
                deadline = DispatchTime.now().uptimeNanoseconds + Self.nanoseconds(configuration.sendTimeout)
                continue
            }
            if count < 0 && errno == EINTR { continue }
            if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return setWriting(true) }
            return closeNow()  // the client went away
        }
    }

    private func setWriting(_ on: Bool) {
        guard on != writing else { return }
        if on && writeSource == nil {
            let source = DispatchSource.makeWriteSource(fileDescriptor: descriptor, queue: server.loop)
            source.setEventHandler { [self] in flush() }
            source.setCancelHandler { [self] in sourceCancelled() }
            liveSources += 1
            writeSource = source
        }
        writing = on
        if on { writeSource?.resume() } else { writeSource?.suspend() }
    }

    /// After a response (or a `100 Continue`) has gone out in full.
    private func sent() {
        guard case let .sending(keepAlive) = phase else { return }
        guard keepAlive, !peerClosed, !server.isStopping else { return close() }
        phase = .awaitingHead
        deadline = DispatchTime.now().uptimeNanoseconds + Self.nanoseconds(configuration.idleTimeout)
        advance()  // a pipelined request may be parsed already
        updateReading()
    }

    // MARK: Closing

    /// Closes after a response. After a refusal with a body on its way, the close lingers: our
    /// side is shut for writing, and what the client still sends is read and dropped (for up to
    /// 2 s and 64 MiB) until it closes too. Closing with unread bytes would make the kernel send
    /// a reset, and a client still uploading would see ECONNRESET instead of the 413 or 401 it
    /// was sent (RFC 9112 §9.6).
    private func close() {
        guard bodyMayFollow, !peerClosed else { return closeNow() }
        shutdown(descriptor, Int32(SHUT_WR))
        phase = .lingering
        drainedBytes = 0
        deadline = DispatchTime.now().uptimeNanoseconds + 2_000_000_000
        updateReading()
    }

    func closeNow() {
        if case .closed = phase { return }
        if case let .handling(exchange) = phase { exchange.request.channel.fail(.connectionClosed) }
        phase = .closed
        try? file?.close()
        file = nil
        // A suspended source must be resumed before it can be cancelled.
        if readingPaused { readSource.resume() }
        readSource.cancel()
        if let writeSource {
            if !writing { writeSource.resume() }
            writeSource.cancel()
        }
        server.remove(self)
    }

    private func sourceCancelled() {
        liveSources -= 1
        if liveSources == 0 { _ = Glibc.close(descriptor) }
    }

    private static func nanoseconds(_ seconds: TimeInterval) -> UInt64 { UInt64(max(seconds, 0) * 1e9) }
}
