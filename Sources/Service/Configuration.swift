import Foundation

/// The service's settings. Each key comes from `Config/kidneyseg.json` (or the file given), then
/// from the environment variable `KIDNEYSEG_<KEY>`, then from a `serve` flag; the last one set
/// wins. Tokens come only from the file or the environment, never from a flag that `ps` shows.
public struct ServiceConfiguration: Equatable, Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// Jobs' files and the SQLite database live here.
    public var dataDirectory = "data"
    public var modelsDirectory = "Models"
    public var workers = 1
    /// Compute threads per worker; 0 shares the cores between the workers.
    public var threadsPerWorker = 0
    public var maxUploadMegabytes = 1024
    /// Queued jobs beyond this get 429.
    public var maxQueuedJobs = 100
    /// A job that was running when the process died this many times (out of memory, a crash) is
    /// failed instead of queued again, so that one input cannot keep killing the service.
    public var maxAttempts = 3
    /// Open connections at most; at the limit the longest-idle kept-alive one makes room.
    public var maxConnections = 4096
    /// Uploads received at once; more get 503 with Retry-After.
    public var maxConcurrentUploads = 8
    /// Bearer tokens; empty turns authentication off.
    public var tokens: [String] = []
    /// Whether /healthz, /readyz and /metrics answer without a token.
    public var openHealthEndpoints = true
    /// Refuse to start without tokens, so that a production deployment cannot run open by mistake.
    public var requireTokens = false
    /// The secret that signs the links to a job's page; empty makes a random one at each start.
    public var linkSecret = ""
    /// How long a signed link to a job's page stays valid, in minutes.
    public var linkMinutes = 1440

    /// The executable that parses DICOM uploads in a child process (`kidneyseg read-dicom`), so
    /// that a crash in GDCM on a hostile file cannot stop the service; `serve` sets it to itself.
    /// Not a key: nil parses DICOM in this process.
    public var dicomReader: URL?

    public init() {}

    /// Every key, its environment variable, and how to set it from text.
    static let keys: [(name: String, apply: @Sendable (inout ServiceConfiguration, String) throws -> Void)] = [
        ("host", { $0.host = $1 }),
        ("port", { $0.port = try integer($1, "port") }),
        ("data_dir", { $0.dataDirectory = $1 }),
        ("models_dir", { $0.modelsDirectory = $1 }),
        ("workers", { $0.workers = try integer($1, "workers") }),
        ("threads_per_worker", { $0.threadsPerWorker = try integer($1, "threads_per_worker") }),
        ("max_upload_mb", { $0.maxUploadMegabytes = try integer($1, "max_upload_mb") }),
        ("max_queued_jobs", { $0.maxQueuedJobs = try integer($1, "max_queued_jobs") }),
        ("max_attempts", { $0.maxAttempts = try integer($1, "max_attempts") }),
        ("max_connections", { $0.maxConnections = try integer($1, "max_connections") }),
        ("max_concurrent_uploads", { $0.maxConcurrentUploads = try integer($1, "max_concurrent_uploads") }),
        ("tokens", { $0.tokens = $1.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }),
        ("open_health_endpoints", { $0.openHealthEndpoints = try boolean($1, "open_health_endpoints") }),
        ("require_tokens", { $0.requireTokens = try boolean($1, "require_tokens") }),
        ("link_secret", { $0.linkSecret = $1 }),
        ("link_minutes", { $0.linkMinutes = try integer($1, "link_minutes") }),
    ]

    /// Every key's name, in the order the file documents them.
    public static var keyNames: [String] { keys.map(\.name) }

    public static func environmentVariable(for key: String) -> String { "KIDNEYSEG_" + key.uppercased() }

    /// Reads `file`, then the environment, then `flags` (key → value). A missing file is an
    /// error when it was named (`required`); the default file may be absent.
    public static func load(file: URL?, required: Bool = false, environment: [String: String], flags: [String: String]) throws -> ServiceConfiguration {
        var configuration = ServiceConfiguration()
        if let file, required, !FileManager.default.fileExists(atPath: file.path) {
            throw ConfigurationError("the configuration file \(file.path) does not exist")
        }
        if let file, FileManager.default.fileExists(atPath: file.path) {
            let object: Any
            let text: Data
            do { text = withoutComments(try Data(contentsOf: file)) } catch {
                throw ConfigurationError("cannot read \(file.path): \(error.localizedDescription)")
            }
            // Some JSON readers let a trailing comma pass; the file is JSON, so it is an error.
            if let line = trailingCommaLine(in: text) { throw ConfigurationError("\(file.path) is not valid JSON: a trailing comma on line \(line)") }
            do { object = try JSONSerialization.jsonObject(with: text) } catch {
                throw ConfigurationError("\(file.path) is not valid JSON: \(error.localizedDescription)")
            }
            guard let fields = object as? [String: Any] else { throw ConfigurationError("\(file.path) must hold one JSON object") }
            for (name, value) in fields {
                guard let key = keys.first(where: { $0.name == name }) else {
                    throw ConfigurationError("unknown key \(name) in \(file.path); known keys: \(keys.map(\.name).joined(separator: ", "))")
                }
                // JSON true/false arrive as Bool; numbers would also cast to Bool, so ask the type.
                let text: String = if let list = value as? [Any] {
                    list.map { "\($0)" }.joined(separator: ",")
                } else if type(of: value) == Bool.self, let flag = value as? Bool {
                    flag ? "true" : "false"
                } else {
                    "\(value)"
                }
                try key.apply(&configuration, text)
            }
        }
        for key in keys {
            if let value = environment[environmentVariable(for: key.name)] { try key.apply(&configuration, value) }
        }
        for (name, value) in flags {
            guard let key = keys.first(where: { $0.name == name }) else { throw ConfigurationError("unknown key \(name)") }
            try key.apply(&configuration, value)
        }
        try configuration.validate()
        return configuration
    }

    func validate() throws {
        guard (0...65535).contains(port) else { throw ConfigurationError("port must be 0 to 65535, not \(port)") }
        guard workers >= 1 else { throw ConfigurationError("workers must be at least 1") }
        guard threadsPerWorker >= 0 else { throw ConfigurationError("threads_per_worker must be 0 (automatic) or more") }
        guard maxUploadMegabytes >= 1 else { throw ConfigurationError("max_upload_mb must be at least 1") }
        guard maxQueuedJobs >= 1 else { throw ConfigurationError("max_queued_jobs must be at least 1") }
        guard maxAttempts >= 1 else { throw ConfigurationError("max_attempts must be at least 1") }
        guard maxConnections >= 1 else { throw ConfigurationError("max_connections must be at least 1") }
        guard linkMinutes >= 1 else { throw ConfigurationError("link_minutes must be at least 1") }
        guard maxConcurrentUploads >= 1 else { throw ConfigurationError("max_concurrent_uploads must be at least 1") }
        guard !dataDirectory.isEmpty, !modelsDirectory.isEmpty else { throw ConfigurationError("data_dir and models_dir must be set") }
        guard !requireTokens || !tokens.isEmpty else {
            throw ConfigurationError("require_tokens is set but there are no tokens: set \(Self.environmentVariable(for: "tokens"))")
        }
    }

    /// `KIDNEYSEG_*` variables in `environment` that name no setting (a typo such as
    /// KIDNEYSEG_TOKEN), which `serve` warns about.
    public static func unknownVariables(in environment: [String: String]) -> [String] {
        let known = Set(keys.map { environmentVariable(for: $0.name) })
        return environment.keys.filter { $0.hasPrefix("KIDNEYSEG_") && !known.contains($0) }.sorted()
    }

    /// The SQLite job database, in the data directory.
    public var databaseFile: URL { URL(fileURLWithPath: dataDirectory).appendingPathComponent("kidneyseg.sqlite") }

    /// Threads per worker so that workers × threads stays within `cores`.
    public func computeThreads(cores: Int) -> Int {
        threadsPerWorker > 0 ? threadsPerWorker : max(1, cores / workers)
    }

    private static func integer(_ text: String, _ key: String) throws -> Int {
        guard let value = Int(text.trimmingCharacters(in: .whitespaces)) else { throw ConfigurationError("\(key) must be a whole number, not \(text)") }
        return value
    }

    private static func boolean(_ text: String, _ key: String) throws -> Bool {
        switch text.lowercased() {
        case "true", "1", "yes": return true
        case "false", "0", "no": return false
        default: throw ConfigurationError("\(key) must be true or false, not \(text)")
        }
    }
}

/// The line of the first `,` that is followed, past white space, by `}` or `]` outside strings.
func trailingCommaLine(in data: Data) -> Int? {
    var (inString, escaped) = (false, false)
    var (line, comma): (Int, Int?) = (1, nil)
    for byte in data {
        if byte == UInt8(ascii: "\n") { line += 1 }
        if inString {
            if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
            continue
        }
        switch byte {
        case UInt8(ascii: "\""): (inString, comma) = (true, nil)
        case UInt8(ascii: ","): comma = line
        case UInt8(ascii: "}"), UInt8(ascii: "]"): if let comma { return comma }
        case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"), UInt8(ascii: "\n"): break
        default: comma = nil
        }
    }
    return nil
}

/// JSON with `//` comments to the end of a line (as tsconfig.json and VS Code's settings allow),
/// so that the configuration file documents each key where it is set. Slashes inside strings stay.
func withoutComments(_ data: Data) -> Data {
    var output: [UInt8] = []
    var (inString, escaped, inComment) = (false, false, false)
    let bytes = [UInt8](data)
    for (index, byte) in bytes.enumerated() {
        if inComment {
            if byte == UInt8(ascii: "\n") { inComment = false; output.append(byte) }
            continue
        }
        if inString {
            if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
        } else if byte == UInt8(ascii: "\"") {
            inString = true
        } else if byte == UInt8(ascii: "/"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "/") {
            inComment = true
            continue
        }
        output.append(byte)
    }
    return Data(output)
}

public struct ConfigurationError: Error, Equatable, Sendable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) { self.description = description }
}
