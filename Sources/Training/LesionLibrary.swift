import Foundation
import Imaging

/// A kidney cross-section with its tumour, cut from a real KiTS19 label map: 0 outside, 1 kidney,
/// 2 tumour, at `spacing` millimetres per pixel. Synthetic tumours take their shape and size from
/// these, so they are as large, as lobulated and as often exophytic as real ones.
public struct LesionShape: Equatable, Sendable {
    public var mask: Plane<UInt8>
    public var spacing: Double
    /// Where it was cut, for provenance: "case_00061 slice 12".
    public var source: String

    public var tumourPixels: Int { mask.values.filter { $0 == 2 }.count }
}

public enum LesionLibrary {
    /// Up to `perCase` cross-sections from each label map, from axial slices spread evenly over
    /// the tumour's extent, resampled (nearest) to `spacing` mm per pixel. Each is the 2-D
    /// connected kidney-and-tumour region that holds most of its slice's tumour, cropped with a
    /// margin of 4 pixels; cross-sections with under 20 tumour pixels are skipped.
    public static func shapes(from labelMaps: [URL], perCase: Int, spacing: Double) throws -> [LesionShape] {
        try labelMaps.flatMap { url -> [LesionShape] in
            let stack = try VolumeReader().readLabels(from: url).axialStack()
            let name = url.deletingLastPathComponent().lastPathComponent
            let withTumour = (0..<stack.sliceCount).filter { stack.slice($0).values.contains(2) }
            guard !withTumour.isEmpty else { return [] }
            let count = min(perCase, withTumour.count)
            let chosen = (0..<count).map { withTumour[($0 * 2 + 1) * withTumour.count / (2 * count)] }
            return chosen.compactMap { index in
                cut(stack.slice(index), pixelSpacing: (stack.spacing.x, stack.spacing.y), to: spacing, source: "\(name) slice \(index)")
            }
        }
    }

    static func cut(_ plane: Plane<UInt8>, pixelSpacing: (Double, Double), to spacing: Double, source: String) -> LesionShape? {
        let components = ConnectedComponents(size: GridSize(x: plane.width, y: plane.height, z: 1)) { plane.values[$0] > 0 }
        var tumour = [Int](repeating: 0, count: components.sizes.count + 1)
        for (index, component) in components.labels.enumerated() where plane.values[index] == 2 { tumour[Int(component)] += 1 }
        guard let best = tumour.indices.dropFirst().max(by: { tumour[$0] < tumour[$1] }), tumour[best] > 0 else { return nil }
        let members = components.labels.indices.filter { components.labels[$0] == Int32(best) }
        let xs = members.map { $0 % plane.width }
        let ys = members.map { $0 / plane.width }
        let margin = 4
        let (left, top) = (xs.min()! - margin, ys.min()! - margin)
        let (width, height) = (xs.max()! + margin + 1 - left, ys.max()! + margin + 1 - top)
        let outWidth = max(1, Int((Double(width) * pixelSpacing.0 / spacing).rounded()))
        let outHeight = max(1, Int((Double(height) * pixelSpacing.1 / spacing).rounded()))
        let values = (0..<(outWidth * outHeight)).map { index -> UInt8 in
            let x = left + min(width - 1, Int((Double(index % outWidth) + 0.5) * Double(width) / Double(outWidth)))
            let y = top + min(height - 1, Int((Double(index / outWidth) + 0.5) * Double(height) / Double(outHeight)))
            guard x >= 0, y >= 0, x < plane.width, y < plane.height, components.labels[y * plane.width + x] == Int32(best) else { return 0 }
            return plane.values[y * plane.width + x]
        }
        let shape = LesionShape(mask: Plane(width: outWidth, height: outHeight, values: values), spacing: spacing, source: source)
        return shape.tumourPixels >= 20 ? shape : nil
    }
}
