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
        (#"{"open_health_endpoints": "maybe"}"#, "open_health_endpoints must be true or false, not maybe"),
        (#"[1, 2]"#, "must hold one JSON object"),
        (#"{"port": "#, "is not valid JSON"),
    ]

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
