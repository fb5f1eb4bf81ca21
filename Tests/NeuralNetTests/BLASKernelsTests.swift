import NeuralNet
import Testing

/// Which OpenBLAS kernels `kidneyseg` asks for in place of the library's own choice.
@Suite struct BLASKernelsTests {
    @Test func thePrescottFallbackGivesWayToTheWidestKernelsTheCPURuns() {
        #expect(BLASKernels.replacement(for: "Prescott", avx512: true, avx2: true) == "SkylakeX")
        #expect(BLASKernels.replacement(for: "Prescott", avx512: false, avx2: true) == "Haswell")
        #expect(BLASKernels.replacement(for: "Prescott", avx512: false, avx2: false) == nil)
    }

    @Test func kernelsOpenBLASChoseForACPUItKnowsStay() {
        for kernels in ["Haswell", "SkylakeX", "Zen", "CooperLake", "SapphireRapids", "Sandybridge"] {
            #expect(BLASKernels.replacement(for: kernels, avx512: true, avx2: true) == nil, "\(kernels)")
        }
    }

    @Test func theLoadedLibraryNamesItsKernels() {
        #expect(!BLASKernels.current.isEmpty)
    }
}
