import Imaging
import Testing

@Suite struct SliceContextTests {
    /// Neighbours 3 mm away are 3 slices away in a 1 mm scan and 0.6 of a slice in a 5 mm one;
    /// at the ends of the scan they repeat the end slice.
    @Test func takesNeighboursAtAFixedDistanceInMillimetres() {
        let context = SliceContext(slices: 3, spacing: 3)
        #expect(context.positions(of: 10, count: 40, sliceSpacing: 1) == [7, 10, 13])
        #expect(context.positions(of: 10, count: 40, sliceSpacing: 5) == [9.4, 10, 10.6])
        #expect(context.positions(of: 1, count: 40, sliceSpacing: 1) == [0, 1, 4])
        #expect(context.positions(of: 39, count: 40, sliceSpacing: 2.5) == [37.8, 39, 39])
        #expect(SliceContext(slices: 5, spacing: 2).positions(of: 4, count: 9, sliceSpacing: 2) == [2, 3, 4, 5, 6])
    }

    /// Between two slices the plane is interpolated linearly.
    @Test func interpolatesBetweenSlices() {
        let stack = AxialStack<Float>(size: GridSize(x: 2, y: 1, z: 3), spacing: SIMD3(1, 1, 5), voxels: [0, 10, 100, 110, 200, 210])
        #expect(stack.interpolatedSlice(at: 0.25).values == [25, 35])
        #expect(stack.interpolatedSlice(at: 2).values == [200, 210])
        #expect(stack.interpolatedSlice(at: 1.5).values == [150, 160])
    }
}
