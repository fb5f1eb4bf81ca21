import Foundation

/// How the learning rate moves with the optimiser's step.
public enum LearningRateSchedule: Sendable, Equatable {
    case constant
    /// Multiplied by `factor` every `every` steps.
    case step(every: Int, factor: Float)
    /// Half a cosine from the base rate down to `minimum` over `steps` steps.
    case cosine(steps: Int, minimum: Float)

    public func rate(base: Float, step: Int) -> Float {
        switch self {
        case .constant: base
        case let .step(every, factor): base * pow(factor, Float(step / max(1, every)))
        case let .cosine(steps, minimum):
            minimum + (base - minimum) * 0.5 * (1 + cos(Float.pi * Float(min(step, steps)) / Float(max(1, steps))))
        }
    }
}

/// Adam (Kingma & Ba), with weight decay either added to the gradient (Adam's L2) or applied to
/// the weights directly (AdamW, Loshchilov & Hutter). Gradient accumulation: call `step` once per
/// `accumulation` backward passes; the summed gradients are averaged.
public struct Adam {
    public var learningRate: Float
    public var schedule: LearningRateSchedule
    public var weightDecay: Float
    public var decoupledWeightDecay: Bool
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var epsilon: Float = 1e-8
    /// Updates done so far.
    public private(set) var steps = 0
    /// The first and second moments, by parameter name.
    public private(set) var moments: [String: (first: [Float], second: [Float])] = [:]

    public init(learningRate: Float, schedule: LearningRateSchedule = .constant, weightDecay: Float = 0, decoupledWeightDecay: Bool = false) {
        self.learningRate = learningRate
        self.schedule = schedule
        self.weightDecay = weightDecay
        self.decoupledWeightDecay = decoupledWeightDecay
    }

    /// The rate the next update uses.
    public var currentRate: Float { schedule.rate(base: learningRate, step: steps) }

    /// Updates every trainable parameter from its gradient (divided by `accumulation`), then
    /// zeroes the gradients.
    public mutating func step(_ parameters: [Parameter], accumulation: Int = 1) {
        let rate = currentRate
        steps += 1
        let correction1 = 1 - pow(beta1, Float(steps))
        let correction2 = 1 - pow(beta2, Float(steps))
        for parameter in parameters where parameter.isTrainable {
            var (first, second) = moments[parameter.name] ?? ([Float](repeating: 0, count: parameter.values.count), [Float](repeating: 0, count: parameter.values.count))
            for index in parameter.values.indices {
                var gradient = parameter.gradient[index] / Float(accumulation)
                if !decoupledWeightDecay { gradient += weightDecay * parameter.values[index] }
                first[index] = beta1 * first[index] + (1 - beta1) * gradient
                second[index] = beta2 * second[index] + (1 - beta2) * gradient * gradient
                let update = (first[index] / correction1) / ((second[index] / correction2).squareRoot() + epsilon)
                parameter.values[index] -= rate * (update + (decoupledWeightDecay ? weightDecay * parameter.values[index] : 0))
            }
            moments[parameter.name] = (first, second)
            parameter.zeroGradient()
        }
    }

    /// Restores a saved state (see `Checkpoint`).
    public mutating func restore(steps: Int, moments: [String: (first: [Float], second: [Float])]) {
        self.steps = steps
        self.moments = moments
    }
}
