import Foundation
import NeuralNet
import TestSupport
import Testing

@Suite struct UNetTests {
    static let fixtures: [(String, EncoderName)] = [("resnet50", .resnet50), ("vgg16_bn", .vgg16bn), ("inception_v3", .inceptionV3)]

    /// At width 1 the architecture asks for exactly the tensors of smp's state dict.
    @Test(arguments: fixtures)
    func usesSmpsExactStateDictNames(folder: String, encoder: EncoderName) throws {
        let file = try SafeTensorsFile(contentsOf: ParityFixtures.root.appendingPathComponent("\(folder)/weights.safetensors"))
        let expected = UNet.parameterShapes(of: UNetArchitecture(encoder: encoder))
        let stored = file.entries.filter { !$0.key.hasSuffix("num_batches_tracked") }
        #expect(expected.count == stored.count)
        #expect(Dictionary(uniqueKeysWithValues: expected.map { ($0.name, $0.shape) }) == stored.mapValues(\.shape))
    }

    /// Random weights for an architecture, as a safetensors file.
    func randomWeights(_ architecture: UNetArchitecture, seed: UInt64) throws -> SafeTensorsFile {
        var state = seed
        let tensors = UNet.parameterShapes(of: architecture).map { name, shape -> SafeTensorsFile.Tensor32 in
            let count = shape.reduce(1, *)
            let values: [Float] = (0..<count).map { _ in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                let uniform = Float(state >> 40) / Float(1 << 24)
                return name.hasSuffix("running_var") ? 0.5 + uniform : (uniform - 0.5) * 0.2
            }
            return .init(name: name, shape: shape, values: values)
        }
        return try SafeTensorsFile(data: SafeTensorsFile.encode(tensors))
    }

    static let compact: [EncoderName] = [.resnet18, .resnet34, .resnet50, .vgg16bn, .inceptionV3]

    @Test(arguments: compact)
    func buildsCompactWidths(encoder: EncoderName) throws {
        let architecture = UNetArchitecture(encoder: encoder, encoderWidth: 0.125, decoderChannels: [32, 16, 16, 8, 8])
        let network = try UNet(architecture: architecture, weights: randomWeights(architecture, seed: 7))
        let input = Tensor(batch: 2, channels: 1, height: 64, width: 96, data: (0..<(2 * 64 * 96)).map { Float($0 % 17) / 17 })
        let probabilities = network.probabilities(input)
        #expect(probabilities.shape == [2, 3, 64, 96])
        let plane = 64 * 96
        for pixel in 0..<plane {
            let sum: Float = probabilities.data[pixel] + probabilities.data[plane + pixel] + probabilities.data[2 * plane + pixel]
            #expect(abs(sum - 1) < 1e-5)
        }
        let fullWidth = UNet.parameterShapes(of: UNetArchitecture(encoder: encoder)).reduce(0) { $0 + $1.shape.reduce(1, *) }
        let compactSize = UNet.parameterShapes(of: architecture).reduce(0) { $0 + $1.shape.reduce(1, *) }
        #expect(compactSize * 20 < fullWidth)
    }

    @Test func namesEveryMissingUnexpectedAndMisshapedTensor() throws {
        let architecture = UNetArchitecture(encoder: .resnet18, encoderWidth: 0.125, decoderChannels: [16, 8, 8, 8, 8])
        let good = try randomWeights(architecture, seed: 1)
        var tensors = try good.entries.keys.sorted().map { SafeTensorsFile.Tensor32(name: $0, shape: good.entries[$0]!.shape, values: try good.floats($0)) }
        tensors.removeAll { $0.name == "encoder.bn1.running_var" }
        tensors.append(.init(name: "decoder.attention.weight", shape: [1], values: [0]))
        let head = tensors.firstIndex { $0.name == "segmentation_head.0.bias" }!
        tensors[head] = .init(name: "segmentation_head.0.bias", shape: [4], values: [0, 0, 0, 0])
        let broken = try SafeTensorsFile(data: SafeTensorsFile.encode(tensors))
        #expect(throws: ModelError.weightsDoNotMatch([
            "missing encoder.bn1.running_var [8]",
            "segmentation_head.0.bias has shape [4], expected [3]",
            "unexpected decoder.attention.weight",
        ])) { try UNet(architecture: architecture, weights: broken) }
    }
}
