import Foundation
import Imaging

/// What the job page draws from: the CT (int16 HU), the labels and any reference mask, each
/// in canonical axial order (x to the patient's left, y to posterior, z up) and gzipped, so that
/// the browser windows and blends them itself.
extension JobFiles {
    enum ViewerLayer: String, CaseIterable {
        case ct, labels, reference
    }

    /// The layers' grid: voxels along x, y and z, and millimetres between them.
    struct ViewerGrid: Codable {
        var size: [Int]
        var spacing: [Double]
    }

    func viewerLayer(_ id: String, _ layer: ViewerLayer) -> URL { folder(id).appendingPathComponent("viewer/\(layer.rawValue).bin.gz") }
    func viewerGrid(_ id: String) -> URL { folder(id).appendingPathComponent("viewer/grid.json") }

    func readViewerGrid(_ id: String) throws -> ViewerGrid {
        try JSONDecoder().decode(ViewerGrid.self, from: Data(contentsOf: viewerGrid(id)))
    }

    func writeViewerLayers(ct: AxialStack<Float>, labels: AxialStack<UInt8>, for id: String) throws {
        try FileManager.default.createDirectory(at: viewerLayer(id, .ct).deletingLastPathComponent(), withIntermediateDirectories: true)
        var bytes = [UInt8](repeating: 0, count: ct.voxels.count * 2)
        for (index, hu) in ct.voxels.enumerated() {
            let value = UInt16(bitPattern: Int16(max(-32768, min(32767, hu.rounded()))))
            bytes[2 * index] = UInt8(value & 0xFF)
            bytes[2 * index + 1] = UInt8(value >> 8)
        }
        try Gzip.write(bytes, to: viewerLayer(id, .ct))
        try Gzip.write(labels.voxels, to: viewerLayer(id, .labels))
        let grid = ViewerGrid(size: [ct.size.x, ct.size.y, ct.size.z], spacing: [ct.spacing.x, ct.spacing.y, ct.spacing.z])
        try JSONEncoder().encode(grid).write(to: viewerGrid(id), options: .atomic)
    }

    func writeReferenceLayer(_ reference: AxialStack<UInt8>, for id: String) throws {
        try FileManager.default.createDirectory(at: viewerLayer(id, .reference).deletingLastPathComponent(), withIntermediateDirectories: true)
        try Gzip.write(reference.voxels, to: viewerLayer(id, .reference))
    }
}
