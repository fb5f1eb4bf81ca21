import Foundation
import Service
import TestSupport
import Testing

@Suite struct ConfigurationTests {
    let scratch = ScratchDirectory()

    func file(_ json: String) throws -> URL {
        let url = scratch.url.appendingPathComponent("kidneyseg.json")
        try Data(json.utf8).write(to: url)
        return url
    }

    @Test func theShippedFileHoldsTheDefaults() throws {
        let shipped = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Config/kidneyseg.json")
        #expect(FileManager.default.fileExists(atPath: shipped.path))
        #expect(try ServiceConfiguration.load(file: shipped, environment: [:], flags: [:]) == ServiceConfiguration())
    }

    @Test func commentsMayFollowAnythingButSlashesInStringsStay() throws {
        let url = try file("// settings\n{\n  \"data_dir\": \"/var//lib\", // where data lives\n  \"host\": \"a\\\"//b\"\n}\n")
        let settings = try ServiceConfiguration.load(file: url, environment: [:], flags: [:])
        #expect(settings.dataDirectory == "/var//lib" && settings.host == "a\"//b")
    }

    @Test func flagsBeatTheEnvironmentWhichBeatsTheFile() throws {
        let url = try file(#"{"port": 9000, "workers": 3, "tokens": ["a", "b"], "open_health_endpoints": false}"#)
        let fromFile = try ServiceConfiguration.load(file: url, environment: [:], flags: [:])
        #expect(fromFile.port == 9000 && fromFile.workers == 3 && fromFile.tokens == ["a", "b"] && !fromFile.openHealthEndpoints)
        let environment = ["KIDNEYSEG_PORT": "9100", "KIDNEYSEG_TOKENS": "x, y", "KIDNEYSEG_WORKERS": "2"]
        let fromEnvironment = try ServiceConfiguration.load(file: url, environment: environment, flags: [:])
        #expect(fromEnvironment.port == 9100 && fromEnvironment.tokens == ["x", "y"] && fromEnvironment.workers == 2)
        let fromFlags = try ServiceConfiguration.load(file: url, environment: environment, flags: ["port": "9200"])
        #expect(fromFlags.port == 9200 && fromFlags.workers == 2)
    }

    @Test func sharesTheCoresBetweenWorkers() {
        var configuration = ServiceConfiguration()
        configuration.workers = 2
        #expect(configuration.computeThreads(cores: 16) == 8)
        #expect(configuration.computeThreads(cores: 1) == 1)
        configuration.threadsPerWorker = 3
        #expect(configuration.computeThreads(cores: 16) == 3)
    }

    static let invalid: [(String, String)] = [
        (#"{"prot": 1}"#, "unknown key prot in"),
        (#"{"port": "eighty"}"#, "port must be a whole number, not eighty"),
        (#"{"port": 70000}"#, "port must be 0 to 65535, not 70000"),
        (#"{"workers": 0}"#, "workers must be at least 1"),
        (#"{"max_attempts": 0}"#, "max_attempts must be at least 1"),
        (#"{"open_health_endpoints": "maybe"}"#, "open_health_endpoints must be true or false, not maybe"),
        (#"[1, 2]"#, "must hold one JSON object"),
        (#"{"port": "#, "is not valid JSON"),
        ("{\n  \"port\": 80,\n}", "is not valid JSON: a trailing comma on line 2"),
        (#"{"tokens": ["a", "b",]}"#, "a trailing comma on line 1"),
    ]

    /// A comma in a string is not a trailing comma.
    @Test func commasInsideStringsAreText() throws {
        #expect(try ServiceConfiguration.load(file: file(#"{"host": "a,]\",}", "port": 1}"#), environment: [:], flags: [:]).host == #"a,]",}"#)
    }

    /// A misspelt variable once went unnoticed (KIDNEYSEG_TOKEN for KIDNEYSEG_TOKENS: no auth).
    @Test func namesUnknownEnvironmentVariables() {
        let environment = ["KIDNEYSEG_TOKEN": "s3cret", "KIDNEYSEG_PORT": "80", "PATH": "/bin", "KIDNEYSEG_WORKRES": "2"]
        #expect(ServiceConfiguration.unknownVariables(in: environment) == ["KIDNEYSEG_TOKEN", "KIDNEYSEG_WORKRES"])
    }

    /// `serve --config missing.json` once started silently with the defaults, without tokens.
    @Test func aNamedFileMustExist() throws {
        let missing = URL(fileURLWithPath: "/nonexistent/kidneyseg.json")
        #expect(throws: ConfigurationError("the configuration file /nonexistent/kidneyseg.json does not exist")) {
            try ServiceConfiguration.load(file: missing, required: true, environment: [:], flags: [:])
        }
        #expect(try ServiceConfiguration.load(file: missing, required: false, environment: [:], flags: [:]) == ServiceConfiguration())
    }

    @Test(arguments: invalid)
    func refusesInvalidSettingsWithAClearMessage(json: String, message: String) throws {
        let url = try file(json)
        #expect {
            try ServiceConfiguration.load(file: url, environment: [:], flags: [:])
        } throws: { error in
            (error as? ConfigurationError)?.description.contains(message) == true
        }
    }
}

/// The configuration's documentation and its code list the same keys.
@Suite struct ConfigurationDocumentationTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The README's table rows: key, environment variable, flag, default.
    static func readmeRows() throws -> [[String]] {
        let readme = try String(contentsOf: repository.appendingPathComponent("README.md"), encoding: .utf8)
        let section = readme.components(separatedBy: "### Configuration")[1].components(separatedBy: "\n## ")[0]
        return section.split(separator: "\n").filter { $0.hasPrefix("| `") }.map { line in
            line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
        }
    }

    @Test func everyKeyInTheCodeIsInTheReadmeAndBack() throws {
        let rows = try Self.readmeRows()
        let documented = rows.map { $0[0].trimmingCharacters(in: CharacterSet(charactersIn: "`")) }
        #expect(documented.sorted() == ServiceConfiguration.keyNames.sorted())
        for row in rows {
            let key = row[0].trimmingCharacters(in: CharacterSet(charactersIn: "`"))
            #expect(row[1].hasPrefix("`\(ServiceConfiguration.environmentVariable(for: key))`"), "\(key): \(row[1])")
        }
    }

    @Test func theShippedFileDocumentsEveryKeyWhereItIsSet() throws {
        let lines = try String(contentsOf: Self.repository.appendingPathComponent("Config/kidneyseg.json"), encoding: .utf8)
            .split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        for key in ServiceConfiguration.keyNames {
            let line = try #require(lines.firstIndex { $0.hasPrefix("\"\(key)\":") }, "\(key) is not in Config/kidneyseg.json")
            #expect(lines[line - 1].hasPrefix("//"), "\(key) has no comment above it")
        }
    }

    @Test func theProductionExampleRequiresTokens() throws {
        let production = Self.repository.appendingPathComponent("Config/production.json")
        #expect(throws: ConfigurationError("require_tokens is set but there are no tokens: set KIDNEYSEG_TOKENS")) {
            try ServiceConfiguration.load(file: production, environment: [:], flags: [:])
        }
        let settings = try ServiceConfiguration.load(file: production, environment: ["KIDNEYSEG_TOKENS": "s3cret"], flags: [:])
        #expect(settings.tokens == ["s3cret"] && settings.workers == 2 && settings.host == "0.0.0.0")
    }
}
