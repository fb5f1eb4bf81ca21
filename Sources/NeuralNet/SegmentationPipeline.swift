import Foundation
import Imaging

/// PRODUCT.md §3 from a CT volume to a label map: axial slices in canonical order, each member's
/// HU window, resampling onto its input grid (see `SliceFrame`) and denoising, batched inference, softmax
/// probabilities resampled back to the slice grid and averaged, argmax, then clean-up.
public struct SegmentationPipeline: Sendable {
    public var ensemble: Ensemble
    public var cleanup: LabelCleanup
    /// Slices per forward pass.
    public var batchSize: Int

    public init(ensemble: Ensemble, cleanup: LabelCleanup = LabelCleanup(), batchSize: Int = 8) {
        self.ensemble = ensemble
        self.cleanup = cleanup
        self.batchSize = max(1, batchSize)
    }

    public struct Result: Sendable {
        /// Labels in the input's own voxel order and geometry.
        public var labels: LabelMap
        /// Per-class probabilities in canonical axial order, one stack per class.
        public var probabilities: [AxialStack<Float>]
        /// The right and the left kidney's volumes.
        public var sides: KidneySides
    }

    /// Segments `volume`. `progress(done, total)` is called after each batch of slices; when
    /// `isCancelled` turns true the work stops and `PipelineError.cancelled` is thrown.
    public func segment(_ volume: CTVolume, progress: (Int, Int) -> Void = { _, _ in },
                        isCancelled: () -> Bool = { false }) throws -> Result {
        let stack = volume.axialStack()
        let body = BodyMask(stack)
        let (width, height, slices) = (stack.size.x, stack.size.y, stack.size.z)
        let classes = ensemble.labels.count
        let totalWeight = Float(ensemble.weights.reduce(0, +))
        var probabilities = [[Float]](repeating: [Float](repeating: 0, count: stack.voxels.count), count: classes)
        let totalSteps = slices * ensemble.members.count
        var done = 0
        for (member, weight) in zip(ensemble.members, ensemble.weights) where weight > 0 {
            let share = Float(weight) / totalWeight
            let preprocessing = member.manifest.preprocessing
            let frame = preprocessing.frame(for: stack, body: body)
            for start in stride(from: 0, to: slices, by: batchSize) {
                if isCancelled() { throw PipelineError.cancelled }
                let batch = start..<min(start + batchSize, slices)
                var input: [Float] = []
                input.reserveCapacity(batch.count * frame.width * frame.height)
                for slice in batch { input += preprocessing.modelInput(stack.slice(slice), frame: frame).values }
                let output = member.network.probabilities(
                    Tensor(batch: batch.count, channels: 1, height: frame.height, width: frame.width, data: input))
                for (item, slice) in batch.enumerated() {
                    for label in 0..<classes {
                        let offset = (item * classes + label) * output.planeSize
                        let plane = Plane(width: frame.width, height: frame.height, values: Array(output.data[offset..<(offset + output.planeSize)]))
                        // Beyond the model's grid lies background only.
                        let restored = frame.restore(plane, fill: label == 0 ? 1 : 0).values
                        let base = slice * width * height
                        for pixel in 0..<restored.count { probabilities[label][base + pixel] += share * restored[pixel] }
                    }
                }
                done += batch.count
                progress(done, totalSteps)
            }
        }
        var labels = AxialStack(size: stack.size, spacing: stack.spacing, voxels: argmax(probabilities))
        cleanup.apply(to: &labels, body: body)
        let labelMap = volume.replacingVoxels(withAxial: labels, source: VolumeSource(format: volume.source.format, datatype: .uint8))
        return Result(labels: labelMap,
                      probabilities: probabilities.map { AxialStack(size: stack.size, spacing: stack.spacing, voxels: $0) },
                      sides: KidneySides(labels, body: body))
    }

    private func argmax(_ probabilities: [[Float]]) -> [UInt8] {
        (0..<probabilities[0].count).map { voxel in
            var best = 0
            for label in 1..<probabilities.count where probabilities[label][voxel] > probabilities[best][voxel] { best = label }
            return UInt8(best)
        }
    }
}

public enum PipelineError: Error, Equatable, Sendable, CustomStringConvertible {
    case cancelled

    public var description: String { "the segmentation was cancelled" }
}
