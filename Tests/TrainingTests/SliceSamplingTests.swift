import Testing
import Training

@Suite struct SliceSamplingTests {
    @Test func drawsEachIndexInProportionToItsWeight() {
        let weights: [Float] = [1, 3, 0, 4, 0.5]
        let draw = WeightedDraw(weights: weights)
        var generator = SeededGenerator(seed: 11)
        let draws = 170_000
        var counts = [Int](repeating: 0, count: weights.count)
        for _ in 0..<draws { counts[draw.next(using: &generator)] += 1 }
        let total = weights.reduce(0, +)
        for (index, weight) in weights.enumerated() {
            // Binomial sd at most sqrt(0.25 / 170,000) = 0.0012; four of them allowed.
            #expect(abs(Double(counts[index]) / Double(draws) - Double(weight / total)) < 0.005, "index \(index): \(counts[index])")
        }
        #expect(counts[2] == 0)
    }

    @Test func aSingleWeightedIndexIsAlwaysDrawn() {
        let draw = WeightedDraw(weights: [0, 0, 2, 0])
        var generator = SeededGenerator(seed: 3)
        #expect((0..<100).allSatisfy { _ in draw.next(using: &generator) == 2 })
    }
}
