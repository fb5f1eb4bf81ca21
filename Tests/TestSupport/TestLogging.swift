import Foundation
import Logging

/// The service's log lines go to a file, not into the test output: `TestLogging.toFile` once,
/// before a server or service is made. The file is printed on the first use so a failure can be
/// read there.
public enum TestLogging {
    public static let file = FileManager.default.temporaryDirectory.appendingPathComponent("kidneyseg-tests-\(getpid()).log")

    public static let toFile: Void = {
        _ = FileManager.default.createFile(atPath: file.path, contents: nil)
        let handle = FileHandle(forWritingAtPath: file.path)
        LoggingSystem.bootstrap { label in FileLogHandler(label: label, handle: handle) }
        print("service logs of this test run: \(file.path)")
    }()
}

/// Appends each message to a file as `LEVEL label: message`.
struct FileLogHandler: LogHandler {
    let label: String
    let handle: FileHandle?
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        handle?.write(Data("\(event.level) \(label): \(event.message)\n".utf8))
    }
}
