import NeuralNet

/// A tensor the trainer learns: its values, the gradient accumulated since the last step, and
/// whether it is learned at all (frozen encoder stages keep theirs).
public final class Parameter {
    public let name: String
    public let shape: [Int]
    public var values: [Float]
    public var gradient: [Float]
    public var isTrainable = true

    public init(name: String, shape: [Int], values: [Float]) {
        precondition(values.count == shape.reduce(1, *), "\(name): \(values.count) values do not fill \(shape)")
        self.name = name
        self.shape = shape
        self.values = values
        gradient = [Float](repeating: 0, count: values.count)
    }

    /// Adds `contribution` to the gradient, unless the parameter is frozen.
    func accumulate(_ contribution: [Float]) {
        guard isTrainable else { return }
        for index in gradient.indices { gradient[index] += contribution[index] }
    }

    public func zeroGradient() {
        for index in gradient.indices { gradient[index] = 0 }
    }
}

/// A BatchNorm's learned scale and shift, and the running statistics that inference uses.
public final class BatchNormState {
    public let weight: Parameter
    public let bias: Parameter
    public var runningMean: [Float]
    public var runningVariance: [Float]
    public let epsilon: Double
    /// PyTorch's default: running = (1 − momentum) · running + momentum · batch.
    static let momentum: Float = 0.1

    public init(name: String, channels: Int, epsilon: Double) {
        weight = Parameter(name: "\(name).weight", shape: [channels], values: [Float](repeating: 1, count: channels))
        bias = Parameter(name: "\(name).bias", shape: [channels], values: [Float](repeating: 0, count: channels))
        runningMean = [Float](repeating: 0, count: channels)
        runningVariance = [Float](repeating: 1, count: channels)
        self.epsilon = epsilon
    }
}
