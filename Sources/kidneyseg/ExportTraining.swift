import ArgumentParser
import Foundation
import NeuralNet
import Training

struct ExportTraining: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export-training",
        abstract: "Write the training slices, graphs and reference logits that a trainer outside Swift needs to continue models.",
        discussion: """
            The slices are prepared as kidneyseg train prepares them for --config (a JSON file with the keys of training.json's \
            "configuration"). scripts/gpu/train.py reads the folder. \
            Example: kidneyseg export-training --config stage.json --model Models/resnet50 --model Models/vgg16_bn --output ../export
            """
    )

    @Option(help: ArgumentHelp("A JSON file of training settings: data folders, weights, preprocessing.", valueName: "FILE"))
    var config: String
    @Option(help: ArgumentHelp("A model folder to export the graph and reference logits of (repeatable).", valueName: "DIR"))
    var model: [String] = []
    @Option(help: ArgumentHelp("The folder to write.", valueName: "DIR"))
    var output: String

    func run() throws {
        ComputeThreads.configure()
        let settings = try TrainingConfiguration(file: URL(argument: config))
        try settings.validate()
        let models = try model.map { try SegmentationModel(folder: URL(argument: $0)) }
        try TrainingExport.write(configuration: settings, models: models, to: URL(argument: output)) { line in
            print(line)
            fflush(nil)
        }
    }
}
