import Foundation

/// A request being served: its head, and its body as the connection receives it.
///
/// The responder runs on a thread of its own, while the server's event loop reads the socket:
/// body pieces pass between the two through a `BodyChannel`, which holds at most about a
/// megabyte, so a responder that writes slowly slows the client down instead of filling memory.
public final class HTTPRequest: @unchecked Sendable {
    public let head: HTTPRequestHead
    let channel: BodyChannel
    private let wantsBody: @Sendable () -> Void
    private var askedForBody = false

    /// `wantsBody` is called once, at the first `readBody()`: the server sends `100 Continue`
    /// then, if the client waits for it.
    init(head: HTTPRequestHead, channel: BodyChannel, wantsBody: @escaping @Sendable () -> Void) {
        self.head = head
        self.channel = channel
        self.wantsBody = wantsBody
    }

    /// Whether the whole body has been read.
    public var bodyComplete: Bool { channel.delivered }

    /// The next piece of the body, or nil once it has all been read. A request refused without
    /// reading its body costs a client that sent `Expect: 100-continue` nothing.
    public func readBody() throws(HTTPServerError) -> [UInt8]? {
        if !askedForBody {
            askedForBody = true
            wantsBody()
        }
        return try channel.take()
    }
}

/// A request and its progress while the responder has it; touched only on the server's loop.
final class Exchange: @unchecked Sendable {
    let head: HTTPRequestHead
    let request: HTTPRequest
    /// A request with a body holds one of the server's upload slots until it is answered or
    /// preempted.
    var holdsUploadSlot: Bool
    let started = DispatchTime.now().uptimeNanoseconds
    /// The body will not arrive: it failed, timed out or the client hung up.
    var bodyStopped = false
    /// The client waits for `100 Continue`, which the responder has not asked for yet.
    var awaitingContinue: Bool

    init(head: HTTPRequestHead, request: HTTPRequest, hasBody: Bool) {
        self.head = head
        self.request = request
        holdsUploadSlot = hasBody
        awaitingContinue = hasBody && head.expectsContinue
    }
}

/// Body pieces from the event loop (`put`, `finish`, `fail`) to the responder (`take`).
final class BodyChannel: @unchecked Sendable {
    /// Above this many buffered bytes the event loop stops reading the socket.
    static let highWater = 1 << 20

    private let condition = NSCondition()
    private var pieces: [[UInt8]] = []
    private var bufferedBytes = 0
    private var ended = false
    private var failure: HTTPServerError?
    private var taken = false
    /// Called, on the responder's thread, after a piece leaves a full channel.
    private let drained: @Sendable () -> Void
    /// The longest `take` waits: the event loop's deadlines end a stalled body sooner, so this
    /// only guards against a loop that never answers.
    private let patience: TimeInterval

    init(patience: TimeInterval, drained: @escaping @Sendable () -> Void) {
        self.patience = patience
        self.drained = drained
    }

    /// Whether the body has ended on the wire (the parser saw its last byte).
    var received: Bool { condition.withLock { ended } }

    /// Whether the responder has taken the end of the body.
    var delivered: Bool { condition.withLock { taken } }

    var isFull: Bool { condition.withLock { bufferedBytes >= Self.highWater } }

    func put(_ bytes: [UInt8]) {
        condition.withLock {
            pieces.append(bytes)
            bufferedBytes += bytes.count
            condition.signal()
        }
    }

    func finish() {
        condition.withLock {
            ended = true
            condition.signal()
        }
    }

    /// Ends the body with an error, unless it has already ended well.
    func fail(_ error: HTTPServerError) {
        condition.withLock {
            guard !ended, failure == nil else { return }
            failure = error
            condition.signal()
        }
    }

    func take() throws(HTTPServerError) -> [UInt8]? {
        condition.lock()
        let deadline = Date().addingTimeInterval(patience)
        while pieces.isEmpty && !ended && failure == nil {
            guard condition.wait(until: deadline) else {
                condition.unlock()
                throw .timedOut
            }
        }
        if !pieces.isEmpty {
            let wasFull = bufferedBytes >= Self.highWater
            let piece = pieces.removeFirst()
            bufferedBytes -= piece.count
            let nowBelow = bufferedBytes < Self.highWater
            condition.unlock()
            if wasFull && nowBelow { drained() }
            return piece
        }
        let failure = failure
        if failure == nil { taken = true }
        condition.unlock()
        if let failure { throw failure }
        return nil
    }
}
