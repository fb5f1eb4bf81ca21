/// Bone that a model took for kidney. Through the soft-tissue window a model sees, the marrow of
/// the hips and the sacrum (150-260 HU on a non-contrast CT) looks like an enhancing kidney.
/// Full-range HU tells them apart: marrow holds trabeculae above `hounsfield` and lies inside a
/// cortex that is above it too, while a kidney lies in fat. A region counts as bone only when
/// both hold, because each alone has a kidney that passes it:
/// - contrast in the collecting system (excretory phase), or a bright cortex (arterial phase),
///   puts kidney voxels above 300 HU, but the kidney is still wrapped in fat;
/// - a large tumour can reach a rib or the spine, so its shell touches bone, but the tumour
///   itself is soft tissue.
/// In images clipped or saturated below `hounsfield` (KiTS19's [-125, 225] window, 8-bit PNGs
/// read as [0, 255]) nothing is above it, and the rule never fires.
public struct BoneMarrowRule: Equatable, Sendable, Codable {
    /// The attenuation above which a voxel counts as bone.
    public var hounsfield: Float
    /// Of the region's own voxels, the share above `hounsfield` from which it may be marrow.
    public var insideShare: Double
    /// The thickness of the shell around the region that stands for its cortex.
    public var shellMillimetres: Double
    /// Of the shell's voxels, the share above `hounsfield` from which it is a cortex.
    public var shellShare: Double

    public init(hounsfield: Float = 300, insideShare: Double = 0.10, shellMillimetres: Double = 3, shellShare: Double = 0.05) {
        self.hounsfield = hounsfield
        self.insideShare = insideShare
        self.shellMillimetres = shellMillimetres
        self.shellShare = shellShare
    }

    /// Whether the region of `members` (voxel indices of `ct`'s grid) is bone.
    public func isBone(_ members: [Int], in ct: AxialStack<Float>) -> Bool {
        guard !members.isEmpty else { return false }
        let inside = members.filter { ct.voxels[$0] > hounsfield }.count
        guard Double(inside) >= insideShare * Double(members.count) else { return false }
        let shell = Shell(of: members, size: ct.size, radius: radius(ct.spacing))
        guard !shell.voxels.isEmpty else { return false }
        let bright = shell.voxels.filter { ct.voxels[$0] > hounsfield }.count
        return Double(bright) >= shellShare * Double(shell.voxels.count)
    }

    /// Voxels along x, y and z that `shellMillimetres` spans: at least one.
    func radius(_ spacing: SIMD3<Double>) -> SIMD3<Int> {
        SIMD3(max(1, Int((shellMillimetres / spacing.x).rounded())), max(1, Int((shellMillimetres / spacing.y).rounded())),
              max(1, Int((shellMillimetres / spacing.z).rounded())))
    }
}

/// The voxels within `radius` (a box, per axis) of a region and not in it.
struct Shell {
    let voxels: [Int]

    init(of members: [Int], size: GridSize, radius: SIMD3<Int>) {
        let plane = size.x * size.y
        var lower = SIMD3(Int.max, Int.max, Int.max), upper = SIMD3(Int.min, Int.min, Int.min)
        for voxel in members {
            let point = SIMD3(voxel % size.x, (voxel / size.x) % size.y, voxel / plane)
            lower = pointwiseMin(lower, point)
            upper = pointwiseMax(upper, point)
        }
        lower = pointwiseMax(lower &- radius, SIMD3(0, 0, 0))
        upper = pointwiseMin(upper &+ radius, SIMD3(size.x - 1, size.y - 1, size.z - 1))
        let box = upper &- lower &+ 1
        func local(_ voxel: Int) -> Int {
            ((voxel / plane - lower.z) * box.y + (voxel / size.x) % size.y - lower.y) * box.x + voxel % size.x - lower.x
        }
        var inRegion = [Bool](repeating: false, count: box.x * box.y * box.z)
        for voxel in members { inRegion[local(voxel)] = true }
        var grown = inRegion
        for axis in 0..<3 { grown = Self.dilate(grown, box: box, axis: axis, radius: radius[axis]) }
        var voxels: [Int] = []
        for z in 0..<box.z {
            for y in 0..<box.y {
                for x in 0..<box.x where grown[(z * box.y + y) * box.x + x] && !inRegion[(z * box.y + y) * box.x + x] {
                    voxels.append(((z + lower.z) * size.y + y + lower.y) * size.x + x + lower.x)
                }
            }
        }
        self.voxels = voxels
    }

    /// A voxel is set when one within `radius` of it along `axis` is: a pass each way along
    /// every line, carrying the distance to the nearest set voxel behind.
    private static func dilate(_ mask: [Bool], box: SIMD3<Int>, axis: Int, radius: Int) -> [Bool] {
        let step = [1, box.x, box.x * box.y][axis]
        let length = box[axis]
        var grown = mask
        for start in 0..<mask.count where (start / step) % length == 0 {
            for positions in [Array(0..<length), Array((0..<length).reversed())] {
                var distance = Int.max
                for position in positions {
                    let voxel = start + position * step
                    distance = mask[voxel] ? 0 : (distance == Int.max ? distance : distance + 1)
                    if distance <= radius { grown[voxel] = true }
                }
            }
        }
        return grown
    }
}
