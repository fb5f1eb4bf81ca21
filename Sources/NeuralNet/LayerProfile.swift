import Foundation

/// Wall time per operation of the forward passes run inside
/// `LayerProfile.$current.withValue(profile) { ... }`, for `kidneyseg bench --profile`.
/// Operations of the same kind and shape share one entry.
public final class LayerProfile: @unchecked Sendable {
    @TaskLocal public static var current: LayerProfile?

    public struct Entry: Sendable {
        /// What ran, e.g. "conv 3x3/1 3072→256 16x16" or "max pool 3/2 64 128x128".
        public var operation: String
        /// How it ran, e.g. "winograd by rows", "gemm", "im2col", or the operation's kind ("pool").
        public var method: String
        public var calls = 0
        public var seconds = 0.0
        public var multiplyAccumulates = 0
    }

    public private(set) var entries: [String: Entry] = [:]

    public init() {}

    /// Runs `body`, adding its wall time to the entry for `operation`.
    static func measure<Result>(_ operation: @autoclosure () -> String, method: @autoclosure () -> String, multiplyAccumulates: Int = 0,
                                _ body: () -> Result) -> Result {
        guard let profile = current else { return body() }
        let start = DispatchTime.now().uptimeNanoseconds
        let result = body()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let key = operation()
        profile.entries[key, default: Entry(operation: key, method: method())].calls += 1
        profile.entries[key]!.seconds += seconds
        profile.entries[key]!.multiplyAccumulates += multiplyAccumulates
        return result
    }
}
