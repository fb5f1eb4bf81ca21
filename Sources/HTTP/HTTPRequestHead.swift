/// The request line and headers of one HTTP/1.x request.
public struct HTTPRequestHead: Equatable, Sendable {
    public var method: String
    /// The request target as sent: a path and optional query, e.g. `/v1/jobs?limit=10`.
    public var target: String
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    public var minorVersion: Int
    /// Header fields in order, names as sent.
    public var headers: [(name: String, value: String)]

    public init(method: String, target: String, minorVersion: Int = 1, headers: [(name: String, value: String)] = []) {
        self.method = method
        self.target = target
        self.minorVersion = minorVersion
        self.headers = headers
    }

    /// All values of a header, compared case-insensitively by name.
    public func values(_ name: String) -> [String] {
        headers.filter { $0.name.equalsIgnoringCase(name) }.map(\.value)
    }

    /// The single value of a header, if it appears.
    public func value(_ name: String) -> String? { values(name).first }

    /// The path part of the target, without the query.
    public var path: String { String(target.prefix { $0 != "?" }) }

    /// Whether the connection stays open after this request (HTTP/1.1 by default, HTTP/1.0 only
    /// when asked).
    public var keepAlive: Bool {
        let tokens = values("Connection").flatMap { $0.split(separator: ",").map { $0.trimmingSpaces.lowercased() } }
        if tokens.contains("close") { return false }
        return minorVersion >= 1 || tokens.contains("keep-alive")
    }

    /// Whether the client waits for `100 Continue` before sending the body.
    public var expectsContinue: Bool { value("Expect")?.lowercased() == "100-continue" }

    public static func == (lhs: HTTPRequestHead, rhs: HTTPRequestHead) -> Bool {
        lhs.method == rhs.method && lhs.target == rhs.target && lhs.minorVersion == rhs.minorVersion
            && lhs.headers.map(\.name) == rhs.headers.map(\.name) && lhs.headers.map(\.value) == rhs.headers.map(\.value)
    }
}

extension String {
    func equalsIgnoringCase(_ other: String) -> Bool { lowercased() == other.lowercased() }
}

extension StringProtocol {
    /// Without leading and trailing spaces and tabs (HTTP's optional whitespace).
    var trimmingSpaces: String {
        let isText = { (byte: UInt8) in byte != UInt8(ascii: " ") && byte != UInt8(ascii: "\t") }
        var first: Index?
        var last: Index?
        for index in utf8.indices where isText(utf8[index]) {
            if first == nil { first = index }
            last = index
        }
        guard let first, let last else { return "" }
        return String(self[first...last])
    }
}
