import Foundation
import Imaging

/// What the job page draws from: the CT (int16 HU), the labels and any reference mask, each
/// in canonical axial order (x to the patient's left, y to posterior, z up) and gzipped, so that
/// the browser windows and blends them itself.
extension JobFiles {
    enum ViewerLayer: String, CaseIterable {
        case ct, labels, reference
    }

    /// The layers' grid: voxels along x, y and z, millimetres between them, and where the
    /// first voxel lies in the patient (DICOM's LPS, mm) with the step along each axis, so that
    /// the page can name a slice by the scanner's coordinates.
    struct ViewerGrid: Codable {
        var size: [Int]
        var spacing: [Double]
        var originLPS: [Double]
        var stepsLPS: [[Double]]
    }

    /// The canonical grid of `geometry` placed in the patient.
    static func viewerGrid(of geometry: VolumeGeometry) -> ViewerGrid {
        let layout = CanonicalLayout(orientation: geometry.orientation, size: geometry.size)
        let affine = geometry.affine
        let lps = { (canonical: SIMD3<Int>) -> [Double] in
            let stored = layout.sourceIndex(ofCanonical: canonical)
            let index = SIMD4(Double(stored.x), Double(stored.y), Double(stored.z), 1)
            let ras = (0..<3).map { (affine.rows[$0] * index).sum() }
            return [-ras[0], -ras[1], ras[2]]
        }
        let size = layout.canonicalSize, spacing = layout.canonicalSpacing(geometry.spacing)
        let origin = lps(.zero)
        let steps = (0..<3).map { axis -> [Double] in
            var next = SIMD3<Int>.zero
            next[axis] = 1
            return zip(lps(next), origin).map { $0 - $1 }
        }
        return ViewerGrid(size: [size.x, size.y, size.z], spacing: [spacing.x, spacing.y, spacing.z], originLPS: origin, stepsLPS: steps)
    }

    func viewerLayer(_ id: String, _ layer: ViewerLayer) -> URL { folder(id).appendingPathComponent("viewer/\(layer.rawValue).bin.gz") }
    func viewerGrid(_ id: String) -> URL { folder(id).appendingPathComponent("viewer/grid.json") }

    func readViewerGrid(_ id: String) throws -> ViewerGrid {
        try JSONDecoder().decode(ViewerGrid.self, from: Data(contentsOf: viewerGrid(id)))
    }

    func writeViewerLayers(ct: AxialStack<Float>, labels: AxialStack<UInt8>, geometry: VolumeGeometry, for id: String) throws {
        try FileManager.default.createDirectory(at: viewerLayer(id, .ct).deletingLastPathComponent(), withIntermediateDirectories: true)
        var bytes = [UInt8](repeating: 0, count: ct.voxels.count * 2)
        for (index, hu) in ct.voxels.enumerated() {
            let value = UInt16(bitPattern: Int16(max(-32768, min(32767, hu.rounded()))))
            bytes[2 * index] = UInt8(value & 0xFF)
            bytes[2 * index + 1] = UInt8(value >> 8)
        }
        try Gzip.write(bytes, to: viewerLayer(id, .ct))
        try Gzip.write(labels.voxels, to: viewerLayer(id, .labels))
        try JSONEncoder().encode(Self.viewerGrid(of: geometry)).write(to: viewerGrid(id), options: .atomic)
    }

    func writeReferenceLayer(_ reference: AxialStack<UInt8>, for id: String) throws {
        try FileManager.default.createDirectory(at: viewerLayer(id, .reference).deletingLastPathComponent(), withIntermediateDirectories: true)
        try Gzip.write(reference.voxels, to: viewerLayer(id, .reference))
    }
}
