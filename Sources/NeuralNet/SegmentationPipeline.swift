import Foundation
import Imaging

/// PRODUCT.md §3 from a CT volume to a label map: axial slices in canonical order, each member's
/// HU window, resampling onto its input grid (see `SliceFrame`) and denoising, batched inference,
/// softmax probabilities averaged and resampled back to the slice grid, each voxel's label
/// (argmax, or the ensemble's foreground threshold), then the clean-up (`LabelCleanup`).
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
        let totalWeight = Float(ensemble.weights.reduce(0, +))
        var probabilities = [[Float]](repeating: [Float](repeating: 0, count: stack.voxels.count), count: ensemble.labels.count)
        let totalSteps = stack.sliceCount * ensemble.members.count
        var done = 0
        // Members that take the same input share it (see `add`).
        var groups: [[(member: SegmentationModel, share: Float)]] = []
        for (member, weight) in zip(ensemble.members, ensemble.weights) where weight > 0 {
            let entry = (member: member, share: Float(weight) / totalWeight)
            if let group = groups.firstIndex(where: { $0[0].member.manifest.preprocessing == member.manifest.preprocessing }) {
                groups[group].append(entry)
            } else {
                groups.append([entry])
            }
        }
        for group in groups {
            try add(group, of: stack, body: body, to: &probabilities, isCancelled: isCancelled) { slices in
                done += slices
                progress(done, totalSteps)
            }
        }
        let labels = cleanedLabels(probabilities, foregroundThreshold: ensemble.foregroundThreshold, ct: stack, body: body)
        return Result(labels: volume.replacingVoxels(withAxial: labels, source: VolumeSource(format: volume.source.format, datatype: .uint8)),
                      probabilities: probabilities.map { AxialStack(size: stack.size, spacing: stack.spacing, voxels: $0) },
                      sides: KidneySides(labels, body: body))
    }

    /// Each member's probabilities alone for one volume, with what turning them into labels
    /// needs: what choosing the ensemble's weights takes, so that the members run, and the body
    /// is found, once per volume whatever the number of choices.
    public struct MemberProbabilities: Sendable {
        let volume: CTVolume
        /// The CT in canonical axial order.
        let ct: AxialStack<Float>
        let body: BodyMask
        /// Per member, per class, in canonical axial order.
        let members: [[[Float]]]
    }

    public func memberProbabilities(_ volume: CTVolume) throws -> MemberProbabilities {
        let stack = volume.axialStack()
        let body = BodyMask(stack)
        let members = try ensemble.members.map { member in
            var probabilities = [[Float]](repeating: [Float](repeating: 0, count: stack.voxels.count), count: ensemble.labels.count)
            try add([(member, 1)], of: stack, body: body, to: &probabilities, isCancelled: { false }) { _ in }
            return probabilities
        }
        return MemberProbabilities(volume: volume, ct: stack, body: body, members: members)
    }

    /// The label map, in the volume's own geometry, that `weights` and `foregroundThreshold`
    /// (see `Ensemble`) give to the members.
    public func labels(_ computed: MemberProbabilities, weights: [Double], foregroundThreshold: Double?) -> LabelMap {
        let total = Float(weights.reduce(0, +))
        var probabilities = computed.members[0].map { $0.map { _ in Float(0) } }
        for (member, weight) in zip(computed.members, weights) where weight > 0 {
            for label in member.indices {
                for voxel in member[label].indices { probabilities[label][voxel] += Float(weight) / total * member[label][voxel] }
            }
        }
        let labels = cleanedLabels(probabilities, foregroundThreshold: foregroundThreshold, ct: computed.ct, body: computed.body)
        return computed.volume.replacingVoxels(withAxial: labels, source: VolumeSource(format: computed.volume.source.format, datatype: .uint8))
    }

    /// Adds each member's `share` of its probabilities, restored onto the slices' grid, to
    /// `probabilities`. The members take the same input: it is made once per batch, their
    /// probabilities are averaged on the model's grid, and the average is restored once (the
    /// restoring is linear, so this is the sum of their restored planes up to rounding).
    /// A batch's inputs and its restored planes are made on every compute thread, a slice or a
    /// plane each (they are independent); the sum stays in slice order, so the result does not
    /// depend on the thread count.
    private func add(_ group: [(member: SegmentationModel, share: Float)], of stack: AxialStack<Float>, body: BodyMask,
                     to probabilities: inout [[Float]], isCancelled: () -> Bool, progress: (Int) -> Void) throws {
        let classes = probabilities.count
        let preprocessing = group[0].member.manifest.preprocessing
        let share = group.map(\.share).reduce(0, +)
        let frame = preprocessing.frame(for: stack, body: body)
        let pixels = stack.pixelsPerSlice
        let inputSize = preprocessing.channels * frame.width * frame.height
        // Plane `item * classes + label` of a batch, back on the slice's grid; one buffer for
        // every batch, since fresh pages for each cost as much as the resampling.
        var restored = [Float](repeating: 0, count: batchSize * classes * pixels)
        for start in stride(from: 0, to: stack.sliceCount, by: batchSize) {
            if isCancelled() { throw PipelineError.cancelled }
            let batch = start..<min(start + batchSize, stack.sliceCount)
            var input = [Float](repeating: 0, count: batch.count * inputSize)
            input.withUnsafeMutableBufferPointer { input in
                ComputeThreads.parallelFor(batch.count) { items in
                    for item in items {
                        let channels = preprocessing.modelInput(stack, slice: batch.lowerBound + item, frame: frame).flatMap(\.values)
                        _ = UnsafeMutableBufferPointer(rebasing: input[(item * inputSize)...]).initialize(from: channels)
                    }
                }
            }
            let tensor = Tensor(batch: batch.count, channels: preprocessing.channels, height: frame.height, width: frame.width, data: input)
            var output = group[0].member.network.probabilities(tensor)
            if group.count > 1 {
                output.data.withUnsafeMutableBufferPointer { mean in
                    for index in mean.indices { mean[index] *= group[0].share / share }
                    for (member, memberShare) in group.dropFirst() {
                        let more = member.network.probabilities(tensor)
                        for index in mean.indices { mean[index] += memberShare / share * more.data[index] }
                    }
                }
            }
            restored.withUnsafeMutableBufferPointer { restored in
                ComputeThreads.parallelFor(batch.count * classes) { planes in
                    for index in planes {
                        let offset = index * output.planeSize
                        let plane = Plane(width: frame.width, height: frame.height, values: Array(output.data[offset..<(offset + output.planeSize)]))
                        // Beyond the model's grid lies background only.
                        let values = frame.restore(plane, fill: index % classes == 0 ? 1 : 0).values
                        _ = UnsafeMutableBufferPointer(rebasing: restored[(index * pixels)...]).update(from: values)
                    }
                }
            }
            for label in 0..<classes {
                probabilities[label].withUnsafeMutableBufferPointer { target in
                    for (item, slice) in batch.enumerated() {
                        let (source, base) = ((item * classes + label) * pixels, slice * pixels)
                        for pixel in 0..<pixels { target[base + pixel] += share * restored[source + pixel] }
                    }
                }
            }
            progress(batch.count * group.count)
        }
    }

    /// Each voxel's label, then the clean-up.
    private func cleanedLabels(_ probabilities: [[Float]], foregroundThreshold: Double?, ct: AxialStack<Float>, body: BodyMask) -> AxialStack<UInt8> {
        var labels = AxialStack(size: ct.size, spacing: ct.spacing, voxels: Self.labels(probabilities, foregroundThreshold: foregroundThreshold))
        cleanup.apply(to: &labels, body: body, ct: ct)
        return labels
    }

    /// The likeliest class of each voxel; with a threshold, a voxel whose likeliest class is
    /// background is foreground when its background probability is under 1 - threshold, and
    /// then the likelier of the foreground classes (kidney or tumour).
    public static func labels(_ probabilities: [[Float]], foregroundThreshold: Double?) -> [UInt8] {
        let background = foregroundThreshold.map { Float(1 - $0) } ?? 0
        return (0..<probabilities[0].count).map { voxel in
            var foreground = 1
            for label in 2..<probabilities.count where probabilities[label][voxel] > probabilities[foreground][voxel] { foreground = label }
            let isForeground = probabilities[0][voxel] < max(probabilities[foreground][voxel], background)
            return isForeground ? UInt8(foreground) : 0
        }
    }
}

public enum PipelineError: Error, Equatable, Sendable, CustomStringConvertible {
    case cancelled

    public var description: String { "the segmentation was cancelled" }
}
