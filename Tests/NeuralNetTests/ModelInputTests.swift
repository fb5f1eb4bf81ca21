import Imaging
import NeuralNet
import Testing

/// What a model sees of a slice: the manifest's preprocessing, shared by serving and training.
@Suite struct ModelInputTests {
    /// 8x8 slices at 1 mm whose value is 10 HU per millimetre up the body, `thickness` mm apart.
    func ramp(slices: Int, thickness: Double) -> AxialStack<Float> {
        let voxels = (0..<(64 * slices)).map { Float(Double($0 / 64) * thickness * 10) }
        return AxialStack(size: GridSize(x: 8, y: 8, z: slices), spacing: SIMD3(1, 1, thickness), voxels: voxels)
    }

    /// 2.5-D channels 4 mm apart read 40 HU below and above the slice, in a 1 mm scan and in a
    /// 2.5 mm one alike (here on the window [0, 1000] HU, so 40 HU is 0.04).
    @Test(arguments: [1.0, 2.5])
    func neighbouringChannelsAreTheSameMillimetresAwayAtAnyThickness(thickness: Double) {
        let preprocessing = ModelManifest.Preprocessing(huWindow: [0, 1000], inputSize: [32, 32], pixelSpacing: 1,
                                                        context: SliceContext(slices: 3, spacing: 4))
        let stack = ramp(slices: Int(40 / thickness), thickness: thickness)
        let frame = SliceFrame.centred(on: SIMD2(3.5, 3.5), sourceWidth: 8, sourceHeight: 8, sourceSpacing: SIMD2(1, 1), spacing: 1, width: 8, height: 8)
        let index = Int(20 / thickness)
        let channels = preprocessing.modelInput(stack, slice: index, frame: frame)
        #expect(channels.count == 3)
        let centre = Float(Double(index) * thickness * 10 / 1000)
        #expect(zip(channels.map { $0[4, 4] }, [centre - 0.04, centre, centre + 0.04]).allSatisfy { abs($0 - $1) < 1e-5 })
        // A stack of separate slices (not a scan) gives the slice itself on every channel.
        let separate = preprocessing.modelInput(stack, slice: index, frame: frame, neighbours: false)
        #expect(separate.allSatisfy { $0 == channels[1] })
    }

    @Test func aModelsChannelsMatchItsContext() throws {
        var manifest = ModelManifest(name: "m", architecture: UNetArchitecture(encoder: .resnet18, inChannels: 3),
                                     preprocessing: .init(context: SliceContext(slices: 3, spacing: 3)))
        try manifest.validate()
        manifest.preprocessing.context = nil
        #expect(throws: ModelError.self) { try manifest.validate() }
        manifest.preprocessing.context = SliceContext(slices: 4, spacing: 3)
        #expect(throws: ModelError.self) { try manifest.validate() }
    }
}
