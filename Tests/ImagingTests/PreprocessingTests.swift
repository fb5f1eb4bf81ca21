import Imaging
import Testing

@Suite struct PreprocessingTests {
    @Test func windowsHounsfieldUnitsToTheUnitInterval() {
        #expect(windowHounsfield([-1000, -125, 50, 225, 3000], lower: -125, upper: 225) == [0, 0, 0.5, 1, 1])
        #expect(HounsfieldWindow.kits19.scaled(-55) == 0.2)
    }

    @Test func medianRemovesSpeckleAndKeepsEdges() {
        var values = [Float](repeating: 0, count: 25)
        values[12] = 100  // a single hot pixel
        for y in 0..<5 { values[y * 5 + 4] = 50 }  // an edge column
        let filtered = medianFilter3x3(Plane(width: 5, height: 5, values: values))
        #expect(filtered[2, 2] == 0)
        #expect((0..<5).allSatisfy { filtered[4, $0] == 50 })
    }

    @Test func gaussianSpreadsAnImpulseAsItsKernel() {
        var values = [Float](repeating: 0, count: 81)
        values[40] = 1
        let blurred = gaussianBlur(Plane(width: 9, height: 9, values: values), sigma: 1)
        // exp(-1/2) relative weight one pixel away along each axis.
        #expect(abs(blurred[5, 4] / blurred[4, 4] - Float(0.6065307)) < 1e-5)
        #expect(abs(blurred[5, 5] / blurred[4, 4] - Float(0.3678794)) < 1e-5)
        #expect(abs(blurred.values.reduce(0, +) - 1) < 1e-5)
        let flat = gaussianBlur(Plane(width: 6, height: 4, values: [Float](repeating: 3, count: 24)), sigma: 2)
        #expect(flat.values.allSatisfy { abs($0 - 3) < 1e-5 })
    }

    @Test func denoisingStepsAreNamedValues() {
        let image = Plane<Float>(width: 3, height: 3, values: [0, 0, 0, 0, 9, 0, 0, 0, 0])
        #expect(Denoising.none.apply(to: image) == image)
        #expect(Denoising.median3x3.apply(to: image).values == [Float](repeating: 0, count: 9))
        #expect(Denoising.gaussian(sigma: 0.5).apply(to: image)[1, 1] < 9)
    }
}
