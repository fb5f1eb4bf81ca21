import HTTP

/// The one error type handlers throw. The router alone turns it into a JSON response; any other
/// error becomes a 500.
public struct APIError: Error, Equatable, Sendable, CustomStringConvertible {
    public var status: Int
    public var code: String
    public var message: String
    public var headers: [String: String]

    public init(_ status: Int, _ code: String, _ message: String, headers: [String: String] = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
    }

    public var description: String { "\(status) \(code): \(message)" }

    var response: HTTPResponse {
        .error(status, code: code, message: message, headers: headers.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
    }

    static func notFound(_ what: String) -> APIError { APIError(404, "not_found", "\(what) does not exist") }

    /// A body that stopped arriving: the client closed the connection or went silent.
    init(clientFault error: HTTPServerError) {
        switch error {
        case .timedOut: self.init(408, "request_timeout", "the request body stopped arriving")
        case let .invalidRequest(parseError): self.init(parseError.status, parseError.code, parseError.description)
        case .connectionClosed, .cannotListen: self.init(400, "incomplete_body", "the client closed the connection before the body ended")
        }
    }
}
