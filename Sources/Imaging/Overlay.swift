/// Draws a CT slice in grey with the segmentation on top: each class as a translucent fill with
/// an opaque outline, so the tissue under the mask stays readable.
public struct OverlayStyle: Equatable, Sendable {
    public var window: HounsfieldWindow
    /// Opacity of the fill, from 0 to 1.
    public var fillOpacity: Float
    public var colours: [SegmentationLabel: SIMD3<UInt8>]

    public init(window: HounsfieldWindow = .kits19, fillOpacity: Float = 0.35,
                colours: [SegmentationLabel: SIMD3<UInt8>] = [.kidney: SIMD3(230, 50, 50), .tumour: SIMD3(40, 150, 255)]) {
        self.window = window
        self.fillOpacity = fillOpacity
        self.colours = colours
    }

    public func render(ct: Plane<Float>, labels: Plane<UInt8>) -> Plane<SIMD3<UInt8>> {
        precondition(ct.width == labels.width && ct.height == labels.height, "the CT slice and its labels differ in size")
        var pixels = [SIMD3<UInt8>](repeating: .zero, count: ct.values.count)
        for y in 0..<ct.height {
            for x in 0..<ct.width {
                let grey = Float((window.scaled(ct[x, y]) * 255).rounded())
                let label = labels[x, y]
                guard let segment = SegmentationLabel(rawValue: label), let colour = colours[segment] else {
                    pixels[y * ct.width + x] = SIMD3(repeating: UInt8(grey))
                    continue
                }
                let onEdge = [(x - 1, y), (x + 1, y), (x, y - 1), (x, y + 1)].contains { nx, ny in
                    nx < 0 || ny < 0 || nx >= ct.width || ny >= ct.height || labels[nx, ny] != label
                }
                let opacity = onEdge ? 1 : fillOpacity
                let blended = SIMD3<Float>(repeating: grey) * (1 - opacity) + SIMD3<Float>(colour) * opacity
                pixels[y * ct.width + x] = SIMD3<UInt8>(blended.rounded(.toNearestOrEven))
            }
        }
        return Plane(width: ct.width, height: ct.height, values: pixels)
    }
}
