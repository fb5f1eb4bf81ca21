import Imaging
import Testing

@Suite struct SliceFrameTests {
    /// A width x height slice whose value at each pixel is f(x mm, y mm).
    func slice(_ width: Int, _ height: Int, spacing: Double, _ value: (Double, Double) -> Double) -> Plane<Float> {
        Plane(width: width, height: height, values: (0..<(width * height)).map { Float(value(Double($0 % width) * spacing, Double($0 / width) * spacing)) })
    }

    func frame(_ width: Int, _ height: Int, spacing: Double, centre: SIMD2<Double>, modelSpacing: Double = 2, size: Int = 32) -> SliceFrame {
        .centred(on: centre, sourceWidth: width, sourceHeight: height, sourceSpacing: SIMD2(spacing, spacing),
                 spacing: modelSpacing, width: size, height: size)
    }

    /// A linear ramp survives resampling inside the slice: the value at a model pixel is the ramp
    /// at that pixel's position in millimetres, within 0.05 mm (a filter whose width is not a
    /// whole number of source pixels is not quite centred on the grid).
    @Test(arguments: [0.5, 0.7, 0.9375, 2, 3.1])
    func samplesAtTheRightPositionInMillimetres(spacing: Double) {
        let ramp = slice(128, 96, spacing: spacing) { x, y in 3 * x - 2 * y + 7 }
        let frame = frame(128, 96, spacing: spacing, centre: SIMD2(64, 48) * spacing)
        let sampled = frame.sample(ramp, fill: -1000)
        for v in [8, 16, 23] {
            for u in [8, 15, 24] {
                let (x, y) = (frame.origin.x + Double(u) * 2, frame.origin.y + Double(v) * 2)
                #expect(abs(Double(sampled[u, v]) - (3 * x - 2 * y + 7)) < 0.05 * (3 + 2))
            }
        }
    }

    /// A disk of 20 mm radius covers the same model pixels (π·10² ≈ 314) whatever the scanner's
    /// pixel size, and restoring puts its edge back where it was.
    @Test(arguments: [0.5, 0.65, 0.94])
    func showsAnOrganAtTheSameSizeWhateverTheGrid(spacing: Double) {
        let pixels = Int(100 / spacing)
        let disk = slice(pixels, pixels, spacing: spacing) { x, y in (x - 50) * (x - 50) + (y - 50) * (y - 50) < 400 ? 1 : 0 }
        let frame = frame(pixels, pixels, spacing: spacing, centre: SIMD2(50, 50))
        let sampled = frame.sample(disk, fill: 0)
        let area = sampled.values.map(Double.init).reduce(0, +)
        #expect(abs(area - 100 * .pi) < 6)
        let restored = frame.restore(sampled, fill: 0)
        let disagreeing = zip(restored.values, disk.values).filter { ($0 > 0.5) != ($1 > 0.5) }.count
        #expect(Double(disagreeing) < 2 * .pi * 20 / spacing)  // at most a pixel's width along the edge
    }

    /// Beyond the slice the model reads the fill value; beyond the model's grid, restoring reads
    /// the fill value too.
    @Test func padsAndCropsWithTheFillValue() {
        let ones = Plane<Float>(width: 20, height: 20, values: Array(repeating: 1, count: 400))
        let padded = frame(20, 20, spacing: 1, centre: SIMD2(9.5, 9.5)).sample(ones, fill: 0)
        #expect(padded[16, 16] == 1 && padded[0, 0] == 0 && padded[31, 16] == 0)
        let big = frame(200, 200, spacing: 1, centre: SIMD2(99.5, 99.5))
        let restored = big.restore(Plane(width: 32, height: 32, values: Array(repeating: 0.25, count: 1024)), fill: 1)
        #expect(restored[100, 100] == 0.25 && restored[0, 0] == 1 && restored[199, 100] == 1)
    }

    /// The stretched frame of older models: the grids share their outer edges.
    @Test func stretchesTheWholeSliceForModelsWithoutASpacing() {
        let frame = SliceFrame.stretched(sourceWidth: 4, sourceHeight: 2, sourceSpacing: SIMD2(1, 1), width: 8, height: 8)
        #expect(frame.spacing == SIMD2(0.5, 0.25))
        #expect(frame.origin == SIMD2(-0.25, -0.375))
        let sampled = frame.sample(Plane(width: 4, height: 2, values: [0, 1, 2, 3, 4, 5, 6, 7]), fill: 0)
        // x 1.25 mm, y 0.625 mm: 1.25 on row 0 and 5.25 on row 1, blended 3:5.
        #expect(sampled[3, 4] == 3.75)
    }

    @Test func samplesLabelsByNearestNeighbour() {
        let labels = Plane<UInt8>(width: 8, height: 8, values: (0..<64).map { $0 % 8 < 4 ? 1 : 2 })
        let frame = SliceFrame.centred(on: SIMD2(3.5, 3.5), sourceWidth: 8, sourceHeight: 8, sourceSpacing: SIMD2(1, 1), spacing: 2, width: 6, height: 6)
        let sampled = frame.sampleNearest(labels)
        #expect(sampled.values[(2 * 6)..<(3 * 6)] == [0, 1, 1, 2, 2, 0])
        #expect(Set(sampled.values).isSubset(of: [0, 1, 2]))
    }
}

@Suite struct BodyMaskTests {
    /// A 100 x 80 mm slice of 1 mm pixels: an elliptical body (0 HU) with a pocket of gas
    /// (-1000 HU) inside, on a table (200 HU) apart from it, in air (-1000 HU).
    func phantom(floor: Float = -1000) -> AxialStack<Float> {
        let voxels = (0..<(100 * 80)).map { index -> Float in
            let (x, y) = (Double(index % 100), Double(index / 100))
            if y >= 74 && y <= 76 { return 200 }
            let inside = (x - 40) * (x - 40) / (30 * 30) + (y - 35) * (y - 35) / (25 * 25) < 1
            let gas = (x - 40) * (x - 40) + (y - 35) * (y - 35) < 25
            return inside && !gas ? 0 : floor
        }
        return AxialStack(size: GridSize(x: 100, y: 80, z: 1), spacing: SIMD3(1, 1, 3), voxels: voxels)
    }

    @Test(arguments: [-1000, -125] as [Float])
    func findsTheBodyAndItsExtentWithoutTheTable(floor: Float) {
        let body = BodyMask(phantom(floor: floor))
        #expect(body.contains(x: 40, y: 35, z: 0))   // the gas pocket is inside
        #expect(body.contains(x: 20, y: 35, z: 0))
        #expect(!body.contains(x: 90, y: 10, z: 0))
        let extent = try! #require(body.extent)
        #expect(abs(extent.lower.x - 10) <= 2 && abs(extent.upper.x - 70) <= 2)
        #expect(abs(extent.lower.y - 10) <= 2 && abs(extent.upper.y - 60) <= 2)  // not down to the table at 74-76
    }

    /// An 8-bit PNG's slice (0 to 255 HU, so fat reads as air): a body walled by 1 mm of skin
    /// with two 2 mm gaps, organs of 12 mm split by 2 mm of fat, and below it a table, a closed
    /// rim around its own pocket of air, larger than any organ. Unsealed, the air leaks in
    /// through the gaps and the fat, and the table is the largest region.
    @Test func sealsTheSkinOfClippedSlicesSoTheTableIsNotTheBody() {
        let (width, height) = (200, 160)
        let voxels = (0..<(width * height)).map { index -> Float in
            let (x, y) = (index % width, index / width)
            if (140...150).contains(y) && (10...190).contains(x) {
                return y == 140 || y == 150 || x == 10 || x == 190 ? 200 : 0
            }
            let radius = (Double(x - 100) * Double(x - 100)) / (80 * 80) + (Double(y - 70) * Double(y - 70)) / (55 * 55)
            if radius >= 0.96 && radius < 1 { return (98...99).contains(x) || (68...69).contains(y) ? 0 : 40 }
            if radius < 0.8 { return (x % 14 < 12) && (y % 14 < 12) ? 40 : 0 }
            return 0
        }
        let body = BodyMask(AxialStack(size: GridSize(x: width, y: height, z: 1), spacing: SIMD3(1, 1, 3), voxels: voxels))
        let extent = try! #require(body.extent)
        #expect(abs(extent.lower.y - 15) <= 3 && abs(extent.upper.y - 125) <= 3, "\(extent)")
        #expect(abs(extent.lower.x - 20) <= 3 && abs(extent.upper.x - 180) <= 3, "\(extent)")
        #expect(body.contains(x: 100, y: 70, z: 0) && body.contains(x: 36, y: 70, z: 0))
    }

    @Test func clippedImagesTakeTheirFloorAsAir() {
        #expect(BodyMask.threshold(forMinimum: -1024) == -300)
        #expect(BodyMask.threshold(forMinimum: -125) == -100)
        #expect(BodyMask.threshold(forMinimum: 0) == 25)
    }
}
