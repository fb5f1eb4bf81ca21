import Foundation
import Imaging
import Testing
import Training

@Suite struct AugmentationTests {
    /// A 32x24 image whose value is 0.4 × its label: a kidney disk with a tumour inside.
    static func pair() -> (Plane<Float>, Plane<UInt8>) {
        let labels = (0..<(32 * 24)).map { index -> UInt8 in
            let (x, y) = (Float(index % 32), Float(index / 32))
            let d = ((x - 12) * (x - 12) + (y - 12) * (y - 12)).squareRoot()
            return d < 3 ? 2 : d < 8 ? 1 : 0
        }
        return (Plane(width: 32, height: 24, values: labels.map { Float($0) * 0.4 }), Plane(width: 32, height: 24, values: labels))
    }

    func augmented(_ augmentation: Augmentation, seed: UInt64) -> (Plane<Float>, Plane<UInt8>) {
        var (image, labels) = Self.pair()
        var channels = [image]
        var generator = SeededGenerator(seed: seed)
        augmentation.apply(image: &channels, labels: &labels, using: &generator)
        return (channels[0], labels)
    }

    /// A 2.5-D model's channels are neighbouring slices: every step but the noise treats them
    /// alike, so copies of one slice stay copies.
    @Test(arguments: [1, 2, 3] as [UInt64])
    func everyChannelChangesAlike(seed: UInt64) {
        let steps = Augmentation.Step.allCases.filter { $0 != .noise }
        var (image, labels) = Self.pair()
        var channels = [image, image, image]
        var generator = SeededGenerator(seed: seed)
        Augmentation(proportion: 1, steps: steps, stepProbability: 1).apply(image: &channels, labels: &labels, using: &generator)
        #expect(channels[0] != image)
        #expect(channels[1] == channels[0] && channels[2] == channels[0])
    }

    @Test func leavesTheUnchosenShareAlone() {
        let (image, labels) = augmented(Augmentation(proportion: 0), seed: 1)
        #expect(image == Self.pair().0 && labels == Self.pair().1)
    }

    @Test func flipsLeftRight() {
        let (image, labels) = augmented(Augmentation(proportion: 1, steps: [.flip], stepProbability: 1), seed: 1)
        let (original, originalLabels) = Self.pair()
        #expect(image[31, 12] == original[0, 12] && image[19, 12] == original[12, 12])
        #expect(labels[19, 12] == 2 && originalLabels[12, 12] == 2)
    }

    /// Every spatial step at once: the labels still sit under the image values they belong to.
    @Test(arguments: [1, 2, 3, 4, 5] as [UInt64])
    func spatialStepsKeepImageAndLabelsAligned(seed: UInt64) {
        let spatial: [Augmentation.Step] = [.flip, .rotation, .elastic, .gridDistortion, .cropPad]
        let (image, labels) = augmented(Augmentation(proportion: 1, steps: spatial, stepProbability: 1), seed: seed)
        #expect(image != Self.pair().0)
        let aligned = zip(image.values, labels.values).filter { abs($0 - Float($1) * 0.4) < 0.2 }.count
        #expect(Double(aligned) / Double(labels.values.count) > 0.95)
        #expect(Set(labels.values).isSubset(of: [0, 1, 2]))
    }

    @Test func brightnessShiftsEveryPixelAlike() {
        let (image, labels) = augmented(Augmentation(proportion: 1, steps: [.brightness], stepProbability: 1), seed: 3)
        let shifts = zip(image.values, Self.pair().0.values).map { $0 - $1 }
        #expect(labels == Self.pair().1)
        #expect(shifts.allSatisfy { abs($0 - shifts[0]) < 1e-6 } && abs(shifts[0]) <= 0.1 && shifts[0] != 0)
    }

    @Test func theSeedDecidesEverything() {
        let augmentation = Augmentation(proportion: 1)
        #expect(augmented(augmentation, seed: 9) == augmented(augmentation, seed: 9))
        #expect(augmented(augmentation, seed: 9).0 != augmented(augmentation, seed: 10).0)
    }

    /// On the [-125, 225] window: an enhancing kidney (190 HU) on fat (-100 HU). The phase step
    /// moves the kidney towards its native 35 HU, or beyond the phase it was taken in (up to
    /// twice its enhancement, clipped by the window), and leaves fat alone; the labels do not move.
    @Test(arguments: [1, 2, 3, 4] as [UInt64])
    func contrastPhaseMovesTheKidneysEnhancement(seed: UInt64) {
        let window = HounsfieldWindow.kits19
        var labels = Self.pair().1
        labels.values = labels.values.map { $0 == 0 ? 0 : 1 }
        var image = Plane(width: 32, height: 24, values: labels.values.map { window.scaled($0 == 1 ? 190 : -100) })
        var generator = SeededGenerator(seed: seed)
        var channels = [image]
        Augmentation(proportion: 1, steps: [.contrastPhase], stepProbability: 1, window: window).apply(image: &channels, labels: &labels, using: &generator)
        image = channels[0]
        let hounsfield = { (x: Int, y: Int) in window.lower + image[x, y] * (window.upper - window.lower) }
        #expect(hounsfield(12, 12) >= 35 - 0.5 && hounsfield(12, 12) <= 225 + 0.5)
        #expect(abs(hounsfield(28, 20) - -100) < 0.01)
        #expect(labels.values.filter { $0 == 1 }.count == Self.pair().1.values.filter { $0 > 0 }.count)
    }

    /// As the 8-bit PNG sets store CT: nothing below 0 HU.
    @Test func clampsAtZeroHounsfieldUnits() {
        let window = HounsfieldWindow.kits19
        var (image, labels) = Self.pair()
        image.values = (0..<image.values.count).map { window.scaled(Float($0 % 350) - 125) }
        var generator = SeededGenerator(seed: 1)
        var channels = [image]
        Augmentation(proportion: 1, steps: [.clampAtZero], stepProbability: 1, window: window).apply(image: &channels, labels: &labels, using: &generator)
        image = channels[0]
        #expect(image.values.min() == window.scaled(0))
        #expect(image.values[300] == window.scaled(175))
    }
}
