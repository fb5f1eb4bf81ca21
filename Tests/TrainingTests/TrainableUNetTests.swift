import Foundation
import NeuralNet
import Testing
import Training

@Suite struct TrainableUNetTests {
    static let families: [(EncoderName, Int)] = [(.resnet18, 128), (.resnet50, 128), (.vgg16bn, 128), (.inceptionV3, 160)]

    static func tiny(_ encoder: EncoderName) -> UNetArchitecture {
        UNetArchitecture(encoder: encoder, encoderWidth: 1.0 / 16, decoderChannels: [8, 6, 4, 4, 4])
    }

    /// The wiring of the whole network (stages, residual and branch joins, skips, decoder and
    /// head): directional derivatives of L = Σ r · logits along a random direction in one
    /// parameter at a time, against central differences. BatchNorm runs frozen, on running
    /// statistics warmed up to the batch's, so the network is piecewise linear and well scaled;
    /// the batch-statistics backward is checked on its own in `BackwardTests`. The quotient is
    /// taken at five step sizes and the best one counts, since float32 round-off limits the small
    /// steps and ReLU kinks the large ones; even so a quotient can sit 20-25 % off, so the bound
    /// is 30 %. A random direction can be nearly orthogonal to the gradient, and the derivative
    /// then small beside the round-off (seen at 71 % on an AVX2 machine), so up to three
    /// directions are tried and the best counts. A miswired network is far outside the bound in
    /// every direction: dropping a residual block's shortcut gradient gives errors of 120-620 %. The stem is left out: behind every layer of a tiny
    /// random network, its loss is too rough for any float32 step.
    @Test(arguments: families)
    func wholeNetworkGradients(encoder: EncoderName, size: Int) {
        let network = TrainableUNet(architecture: Self.tiny(encoder), seed: 5)
        var check = GradientCheck()
        let x = check.random([4, 1, size, size])
        for _ in 0..<30 { _ = network.forward(x, training: true) }
        let count = network.parameters.count
        for parameter in [count / 3, count / 2, count * 3 / 4, count - 1].map({ network.parameters[$0] }) {
            let (logits, backward) = network.forward(x, training: false)
            let projection = check.random(logits.shape)
            network.parameters.forEach { $0.zeroGradient() }
            backward(projection)
            let gradient = parameter.gradient
            let original = parameter.values
            let loss = { (direction: [Float], step: Float) -> Double in
                parameter.values = zip(original, direction).map { $0 + step * $1 }
                defer { parameter.values = original }
                return zip(network.forward(x, training: false).logits.data, projection.data).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            }
            var error = Double.infinity
            for _ in 0..<3 where error >= 0.3 {
                let direction = check.random([1, 1, 1, original.count]).data
                let analytic = zip(gradient, direction).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
                error = [Float(3e-3), 1e-3, 3e-4, 1e-4, 3e-5].map { step in
                    abs((loss(direction, step) - loss(direction, -step)) / Double(2 * step) - analytic) / abs(analytic)
                }.min()!
            }
            #expect(error < 0.3, "\(parameter.name): relative error \(error)")
        }
    }

    /// What the trainer writes loads in the inference engine and computes the same logits.
    @Test(arguments: families)
    func exportsWhatTheEngineLoads(encoder: EncoderName, size: Int) throws {
        let network = TrainableUNet(architecture: Self.tiny(encoder), seed: 9)
        var check = GradientCheck()
        _ = network.forward(check.random([2, 1, size, size]), training: true)  // moves the running statistics
        let file = try SafeTensorsFile(data: SafeTensorsFile.encode(network.stateDict()))
        let engine = try UNet(architecture: Self.tiny(encoder), weights: file)
        let x = check.random([1, 1, size, size])
        let expected = network.forward(x, training: false).logits
        let actual = engine.logits(x)
        let worst = zip(expected.data, actual.data).map { abs($0 - $1) }.max() ?? 0
        let scale = expected.data.map(abs).max() ?? 1
        #expect(worst <= 1e-4 * max(1, scale), "\(encoder): max difference \(worst)")
        #expect(network.stateDict().map(\.name) == UNet.parameterShapes(of: Self.tiny(encoder)).map(\.name))
    }

    @Test func loadsAPreviousModelAndFreezesEarlyStages() throws {
        let original = TrainableUNet(architecture: Self.tiny(.resnet18), seed: 1)
        let copy = TrainableUNet(architecture: Self.tiny(.resnet18), seed: 2)
        let file = try SafeTensorsFile(data: SafeTensorsFile.encode(original.stateDict()))
        #expect(try copy.load(file) == original.stateDict().count)
        #expect(copy.parameters.map(\.values) == original.parameters.map(\.values))

        copy.firstTrainedStage = 3
        let frozen = copy.parameters.filter { !$0.isTrainable }.map(\.name)
        #expect(frozen.contains("encoder.conv1.weight") && frozen.contains("encoder.layer1.1.bn2.bias"))
        #expect(!frozen.contains { $0.hasPrefix("encoder.layer2") || $0.hasPrefix("decoder") })
    }

    /// A 2-D model's weights start a 2.5-D one: the first convolution's weights go on the middle
    /// channel, so the new model gives the old one's output whatever the neighbours hold.
    @Test func startsA2point5DModelFromA2DOne() throws {
        let flat = TrainableUNet(architecture: Self.tiny(.resnet18), seed: 1)
        var deep = Self.tiny(.resnet18)
        deep.inChannels = 3
        let network = TrainableUNet(architecture: deep, seed: 2)
        #expect(try network.load(SafeTensorsFile(data: SafeTensorsFile.encode(flat.stateDict()))) == flat.stateDict().count)
        var check = GradientCheck(generator: SeededGenerator(seed: 5))
        let slice = check.random([1, 1, 32, 32])
        let neighbours = (check.random([1, 1, 32, 32]), check.random([1, 1, 32, 32]))
        let input = Tensor(batch: 1, channels: 3, height: 32, width: 32, data: neighbours.0.data + slice.data + neighbours.1.data)
        let expected = flat.forward(slice, training: false).logits.data
        let actual = network.forward(input, training: false).logits.data
        #expect(zip(expected, actual).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($0)) })
    }
}
