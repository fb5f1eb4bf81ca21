/// Connected regions of a 3-D mask, 26-connected: voxels touching by a face, an edge or a corner
/// belong to the same component.
public struct ConnectedComponents: Sendable {
    /// For every voxel, its component number from 1, or 0 outside the mask.
    public var labels: [Int32]
    /// Voxel count of component `n` at index `n - 1`.
    public var sizes: [Int]

    public init(size: GridSize, isMember: (Int) -> Bool) {
        var labels = [Int32](repeating: 0, count: size.voxelCount)
        var sizes: [Int] = []
        var stack: [Int] = []
        let plane = size.x * size.y
        for seed in 0..<size.voxelCount where labels[seed] == 0 && isMember(seed) {
            let component = Int32(sizes.count + 1)
            labels[seed] = component
            stack.append(seed)
            var count = 0
            while let voxel = stack.popLast() {
                count += 1
                let (x, y, z) = (voxel % size.x, (voxel / size.x) % size.y, voxel / plane)
                for nz in max(z - 1, 0)...min(z + 1, size.z - 1) {
                    for ny in max(y - 1, 0)...min(y + 1, size.y - 1) {
                        for nx in max(x - 1, 0)...min(x + 1, size.x - 1) {
                            let neighbour = nz * plane + ny * size.x + nx
                            if labels[neighbour] == 0 && isMember(neighbour) {
                                labels[neighbour] = component
                                stack.append(neighbour)
                            }
                        }
                    }
                }
            }
            sizes.append(count)
        }
        self.labels = labels
        self.sizes = sizes
    }
}

/// The clean-up after argmax, on a label map in canonical axial order, in 3-D. Each rule is a
/// fact of anatomy that a 2-D model cannot see:
/// - nothing lies outside the body: a kidney-and-tumour region mostly outside it goes;
/// - islands under `minimumComponentMillilitres` go (in a single slice, which has no thickness,
///   islands under `minimumSliceAreaSquareMillimetres`);
/// - bone is not kidney: given the CT, a region that `boneMarrow` finds to be marrow inside its
///   cortex goes (the hips and the sacrum of a non-contrast CT look like kidney to the models);
/// - a patient has one kidney on each side: of the kidney-and-tumour regions on a side, the one
///   with the most kidney stays, and so do those with at least `sideRegionShare` of its kidney
///   (a kidney the model split in two, or a true kidney beside an error of the same size, which
///   the rule cannot tell apart); smaller ones are not plausible as a kidney and go (a horseshoe
///   kidney is one region, and stays whole);
/// - the kidneys lie side by side: when both sides have regions, each side's kidney is chosen as
///   the pair, one region a side sharing at least one slice, with the most kidney between them
///   (a large error below the kidneys on one side, bowel or the iliac bones of a clipped CT,
///   loses to the true kidney at its partner's height), and with no such pair each side's
///   largest; then a further region that shares no slice with either kidney goes, however large
///   (the liver above the kidneys, or bowel in the pelvis, as on the example CT; a pelvic kidney
///   would go too);
/// - a renal tumour grows from the kidney: tumour regions that touch no kidney go, and in a
///   volume a region whose kidney is under `minimumKidneyForTumourMillilitres` and smaller than
///   its tumour loses the tumour (a large "tumour" on a sliver of "kidney" is another organ, as
///   the spleen on the example DICOM slab).
public struct LabelCleanup: Equatable, Sendable, Codable {
    public var minimumComponentMillilitres: Double
    public var minimumSliceAreaSquareMillimetres: Double
    public var insideBody: Bool
    public var oneKidneyPerSide: Bool
    public var sideRegionShare: Double
    public var kidneysSideBySide: Bool
    public var tumourMustTouchKidney: Bool
    public var minimumKidneyForTumourMillilitres: Double
    /// Holes enclosed by kidney or tumour within a slice are filled.
    public var fillHolesPerSlice: Bool
    /// Nil turns the bone rule off.
    public var boneMarrow: BoneMarrowRule?

    public init(minimumComponentMillilitres: Double = 1, minimumSliceAreaSquareMillimetres: Double = 100, insideBody: Bool = true,
                oneKidneyPerSide: Bool = true, sideRegionShare: Double = 0.25, kidneysSideBySide: Bool = true, tumourMustTouchKidney: Bool = true,
                minimumKidneyForTumourMillilitres: Double = 10, fillHolesPerSlice: Bool = false, boneMarrow: BoneMarrowRule? = BoneMarrowRule()) {
        self.minimumComponentMillilitres = minimumComponentMillilitres
        self.minimumSliceAreaSquareMillimetres = minimumSliceAreaSquareMillimetres
        self.insideBody = insideBody
        self.oneKidneyPerSide = oneKidneyPerSide
        self.sideRegionShare = sideRegionShare
        self.kidneysSideBySide = kidneysSideBySide
        self.tumourMustTouchKidney = tumourMustTouchKidney
        self.minimumKidneyForTumourMillilitres = minimumKidneyForTumourMillilitres
        self.fillHolesPerSlice = fillHolesPerSlice
        self.boneMarrow = boneMarrow
    }

    /// Cleans `stack`, whose CT gave `body`; the bone rule needs the CT itself, on the same grid.
    public func apply(to stack: inout AxialStack<UInt8>, body: BodyMask, ct: AxialStack<Float>? = nil) {
        precondition(ct.map { $0.size == stack.size } ?? true, "the CT is not on the label map's grid")
        let pixelArea = stack.spacing.x * stack.spacing.y
        let minimumVoxels = stack.sliceCount == 1 ? minimumSliceAreaSquareMillimetres / pixelArea
            : minimumComponentMillilitres / (pixelArea * stack.spacing.z / 1000)
        var regions = KidneyRegions(stack)
        for (index, region) in regions.summaries.enumerated() {
            let outside = insideBody && region.voxelsOutside(body, stack.size) * 2 > region.voxels
            let small = Double(region.voxels) < minimumVoxels
            let bone = !outside && !small && ct.map { ct in boneMarrow?.isBone(region.members, in: ct) ?? false } ?? false
            if outside || small || bone { regions.remove(index, from: &stack) }
        }
        if oneKidneyPerSide { keepOneKidneyPerSide(&regions, in: &stack, body: body) }
        if tumourMustTouchKidney && stack.sliceCount > 1 {
            let voxelMillilitres = pixelArea * stack.spacing.z / 1000
            for index in regions.kept {
                let region = regions.summaries[index]
                guard Double(region.kidneyVoxels) * voxelMillilitres < minimumKidneyForTumourMillilitres, region.kidneyVoxels < region.tumourVoxels else { continue }
                for voxel in region.members where stack.voxels[voxel] == tumour { stack.voxels[voxel] = 0 }
            }
        }
        if tumourMustTouchKidney { removeTumourApartFromKidney(&stack.voxels, size: stack.size) }
        if fillHolesPerSlice { fillHoles(&stack.voxels, size: stack.size) }
    }
}

extension LabelCleanup {
    private func keepOneKidneyPerSide(_ regions: inout KidneyRegions, in stack: inout AxialStack<UInt8>, body: BodyMask) {
        let summaries = regions.summaries
        let midline = KidneySides.midline(stack, body)
        let rank = { (index: Int) in (summaries[index].kidneyVoxels, summaries[index].voxels) }
        let sides = KidneySides.Side.allCases.map { side in regions.kept.filter { summaries[$0].side(midline) == side } }
        var best = sides.map { $0.max { rank($0) < rank($1) } }
        let inVolume = kidneysSideBySide && stack.sliceCount > 1
        if inVolume, let pair = Self.likeliestPair(right: sides[0], left: sides[1], summaries) { best = [pair.right, pair.left] }
        let kidneys = best.compactMap { $0 }
        let sideBySide = inVolume && kidneys.count == 2
        for (onSide, best) in zip(sides, best) {
            guard let best else { continue }
            let enough = Double(summaries[best].kidneyVoxels) * sideRegionShare
            for index in onSide where index != best {
                let apart = sideBySide && !kidneys.contains { summaries[index].sharesASlice(with: summaries[$0]) }
                if Double(summaries[index].kidneyVoxels) < enough || apart { regions.remove(index, from: &stack) }
            }
        }
    }

    /// Of one region on each side whose slices overlap, the two with the most kidney between
    /// them (then the most voxels); nil when no such pair exists.
    private static func likeliestPair(right: [Int], left: [Int], _ summaries: [KidneyRegions.Summary]) -> (right: Int, left: Int)? {
        var best: (right: Int, left: Int, rank: (Int, Int))?
        for r in right {
            for l in left where summaries[r].sharesASlice(with: summaries[l]) {
                let rank = (summaries[r].kidneyVoxels + summaries[l].kidneyVoxels, summaries[r].voxels + summaries[l].voxels)
                if best.map({ $0.rank < rank }) ?? true { best = (r, l, rank) }
            }
        }
        return best.map { ($0.right, $0.left) }
    }
}

/// Each side's kidney and tumour, as the report gives them. The patient's right is the low-x
/// half of a canonical stack; the midline is the middle of the body.
public struct KidneySides: Equatable, Sendable, Codable {
    public enum Side: String, CaseIterable, Sendable, Codable { case right, left }

    public struct Volumes: Equatable, Sendable, Codable {
        public var side: Side
        public var kidneyMillilitres: Double
        public var tumourMillilitres: Double

        enum CodingKeys: String, CodingKey {
            case side
            case kidneyMillilitres = "kidney_ml"
            case tumourMillilitres = "tumour_ml"
        }
    }

    public var sides: [Volumes]

    /// Each kidney-and-tumour region counts wholly on the side of its centre.
    public init(_ stack: AxialStack<UInt8>, body: BodyMask) {
        let voxelMillilitres = stack.spacing.x * stack.spacing.y * stack.spacing.z / 1000
        let regions = KidneyRegions(stack)
        let midline = Self.midline(stack, body)
        sides = Side.allCases.map { side in
            let onSide = regions.summaries.filter { $0.side(midline) == side }
            return Volumes(side: side, kidneyMillilitres: Double(onSide.map(\.kidneyVoxels).reduce(0, +)) * voxelMillilitres,
                           tumourMillilitres: Double(onSide.map(\.tumourVoxels).reduce(0, +)) * voxelMillilitres)
        }
    }

    /// The x (in voxels) between the patient's right and left.
    static func midline(_ stack: AxialStack<UInt8>, _ body: BodyMask) -> Double {
        guard let extent = body.extent else { return Double(stack.size.x - 1) / 2 }
        return (extent.lower.x + extent.upper.x) / 2 / stack.spacing.x
    }
}

/// The 26-connected kidney-and-tumour regions of a label map, with what the rules need of each.
struct KidneyRegions {
    struct Summary {
        var voxels = 0, kidneyVoxels = 0, tumourVoxels = 0
        var sumX = 0.0
        var members: [Int] = []
        /// The first and last slice the region reaches.
        var slices: ClosedRange<Int>?

        mutating func add(_ voxel: Int, _ size: GridSize) {
            let z = voxel / (size.x * size.y)
            slices = slices.map { min($0.lowerBound, z)...max($0.upperBound, z) } ?? z...z
            voxels += 1
            sumX += Double(voxel % size.x)
            members.append(voxel)
        }

        func sharesASlice(with other: Summary) -> Bool { slices.flatMap { mine in other.slices.map(mine.overlaps) } ?? false }

        func side(_ midline: Double) -> KidneySides.Side { sumX / Double(voxels) < midline ? .right : .left }

        func voxelsOutside(_ body: BodyMask, _ size: GridSize) -> Int {
            let plane = size.x * size.y
            return members.filter { !body.contains(x: $0 % size.x, y: ($0 % plane) / size.x, z: $0 / plane) }.count
        }
    }

    private(set) var summaries: [Summary]
    /// The regions not removed yet.
    private(set) var kept: [Int]

    init(_ stack: AxialStack<UInt8>) {
        let components = stack.voxels.withUnsafeBufferPointer { voxels in ConnectedComponents(size: stack.size) { voxels[$0] != 0 } }
        summaries = Array(repeating: Summary(), count: components.sizes.count)
        for (index, component) in components.labels.enumerated() where component != 0 {
            let region = Int(component) - 1
            summaries[region].add(index, stack.size)
            if stack.voxels[index] == kidney { summaries[region].kidneyVoxels += 1 } else { summaries[region].tumourVoxels += 1 }
        }
        kept = Array(summaries.indices)
    }

    mutating func remove(_ index: Int, from stack: inout AxialStack<UInt8>) {
        guard let position = kept.firstIndex(of: index) else { return }
        kept.remove(at: position)
        for voxel in summaries[index].members { stack.voxels[voxel] = 0 }
    }
}

private let kidney = SegmentationLabel.kidney.rawValue
private let tumour = SegmentationLabel.tumour.rawValue

private func removeTumourApartFromKidney(_ labels: inout [UInt8], size: GridSize) {
    let components = labels.withUnsafeBufferPointer { voxels in ConnectedComponents(size: size) { voxels[$0] == tumour } }
    var touchesKidney = [Bool](repeating: false, count: components.sizes.count)
    let plane = size.x * size.y
    for index in labels.indices where components.labels[index] != 0 {
        let component = Int(components.labels[index]) - 1
        if touchesKidney[component] { continue }
        let (x, y, z) = (index % size.x, (index / size.x) % size.y, index / plane)
        search: for nz in max(z - 1, 0)...min(z + 1, size.z - 1) {
            for ny in max(y - 1, 0)...min(y + 1, size.y - 1) {
                for nx in max(x - 1, 0)...min(x + 1, size.x - 1) where labels[nz * plane + ny * size.x + nx] == kidney {
                    touchesKidney[component] = true
                    break search
                }
            }
        }
    }
    for index in labels.indices where components.labels[index] != 0 && !touchesKidney[Int(components.labels[index]) - 1] {
        labels[index] = 0
    }
}

/// In each slice, background regions (4-connected) that do not reach the slice's border are
/// holes. Each takes the label that most of its enclosing pixels have.
private func fillHoles(_ labels: inout [UInt8], size: GridSize) {
    let plane = size.x * size.y
    for z in 0..<size.z {
        let offset = z * plane
        let sliceSize = GridSize(x: size.x, y: size.y, z: 1)
        var visited = [Bool](repeating: false, count: plane)
        for seed in 0..<plane where !visited[seed] && labels[offset + seed] == 0 {
            var region: [Int] = []
            var stack = [seed]
            visited[seed] = true
            var reachesBorder = false
            var enclosing = [Int](repeating: 0, count: 256)
            while let pixel = stack.popLast() {
                region.append(pixel)
                let (x, y) = (pixel % size.x, pixel / size.x)
                if x == 0 || y == 0 || x == size.x - 1 || y == size.y - 1 { reachesBorder = true }
                for (nx, ny) in [(x - 1, y), (x + 1, y), (x, y - 1), (x, y + 1)]
                where nx >= 0 && ny >= 0 && nx < sliceSize.x && ny < sliceSize.y {
                    let neighbour = ny * size.x + nx
                    let label = labels[offset + neighbour]
                    if label != 0 {
                        enclosing[Int(label)] += 1
                    } else if !visited[neighbour] {
                        visited[neighbour] = true
                        stack.append(neighbour)
                    }
                }
            }
            if reachesBorder { continue }
            let fill = UInt8(enclosing.indices.max { enclosing[$0] < enclosing[$1] }!)
            for pixel in region { labels[offset + pixel] = fill }
        }
    }
}
