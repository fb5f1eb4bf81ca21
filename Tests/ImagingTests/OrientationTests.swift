import Foundation
import Imaging
import TestSupport
import Testing

@Suite struct OrientationTests {
    /// The three real files and the axis codes nibabel reports for them.
    static let files: [(URL, String)] = [
        (SharedData.kitsLabels(61), "IPL"),
        (SharedData.exampleKidneyReference, "RAS"),
        (SharedData.pancreasSlice, "LAI"),
    ]

    @Test(arguments: files)
    func derivesAxisCodesFromTheAffine(file: URL, codes: String) throws {
        let volume = try VolumeReader().readCT(from: file)
        #expect(volume.geometry.orientation.description == codes)
    }

    /// One step along each canonical axis must move through patient space to the left (−x in
    /// RAS), to posterior (−y) and to superior (+z), whatever the file's own voxel order.
    @Test(arguments: files)
    func canonicalAxesPointLeftPosteriorSuperior(file: URL, codes: String) throws {
        let geometry = try VolumeReader().readCT(from: file).geometry
        let layout = CanonicalLayout(orientation: geometry.orientation, size: geometry.size)
        let affine = geometry.affine
        func world(_ canonical: SIMD3<Int>) -> SIMD3<Double> {
            let index = layout.sourceIndex(ofCanonical: canonical)
            let stored = SIMD3(Double(index.x), Double(index.y), Double(index.z))
            return SIMD3((0..<3).map { row in
                let r = affine.rows[row]
                return r.x * stored.x + r.y * stored.y + r.z * stored.z + r.w
            })
        }
        let origin = world(SIMD3(0, 0, 0))
        #expect(world(SIMD3(1, 0, 0)).x < origin.x)
        #expect(world(SIMD3(0, 1, 0)).y < origin.y)
        if layout.canonicalSize.z > 1 { #expect(world(SIMD3(0, 0, 1)).z > origin.z) }
    }

    @Test func kitsSlicesFirstBecomeAxialSlicesFromTheFeetUp() throws {
        // Stored (I, P, L) as (i, j, k): canonical column x is k, row y is j, and slice z counts
        // from the feet, so it is stored index i = 28 − z.
        let labels = try VolumeReader().readLabels(from: SharedData.kitsLabels(61))
        let stack = labels.axialStack()
        let size = labels.geometry.size
        #expect(stack.size == GridSize(x: 512, y: 512, z: 29))
        #expect(stack.spacing == SIMD3(labels.geometry.spacing.z, labels.geometry.spacing.y, labels.geometry.spacing.x))
        var expected = [UInt8](repeating: 0, count: size.voxelCount)
        for z in 0..<29 {
            for y in 0..<512 {
                for x in 0..<512 {
                    expected[(z * 512 + y) * 512 + x] = labels.voxels[(28 - z) + y * size.x + x * size.x * size.y]
                }
            }
        }
        #expect(stack.voxels == expected)
    }

    @Test func reorientationRoundTripsExactly() {
        let size = GridSize(x: 3, y: 4, z: 5)
        let voxels = (0..<size.voxelCount).map { Int32($0) }
        for axes in [[AxisDirection.inferior, .posterior, .left], [.right, .anterior, .superior], [.anterior, .superior, .right]] {
            let layout = CanonicalLayout(orientation: Orientation(axes), size: size)
            let canonical = layout.toCanonical(voxels)
            #expect(canonical != voxels)
            #expect(Set(canonical) == Set(voxels))
            #expect(layout.toSource(canonical) == voxels)
        }
    }

    @Test func obliqueAffinesTakeTheNearestAxes() {
        // Rotated 20° about z: still mostly R, A, S.
        let angle = 20 * Double.pi / 180
        let affine = Affine(rows: [SIMD4(cos(angle), -sin(angle), 0, 0), SIMD4(sin(angle), cos(angle), 0, 0), SIMD4(0, 0, 2, 0)])
        #expect(Orientation(affine: affine).description == "RAS")
        // Rotated 70°: the first axis now points mostly anterior, the second mostly left.
        let steep = 70 * Double.pi / 180
        let rotated = Affine(rows: [SIMD4(cos(steep), -sin(steep), 0, 0), SIMD4(sin(steep), cos(steep), 0, 0), SIMD4(0, 0, 2, 0)])
        #expect(Orientation(affine: rotated).description == "ALS")
    }
}
