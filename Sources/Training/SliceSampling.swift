/// How a training step picks its slices. Both optimise the same weighted objective, in which
/// each slice counts by its weight (its set's share over its patient's slices); they differ in
/// how often each slice is computed.
public enum SliceSampling: String, Codable, Sendable, CaseIterable {
    /// Each pass shuffles every slice once, and the loss weighs each slice by its weight (the
    /// default, as the shipped models were trained).
    case uniform
    /// Each step draws its slices with replacement, each with probability proportional to its
    /// weight, and the loss counts them alike. A set that weighs little but has many slices
    /// (80 phantoms) then takes only its share of the steps, and a set that weighs much but has
    /// few (3 real patients) is seen as often as it counts, instead of rarely and with a large
    /// weight that makes the gradient noisy.
    case weighted
}

/// Draws indices 0..<n, each with probability proportional to its weight.
public struct WeightedDraw: Sendable {
    /// Running sums of the weights: index i is drawn when a uniform number in
    /// [0, total) falls in [cumulative[i - 1], cumulative[i]).
    private let cumulative: [Double]

    /// `weights` must not be negative, and at least one must be positive.
    public init(weights: [Float]) {
        precondition(weights.allSatisfy { $0 >= 0 } && weights.contains { $0 > 0 }, "weights must be non-negative, one of them positive")
        var total = 0.0
        cumulative = weights.map { weight in
            total += Double(weight)
            return total
        }
    }

    public func next(using generator: inout some RandomNumberGenerator) -> Int {
        let target = Double.random(in: 0..<cumulative[cumulative.count - 1], using: &generator)
        var (low, high) = (0, cumulative.count - 1)
        while low < high {
            let middle = (low + high) / 2
            if cumulative[middle] > target { high = middle } else { low = middle + 1 }
        }
        return low
    }
}
