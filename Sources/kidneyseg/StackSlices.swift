import ArgumentParser
import Foundation
import Training

struct StackSlices: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stack-slices",
        abstract: "Rebuild volumes, in the KiTS layout, from a PNG folder of consecutive slices and its spacing.json.",
        discussion: """
            Files are images/PATIENT_NUMBER.png with labels/PATIENT_NUMBER.png; spacing.json gives each \
            patient's pixel_spacing_mm and slice_thickness_mm. Example: kidneyseg stack-slices \
            ../shared/data/kits19-real-slices --output ../kidneyseg-data/kits19-real
            """
    )

    @Argument(help: ArgumentHelp("The PNG-layout folder.", valueName: "DIR"))
    var slices: String

    @Option(help: ArgumentHelp("Where to write case folders.", valueName: "DIR"))
    var output: String

    @OptionGroup var input: InputOptions

    func run() throws {
        let written = try SliceStacking.stack(folder: URL(argument: slices), reader: input.reader, output: URL(argument: output))
        print("wrote \(written.count) cases to \(output): \(written.joined(separator: ", "))")
    }
}
