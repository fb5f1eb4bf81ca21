import Imaging
import Testing

@Suite struct PostprocessingTests {
    /// A stack with 1 mm³ voxels, so that 1 voxel is 0.001 mL.
    func stack(_ size: GridSize, _ voxels: [UInt8]) -> AxialStack<UInt8> {
        AxialStack(size: size, spacing: SIMD3(1, 1, 1), voxels: voxels)
    }

    func index(_ x: Int, _ y: Int, _ z: Int, in size: GridSize) -> Int { (z * size.y + y) * size.x + x }

    /// Kidney on a box of voxels.
    func box(_ voxels: inout [UInt8], _ size: GridSize, x: ClosedRange<Int>, y: ClosedRange<Int>, z: ClosedRange<Int>) {
        for z in z { for y in y { for x in x { voxels[index(x, y, z, in: size)] = 1 } } }
    }

    /// The body of a CT that is soft tissue (40 HU) in `columns` (all but the first and the last
    /// by default) and air (-1000 HU) elsewhere.
    func body(_ size: GridSize, columns: ClosedRange<Int>? = nil) -> BodyMask {
        let voxels = (0..<size.voxelCount).map { index -> Float in (columns ?? 1...(size.x - 2)).contains(index % size.x) ? 40 : -1000 }
        return BodyMask(AxialStack(size: size, spacing: SIMD3(1, 1, 1), voxels: voxels))
    }

    @Test func componentsJoinThroughCornersIn3D() {
        let size = GridSize(x: 4, y: 4, z: 4)
        var mask = [Bool](repeating: false, count: size.voxelCount)
        mask[index(0, 0, 0, in: size)] = true
        mask[index(1, 1, 1, in: size)] = true  // corner contact: joins the first
        mask[index(3, 3, 3, in: size)] = true  // two voxels away: separate
        let components = ConnectedComponents(size: size) { mask[$0] }
        #expect(components.sizes == [2, 1])
        #expect(components.labels[index(0, 0, 0, in: size)] == components.labels[index(1, 1, 1, in: size)])
        #expect(components.labels[index(3, 3, 3, in: size)] == 2)
        #expect(components.labels[index(2, 2, 2, in: size)] == 0)
    }

    /// A single slice has no thickness: its islands are judged by area (1 mm² pixels here).
    @Test func dropsIslandsOfASliceSmallerThanTheMinimumArea() {
        let size = GridSize(x: 20, y: 20, z: 1)
        var voxels = [UInt8](repeating: 0, count: size.voxelCount)
        for x in 2..<12 { for y in 2..<14 { voxels[index(x, y, 0, in: size)] = 1 } }  // 120 mm²
        for x in 15..<18 { for y in 15..<18 { voxels[index(x, y, 0, in: size)] = 1 } }  // 9 mm²
        var labels = stack(size, voxels)
        LabelCleanup(minimumComponentMillilitres: 1, oneKidneyPerSide: false).apply(to: &labels, body: body(size))
        #expect(labels.voxels.filter { $0 == 1 }.count == 120)
    }

    @Test func dropsIslandsSmallerThanTheMinimumVolume() {
        let size = GridSize(x: 10, y: 10, z: 2)
        var voxels = [UInt8](repeating: 0, count: size.voxelCount)
        for x in 0..<5 { for y in 0..<2 { voxels[index(x, y, 0, in: size)] = 1 } }  // 10 voxels = 0.010 mL
        voxels[index(8, 8, 0, in: size)] = 1  // 1 voxel = 0.001 mL
        var labels = stack(size, voxels)
        LabelCleanup(minimumComponentMillilitres: 0.005, oneKidneyPerSide: false, tumourMustTouchKidney: false).apply(to: &labels, body: body(size))
        #expect(labels.voxels.filter { $0 == 1 }.count == 10)
        #expect(labels.voxels[index(8, 8, 0, in: size)] == 0)
    }

    /// In a volume, a "tumour" larger than a sliver of kidney it sits on (under 10 mL) goes; the
    /// kidney stays. On a single slice, which has no volume, the rule does not apply.
    @Test func dropsTumourOnASliverOfKidney() {
        let size = GridSize(x: 10, y: 3, z: 3)
        var voxels = [UInt8](repeating: 0, count: size.voxelCount)
        voxels[index(0, 1, 1, in: size)] = 1
        for x in 1...5 { voxels[index(x, 1, 1, in: size)] = 2 }
        var labels = stack(size, voxels)
        LabelCleanup(minimumComponentMillilitres: 0, oneKidneyPerSide: false).apply(to: &labels, body: body(size))
        #expect(labels.voxels.filter { $0 == 2 }.isEmpty)
        #expect(labels.voxels[index(0, 1, 1, in: size)] == 1)
        var sized = stack(size, voxels)
        LabelCleanup(minimumComponentMillilitres: 0, oneKidneyPerSide: false, minimumKidneyForTumourMillilitres: 0).apply(to: &sized, body: body(size))
        #expect(sized.voxels.filter { $0 == 2 }.count == 5)
    }

    @Test func keepsTumourOnlyWhereItTouchesKidney() {
        let size = GridSize(x: 10, y: 3, z: 3)
        var voxels = [UInt8](repeating: 0, count: size.voxelCount)
        for (x, y) in [(0, 1), (1, 0), (1, 2)] { voxels[index(x, y, 1, in: size)] = 1 }  // more kidney than tumour
        voxels[index(1, 1, 1, in: size)] = 2  // touches the kidney
        voxels[index(2, 2, 2, in: size)] = 2  // touches that tumour only: same component
        voxels[index(7, 1, 1, in: size)] = 2  // far from any kidney
        voxels[index(8, 1, 1, in: size)] = 2
        var labels = stack(size, voxels)
        LabelCleanup(minimumComponentMillilitres: 0, oneKidneyPerSide: false).apply(to: &labels, body: body(size))
        #expect(labels.voxels[index(1, 1, 1, in: size)] == 2)
        #expect(labels.voxels[index(2, 2, 2, in: size)] == 2)
        #expect(labels.voxels[index(7, 1, 1, in: size)] == 0)
        #expect(labels.voxels[index(8, 1, 1, in: size)] == 0)
        #expect(labels.voxels[index(0, 1, 1, in: size)] == 1)
    }

    @Test func fillsEnclosedHolesWithTheSurroundingLabel() {
        // A 5x5 ring of kidney around one background pixel, and a gap open to the border.
        let size = GridSize(x: 7, y: 7, z: 1)
        var voxels = [UInt8](repeating: 0, count: size.voxelCount)
        for y in 1...5 { for x in 1...5 where x == 1 || x == 5 || y == 1 || y == 5 { voxels[index(x, y, 0, in: size)] = 1 } }
        voxels[index(3, 3, 0, in: size)] = 0
        for y in 2...4 { for x in 2...4 where !(x == 3 && y == 3) { voxels[index(x, y, 0, in: size)] = 2 } }
        var filled = stack(size, voxels)
        LabelCleanup(minimumComponentMillilitres: 0, minimumSliceAreaSquareMillimetres: 0, fillHolesPerSlice: true).apply(to: &filled, body: body(size))
        #expect(filled.voxels[index(3, 3, 0, in: size)] == 2)  // enclosed by tumour
        #expect(filled.voxels[index(0, 0, 0, in: size)] == 0)  // outside stays background
        var unfilled = stack(size, voxels)
        LabelCleanup(minimumComponentMillilitres: 0, minimumSliceAreaSquareMillimetres: 0).apply(to: &unfilled, body: body(size))
        #expect(unfilled.voxels[index(3, 3, 0, in: size)] == 0)
    }

    /// Two kidney regions on the patient's right (low x) and one on the left: the right keeps
    /// the one with more kidney, even beside a larger region that is mostly tumour.
    @Test func keepsOneKidneyOnEachSide() {
        let size = GridSize(x: 20, y: 8, z: 4)
        var voxels = [UInt8](repeating: 0, count: size.voxelCount)
        for z in 0..<4 { for y in 1...3 { for x in 1...3 { voxels[index(x, y, z, in: size)] = 1 } } }       // 36 kidney
        for z in 0..<4 { for y in 5...6 { for x in 1...7 { voxels[index(x, y, z, in: size)] = 2 } } }       // 56 tumour...
        for z in 0..<1 { voxels[index(7, 4, z, in: size)] = 0; voxels[index(2, 6, z, in: size)] = 1 }      // ...with 1 kidney
        for z in 0..<4 { for y in 2...4 { for x in 14...16 { voxels[index(x, y, z, in: size)] = 1 } } }     // the left kidney
        var labels = stack(size, voxels)
        LabelCleanup(minimumComponentMillilitres: 0, tumourMustTouchKidney: false).apply(to: &labels, body: body(size))
        #expect(labels.voxels[index(2, 2, 0, in: size)] == 1)
        #expect(labels.voxels[index(5, 5, 0, in: size)] == 0 && labels.voxels[index(2, 6, 0, in: size)] == 0)
        #expect(labels.voxels[index(15, 3, 2, in: size)] == 1)
        #expect(labels.voxels.filter { $0 != 0 }.count == 36 + 36)
    }

    /// A second region with at least a quarter of the side's largest kidney stays (the model may
    /// split a kidney, or find a kidney beside an error of its size); a smaller one goes.
    @Test func keepsASecondRegionOfKidneySizeOnASide() {
        let size = GridSize(x: 20, y: 12, z: 4)
        var voxels = [UInt8](repeating: 0, count: size.voxelCount)
        for z in 0..<4 { for y in 1...3 { for x in 1...3 { voxels[index(x, y, z, in: size)] = 1 } } }   // 36
        for z in 0..<2 { for y in 9...10 { for x in 1...3 { voxels[index(x, y, z, in: size)] = 1 } } }  // 12: 1/3 of it
        for y in 9...10 { for x in 6...7 { voxels[index(x, y, 3, in: size)] = 1 } }                      // 4: 1/9 of it
        var labels = stack(size, voxels)
        LabelCleanup(minimumComponentMillilitres: 0).apply(to: &labels, body: body(size))
        #expect(labels.voxels[index(2, 9, 0, in: size)] == 1 && labels.voxels[index(6, 9, 3, in: size)] == 0)
        #expect(labels.voxels.filter { $0 != 0 }.count == 36 + 12)
    }

    /// With a kidney on each side, a region of kidney size that shares no slice with either
    /// kidney goes (the liver above them); one that reaches a kidney's slices stays, and with one
    /// side empty, or the rule off, nothing is judged by height.
    @Test func dropsARegionAboveBothKidneys() {
        let size = GridSize(x: 20, y: 12, z: 16)
        var voxels = [UInt8](repeating: 0, count: size.voxelCount)
        box(&voxels, size, x: 1...3, y: 1...3, z: 4...7)      // the right kidney, 36
        box(&voxels, size, x: 14...16, y: 1...3, z: 3...6)    // the left kidney, 36
        box(&voxels, size, x: 1...3, y: 8...10, z: 11...13)   // right, above both: 27
        box(&voxels, size, x: 5...7, y: 8...10, z: 7...9)     // right, reaching the right kidney's slice 7: 27
        let labels = stack(size, voxels)
        var cleaned = labels
        LabelCleanup(minimumComponentMillilitres: 0).apply(to: &cleaned, body: body(size))
        #expect(cleaned.voxels[index(2, 9, 12, in: size)] == 0 && cleaned.voxels[index(6, 9, 8, in: size)] == 1)
        #expect(cleaned.voxels.filter { $0 != 0 }.count == 36 + 36 + 27)
        var off = labels
        LabelCleanup(minimumComponentMillilitres: 0, kidneysSideBySide: false).apply(to: &off, body: body(size))
        #expect(off.voxels.filter { $0 != 0 }.count == 36 + 36 + 27 + 27)
        var oneSided = labels
        for index in oneSided.voxels.indices where index % size.x > 10 { oneSided.voxels[index] = 0 }
        LabelCleanup(minimumComponentMillilitres: 0).apply(to: &oneSided, body: body(size))
        #expect(oneSided.voxels.filter { $0 != 0 }.count == 36 + 27 + 27)
    }

    /// A region below the kidneys on one side, larger than that side's kidney, loses to the
    /// kidney that shares slices with the other side's, and goes; without the rule, it is the
    /// right side's kidney and the true one stays beside it.
    @Test func choosesTheKidneyAtItsPartnersHeight() {
        let size = GridSize(x: 20, y: 12, z: 16)
        var voxels = [UInt8](repeating: 0, count: size.voxelCount)
        box(&voxels, size, x: 1...3, y: 1...3, z: 9...12)     // the right kidney, 36
        box(&voxels, size, x: 14...16, y: 1...3, z: 8...11)   // the left kidney, 36
        box(&voxels, size, x: 1...4, y: 7...10, z: 1...4)     // right, below both: 64
        let labels = stack(size, voxels)
        var cleaned = labels
        LabelCleanup(minimumComponentMillilitres: 0).apply(to: &cleaned, body: body(size))
        #expect(cleaned.voxels[index(2, 8, 2, in: size)] == 0 && cleaned.voxels[index(2, 2, 10, in: size)] == 1)
        #expect(cleaned.voxels.filter { $0 != 0 }.count == 36 + 36)
        var off = labels
        LabelCleanup(minimumComponentMillilitres: 0, kidneysSideBySide: false).apply(to: &off, body: body(size))
        #expect(off.voxels.filter { $0 != 0 }.count == 36 + 36 + 64)
    }

    /// A region lying mostly on air outside the body goes; one inside it stays.
    @Test func dropsRegionsOutsideTheBody() {
        let size = GridSize(x: 24, y: 6, z: 2)
        var voxels = [UInt8](repeating: 0, count: size.voxelCount)
        for z in 0..<2 { for y in 1...3 { for x in 19...22 { voxels[index(x, y, z, in: size)] = 1 } } }     // on air: x > 16
        for z in 0..<2 { for y in 1...3 { for x in 3...5 { voxels[index(x, y, z, in: size)] = 1 } } }       // inside
        var labels = stack(size, voxels)
        LabelCleanup(minimumComponentMillilitres: 0, oneKidneyPerSide: false).apply(to: &labels, body: body(size, columns: 1...16))
        #expect(labels.voxels[index(20, 2, 1, in: size)] == 0)
        #expect(labels.voxels[index(4, 2, 1, in: size)] == 1)
    }

    /// Volumes per side, with each region counted on the side of its centre: 1 mm³ voxels.
    @Test func reportsEachSidesVolumes() {
        let size = GridSize(x: 20, y: 4, z: 2)
        var voxels = [UInt8](repeating: 0, count: size.voxelCount)
        for z in 0..<2 { for x in 2...5 { voxels[index(x, 1, z, in: size)] = 1 } }    // right: 8 kidney
        voxels[index(6, 1, 0, in: size)] = 2                                           // right: 1 tumour
        for z in 0..<2 { for x in 13...15 { voxels[index(x, 2, z, in: size)] = 1 } }  // left: 6 kidney
        let sides = KidneySides(stack(size, voxels), body: body(size))
        #expect(sides.sides.map(\.side) == [.right, .left])
        let expected: [(kidney: Double, tumour: Double)] = [(0.008, 0.001), (0.006, 0)]
        for (volumes, expected) in zip(sides.sides, expected) {
            #expect(abs(volumes.kidneyMillilitres - expected.kidney) < 1e-12 && abs(volumes.tumourMillilitres - expected.tumour) < 1e-12)
        }
    }
}
