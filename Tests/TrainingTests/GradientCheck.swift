import Foundation
import NeuralNet
import Testing
import Training

/// Checks a backward pass against central finite differences of L = Σ r · f(x), with r a fixed
/// random tensor, on sampled input and parameter coordinates. The error is measured against the
/// largest gradient seen, so that tiny gradients are not judged by float32 round-off.
struct GradientCheck {
    var epsilon: Float = 1e-3
    var tolerance: Float = 2e-2
    var samples = 40
    var generator = SeededGenerator(seed: 42)

    /// Random values in [-1, 1).
    mutating func random(_ shape: [Int]) -> Tensor {
        Tensor(batch: shape[0], channels: shape[1], height: shape[2], width: shape[3],
               data: (0..<shape.reduce(1, *)).map { _ in Float.random(in: -1..<1, using: &generator) })
    }

    /// The worst relative error over the sampled coordinates of the input (when `checkInput`)
    /// and of every parameter.
    mutating func worstError(_ f: @escaping (Tensor) -> (Tensor, Backward), at x: Tensor, parameters: [Parameter] = [], checkInput: Bool = true) -> Float {
        let pairs = compare(f, at: x, parameters: parameters, checkInput: checkInput)
        let scale = pairs.map { max(abs($0.analytic), abs($0.numeric)) }.max() ?? 0
        return pairs.map { abs($0.analytic - $0.numeric) }.max().map { $0 / max(scale, 1e-3) } ?? .infinity
    }

    private mutating func compare(_ f: @escaping (Tensor) -> (Tensor, Backward), at x: Tensor, parameters: [Parameter],
                                  checkInput: Bool) -> [(analytic: Float, numeric: Float)] {
        let (y, backward) = f(x)
        let projection = random(y.shape)
        let loss = { (input: Tensor) -> Double in
            zip(f(input).0.data, projection.data).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        }
        parameters.forEach { $0.zeroGradient() }
        let inputGradient = backward(projection)
        var pairs: [(analytic: Float, numeric: Float)] = []
        if checkInput {
            for _ in 0..<samples {
                let index = Int.random(in: 0..<x.data.count, using: &generator)
                var plus = x, minus = x
                plus.data[index] += epsilon
                minus.data[index] -= epsilon
                pairs.append((inputGradient.data[index], Float((loss(plus) - loss(minus)) / Double(2 * epsilon))))
            }
        }
        for parameter in parameters {
            for _ in 0..<max(4, samples / max(1, parameters.count)) {
                let index = Int.random(in: 0..<parameter.values.count, using: &generator)
                let original = parameter.values[index]
                parameter.values[index] = original + epsilon
                let plus = loss(x)
                parameter.values[index] = original - epsilon
                let minus = loss(x)
                parameter.values[index] = original
                pairs.append((parameter.gradient[index], Float((plus - minus) / Double(2 * epsilon))))
            }
        }
        return pairs
    }
}
