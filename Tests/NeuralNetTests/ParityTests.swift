import Foundation
import NeuralNet
import TestSupport
import Testing

/// The engine against PyTorch's float64 reference logits for full-size smp U-Nets, with the
/// fixtures' stated tolerances: max|out − ref| ≤ tol · max(1, max|ref|), argmax agreement ≥ 99.9 %.
@Suite struct ParityTests {
    static let cases: [(model: String, tolerance: Float)] = [("resnet50", 1e-3), ("vgg16_bn", 1e-3), ("inception_v3", 5e-3)]

    @Test(arguments: cases)
    func matchesPyTorch(model: String, tolerance: Float) throws {
        let file = try SafeTensorsFile(contentsOf: ParityFixtures.root.appendingPathComponent("\(model)/weights.safetensors"))
        let encoder = try #require(file.metadata["encoder"].flatMap(EncoderName.init(rawValue:)))
        let network = try UNet(architecture: UNetArchitecture(encoder: encoder), weights: file)
        for (input, shape) in [("x1", (1, 256, 256)), ("x2", (2, 192, 160))] {
            let x = Tensor(batch: shape.0, channels: 1, height: shape.1, width: shape.2, data: try ParityFixtures.floats("\(input).f32"))
            let reference = try ParityFixtures.floats("\(model)/logits_\(input).f32")
            let logits = network.logits(x)
            #expect(logits.shape == [shape.0, 3, shape.1, shape.2])
            let largest = reference.map(abs).max()!
            let error = zip(logits.data, reference).map { abs($0 - $1) }.max()!
            let agreement = argmaxAgreement(logits, reference)
            print("parity \(model) \(input): max|out-ref| = \(error), relative \(error / max(1, largest)), argmax agreement \(agreement)")
            #expect(error <= tolerance * max(1, largest), "\(model) \(input)")
            #expect(agreement >= 0.999, "\(model) \(input)")
        }
    }

    func argmaxAgreement(_ logits: Tensor, _ reference: [Float]) -> Double {
        var agree = 0
        let plane = logits.planeSize
        for item in 0..<logits.batch {
            for pixel in 0..<plane {
                let base = item * logits.itemSize + pixel
                let ours = (0..<3).max { logits.data[base + $0 * plane] < logits.data[base + $1 * plane] }
                let theirs = (0..<3).max { reference[base + $0 * plane] < reference[base + $1 * plane] }
                if ours == theirs { agree += 1 }
            }
        }
        return Double(agree) / Double(logits.batch * plane)
    }
}
