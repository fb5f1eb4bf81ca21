import Imaging
import Testing

@Suite struct PostprocessingTests {
    /// A stack with 1 mm³ voxels, so that 1 voxel is 0.001 mL.
    func stack(_ size: GridSize, _ voxels: [UInt8]) -> AxialStack<UInt8> {
        AxialStack(size: size, spacing: SIMD3(1, 1, 1), voxels: voxels)
    }

    func index(_ x: Int, _ y: Int, _ z: Int, in size: GridSize) -> Int { (z * size.y + y) * size.x + x }

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

    @Test func dropsIslandsSmallerThanTheMinimumVolume() {
        let size = GridSize(x: 10, y: 10, z: 1)
        var voxels = [UInt8](repeating: 0, count: size.voxelCount)
        for x in 0..<5 { for y in 0..<2 { voxels[index(x, y, 0, in: size)] = 1 } }  // 10 voxels = 0.010 mL
        voxels[index(8, 8, 0, in: size)] = 1  // 1 voxel = 0.001 mL
        var labels = stack(size, voxels)
        LabelCleanup(minimumComponentMillilitres: 0.005, tumourMustTouchKidney: false).apply(to: &labels)
        #expect(labels.voxels.filter { $0 == 1 }.count == 10)
        #expect(labels.voxels[index(8, 8, 0, in: size)] == 0)
    }

    @Test func keepsTumourOnlyWhereItTouchesKidney() {
        let size = GridSize(x: 10, y: 3, z: 3)
        var voxels = [UInt8](repeating: 0, count: size.voxelCount)
        voxels[index(0, 1, 1, in: size)] = 1
        voxels[index(1, 1, 1, in: size)] = 2  // touches the kidney
        voxels[index(2, 2, 2, in: size)] = 2  // touches that tumour only: same component
        voxels[index(7, 1, 1, in: size)] = 2  // far from any kidney
        voxels[index(8, 1, 1, in: size)] = 2
        var labels = stack(size, voxels)
        LabelCleanup(minimumComponentMillilitres: 0).apply(to: &labels)
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
        LabelCleanup(minimumComponentMillilitres: 0, fillHolesPerSlice: true).apply(to: &filled)
        #expect(filled.voxels[index(3, 3, 0, in: size)] == 2)  // enclosed by tumour
        #expect(filled.voxels[index(0, 0, 0, in: size)] == 0)  // outside stays background
        var unfilled = stack(size, voxels)
        LabelCleanup(minimumComponentMillilitres: 0).apply(to: &unfilled)
        #expect(unfilled.voxels[index(3, 3, 0, in: size)] == 0)
    }
}
