/// Neighbouring slices as extra input channels (2.5-D): `slices` channels, the slice itself in
/// the middle, taken `spacing` mm apart along the body's axis whatever the scan's slice
/// thickness, so that a thin and a thick scan give a model the same context. Between two slices
/// the channel is interpolated linearly; beyond the first and the last slice it repeats them.
public struct SliceContext: Codable, Equatable, Hashable, Sendable {
    /// Channels, odd: 3 is the slice and one neighbour on each side.
    public var slices: Int
    /// Millimetres between neighbouring channels.
    public var spacing: Double

    public init(slices: Int, spacing: Double) {
        self.slices = slices
        self.spacing = spacing
    }

    enum CodingKeys: String, CodingKey {
        case slices
        case spacing = "spacing_mm"
    }

    /// Where slice `index`'s channels lie, in fractional slice numbers, from the inferior one up,
    /// in a stack of `count` slices `sliceSpacing` mm apart.
    public func positions(of index: Int, count: Int, sliceSpacing: Double) -> [Double] {
        let half = slices / 2
        return (-half...half).map { min(max(Double(index) + Double($0) * spacing / sliceSpacing, 0), Double(count - 1)) }
    }
}

extension AxialStack where Voxel == Float {
    /// The axial plane at fractional slice number `position`: linear between the two nearest
    /// slices.
    public func interpolatedSlice(at position: Double) -> Plane<Float> {
        let lower = min(max(Int(position.rounded(.down)), 0), sliceCount - 1)
        let upper = min(lower + 1, sliceCount - 1)
        let weight = Float(position - Double(lower))
        guard weight > 0, upper != lower else { return slice(lower) }
        let (below, above) = (slice(lower).values, slice(upper).values)
        return Plane(width: size.x, height: size.y, values: zip(below, above).map { $0 + weight * ($1 - $0) })
    }
}
