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

/// The clean-up after argmax, on a label map in canonical axial order.
public struct LabelCleanup: Equatable, Sendable, Codable {
    /// Kidney-and-tumour islands smaller than this are dropped.
    public var minimumComponentMillilitres: Double
    /// Tumour not touching kidney is dropped: a renal tumour grows from the kidney.
    public var tumourMustTouchKidney: Bool
    /// Holes enclosed by kidney or tumour within a slice are filled.
    public var fillHolesPerSlice: Bool

    public init(minimumComponentMillilitres: Double = 1, tumourMustTouchKidney: Bool = true, fillHolesPerSlice: Bool = false) {
        self.minimumComponentMillilitres = minimumComponentMillilitres
        self.tumourMustTouchKidney = tumourMustTouchKidney
        self.fillHolesPerSlice = fillHolesPerSlice
    }

    public func apply(to stack: inout AxialStack<UInt8>) {
        let voxelMillilitres = stack.spacing.x * stack.spacing.y * stack.spacing.z / 1000
        removeSmallIslands(&stack.voxels, size: stack.size, minimumVoxels: minimumComponentMillilitres / voxelMillilitres)
        if tumourMustTouchKidney { removeTumourApartFromKidney(&stack.voxels, size: stack.size) }
        if fillHolesPerSlice { fillHoles(&stack.voxels, size: stack.size) }
    }
}

private let kidney = SegmentationLabel.kidney.rawValue
private let tumour = SegmentationLabel.tumour.rawValue

private func removeSmallIslands(_ labels: inout [UInt8], size: GridSize, minimumVoxels: Double) {
    let components = labels.withUnsafeBufferPointer { voxels in ConnectedComponents(size: size) { voxels[$0] != 0 } }
    for index in labels.indices where components.labels[index] != 0 {
        if Double(components.sizes[Int(components.labels[index]) - 1]) < minimumVoxels { labels[index] = 0 }
    }
}

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
