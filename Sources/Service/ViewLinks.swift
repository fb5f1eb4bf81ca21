import Crypto
import Foundation

/// Signed, expiring links to a job's page, for a browser, which sends no Authorization header:
/// `…/view?expires=E&signature=S`, where S is an HMAC-SHA256 of the job id and E (Unix seconds)
/// under the server's secret. A link opens that job's page and what the page loads (its
/// overlays and mask), read-only, until E; never another job.
public struct ViewLinks: @unchecked Sendable {  // SymmetricKey is immutable
    private let key: SymmetricKey
    /// How long a new link stays valid.
    public let lifetime: TimeInterval

    /// With no secret, a random one: links then last only until the service restarts.
    public init(secret: String?, lifetime: TimeInterval) {
        key = secret.map { SymmetricKey(data: Data($0.utf8)) } ?? SymmetricKey(size: .bits256)
        self.lifetime = lifetime
    }

    public func signature(for id: String, expires: Int) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: Data("\(id)\n\(expires)".utf8), using: key)
        return code.map { String(format: "%02x", $0) }.joined()
    }

    /// The page's link, valid for `lifetime` from `now`.
    func link(for id: String, now: Date) -> String {
        let expires = Int(now.timeIntervalSince1970 + lifetime)
        return "/v1/jobs/\(id)/view?expires=\(expires)&signature=\(signature(for: id, expires: expires))"
    }

    /// Nil when the query signs `id` and has not expired; else why not, for the 401.
    func refusal(of query: [String: String], for id: String, now: Date) -> String? {
        guard let text = query["expires"], let expires = Int(text), let signature = query["signature"] else {
            return "send Authorization: Bearer <token>, or open the job's signed link"
        }
        let expected = self.signature(for: id, expires: expires)
        // Compared in constant time, as the tokens are.
        guard signature.utf8.count == expected.utf8.count,
              zip(signature.utf8, expected.utf8).reduce(0, { $0 | ($1.0 ^ $1.1) }) == 0 else {
            return "the link's signature does not match this job"
        }
        guard Double(expires) > now.timeIntervalSince1970 else { return "the link has expired: ask for the job again for a new one" }
        return nil
    }
}
