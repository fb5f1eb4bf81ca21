import Imaging
import Testing

/// The bone rule on small constructed CTs with 1 mm voxels, so that its 3 mm shell is 3 voxels.
@Suite struct BoneMarrowTests {
    let size = GridSize(x: 24, y: 16, z: 12)

    func index(_ x: Int, _ y: Int, _ z: Int) -> Int { (z * size.y + y) * size.x + x }

    /// A CT whose voxel (x, y, z) is `hounsfield(x, y, z)`.
    func ct(_ hounsfield: (Int, Int, Int) -> Float) -> AxialStack<Float> {
        var voxels = [Float](repeating: 0, count: size.voxelCount)
        for z in 0..<size.z { for y in 0..<size.y { for x in 0..<size.x { voxels[index(x, y, z)] = hounsfield(x, y, z) } } }
        return AxialStack(size: size, spacing: SIMD3(1, 1, 1), voxels: voxels)
    }

    /// The 5x5x5 block centred on (`centre`, 8, 6).
    func block(_ centre: Int) -> [Int] {
        (4...8).flatMap { z in (6...10).flatMap { y in (centre - 2...centre + 2).map { x in index(x, y, z) } } }
    }

    func inBlock(_ centre: Int, _ x: Int, _ y: Int, _ z: Int, grow: Int = 0) -> Bool {
        abs(x - centre) <= 2 + grow && abs(y - 8) <= 2 + grow && abs(z - 6) <= 2 + grow
    }

    /// Marrow at 200 HU with trabeculae at 400 (a quarter of it) inside a 1 mm cortex at 700 HU,
    /// in muscle.
    func marrow(_ x: Int, _ y: Int, _ z: Int) -> Float {
        if inBlock(6, x, y, z) { return (x + y + z) % 4 == 0 ? 400 : 200 }
        return inBlock(6, x, y, z, grow: 1) ? 700 : 40
    }

    @Test func marrowInsideItsCortexIsBone() {
        #expect(BoneMarrowRule().isBone(block(6), in: ct(marrow)))
    }

    /// An excretory-phase kidney: contrast at 800 HU fills its centre (27 of 125 voxels), and it
    /// lies in fat.
    @Test func aKidneyWithContrastInsideIsNotBone() {
        let kidney = ct { x, y, z in
            if inBlock(6, x, y, z) { return abs(x - 6) <= 1 && abs(y - 8) <= 1 && abs(z - 6) <= 1 ? 800 : 150 }
            return -100
        }
        #expect(!BoneMarrowRule().isBone(block(6), in: kidney))
    }

    /// A tumour (40 HU) against a rib: a 700 HU plate beside one face puts bone in its shell.
    @Test func softTissueAgainstBoneIsNotBone() {
        let tumour = ct { x, y, z in
            if inBlock(6, x, y, z) { return 40 }
            return x == 9 && abs(y - 8) <= 5 && abs(z - 6) <= 5 ? 700 : -100
        }
        #expect(!BoneMarrowRule().isBone(block(6), in: tumour))
    }

    /// In an image clipped at 225 HU (KiTS19's window), nothing is bone.
    @Test func aClippedImageHasNoBone() {
        #expect(!BoneMarrowRule().isBone(block(6), in: ct { min(marrow($0, $1, $2), 225) }))
    }

    /// Through the clean-up: the marrow labelled kidney on the right goes, the kidney on the left
    /// stays; without the CT, or with the rule off, both stay. Air at the image's sides makes the
    /// rest the body.
    @Test func theCleanupDropsBoneItWasGivenTheCTOf() {
        var voxels = [UInt8](repeating: 0, count: size.voxelCount)
        for voxel in block(6) + block(17) { voxels[voxel] = 1 }
        let image = ct { x, y, z in x == 0 || x == size.x - 1 ? -1000 : inBlock(17, x, y, z) ? 150 : marrow(x, y, z) }
        let body = BodyMask(image)
        let cleanup = LabelCleanup(minimumComponentMillilitres: 0)
        var cleaned = AxialStack(size: size, spacing: SIMD3(1, 1, 1), voxels: voxels)
        cleanup.apply(to: &cleaned, body: body, ct: image)
        #expect(block(6).allSatisfy { cleaned.voxels[$0] == 0 })
        #expect(block(17).allSatisfy { cleaned.voxels[$0] == 1 })
        for (rule, ct) in [(cleanup, nil), (LabelCleanup(minimumComponentMillilitres: 0, boneMarrow: nil), image)] {
            var kept = AxialStack(size: size, spacing: SIMD3(1, 1, 1), voxels: voxels)
            rule.apply(to: &kept, body: body, ct: ct)
            #expect(kept.voxels == voxels)
        }
    }
}
