import ArgumentParser
import Foundation
import Service
import Store

struct Backup: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy the live job database consistently, while the service runs.",
        discussion: """
            The copy is one snapshot of the database (SQLite's VACUUM INTO), taken without stopping writers. Job files \
            (inputs, masks, overlays) are plain files under <data_dir>/jobs: copy them with rsync or a volume snapshot.
            Example: kidneyseg backup -o /backups/kidneyseg-$(date +%F).sqlite
            """
    )

    @Option(help: "The configuration file, for data_dir.")
    var config = "Config/kidneyseg.json"

    @Option(name: .customLong("data-dir"), help: "Where the database lives (overrides the configuration).")
    var dataDirectory: String?

    @Option(name: .shortAndLong, help: ArgumentHelp("The copy to write; it must not exist.", valueName: "FILE"))
    var output: String

    func run() throws {
        let settings = try ServiceConfiguration.load(file: URL(argument: config), environment: ProcessInfo.processInfo.environment,
                                                     flags: dataDirectory.map { ["data_dir": $0] } ?? [:])
        try SQLiteJobStore.backup(databaseAt: settings.databaseFile.path, to: URL(argument: output).path)
        print("backed up \(settings.databaseFile.path) to \(URL(argument: output).path)")
    }
}
