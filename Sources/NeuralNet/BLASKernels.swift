internal import CCompute
import COpenBLAS
import Foundation

/// Which of its kernels OpenBLAS runs. Debian's OpenBLAS picks them once, as it loads, from the
/// CPU's family and model numbers, and a CPU newer than the library gets its fallback, Prescott:
/// SSE3 kernels. Debian 12's 0.3.21 does not know Intel's Emerald Rapids Xeons (family 6, model
/// 207), which run AVX-512; there the shipped ensemble took a 512x512x100 volume in 7.8-8.0 s
/// with the fallback and in 5.5-6.2 s with the SkylakeX kernels, the same labels voxel for voxel.
///
/// The variable `OPENBLAS_CORETYPE` overrides the choice, but OpenBLAS reads it only as it loads,
/// before any of this program runs; so `kidneyseg` starts itself again with it set (see
/// `restartingWithTheCPUsKernels`).
public enum BLASKernels {
    /// OpenBLAS's name for the kernels in use, such as "Haswell", "SkylakeX", "Zen" or "Prescott".
    public static var current: String { String(cString: openblas_get_corename()) }

    /// The variable that chooses the kernels as OpenBLAS loads.
    public static let variable = "OPENBLAS_CORETYPE"

    /// The kernels to ask for instead of `current`, or nil to keep it: only the Prescott fallback
    /// is replaced, by the widest kernels the CPU runs; a CPU that OpenBLAS recognises keeps the
    /// kernels OpenBLAS chose for it.
    public static func replacement(for current: String, avx512: Bool, avx2: Bool) -> String? {
        guard current.lowercased() == "prescott" else { return nil }
        if avx512 { return "SkylakeX" }
        if avx2 { return "Haswell" }
        return nil
    }

    /// `replacement` for this process's kernels and this CPU.
    public static var replacementHere: String? {
        replacement(for: current, avx512: kseg_cpu_runs_avx512() != 0, avx2: kseg_cpu_runs_avx2() != 0)
    }

    /// What a benchmark's figures ran on: the vector instruction sets this CPU runs, widest
    /// first, and the kernels in use.
    public static var report: String {
        let sets = (kseg_cpu_runs_avx512() != 0 ? ["AVX-512"] : []) + (kseg_cpu_runs_avx2() != 0 ? ["AVX2+FMA"] : [])
        return "CPU: \(sets.isEmpty ? "neither AVX2 nor AVX-512" : sets.joined(separator: ", ")), OpenBLAS kernels: \(current)"
    }

    /// Call first thing in `main`, with the program's arguments. When OpenBLAS fell back to
    /// Prescott on a CPU that runs AVX2 or AVX-512, and `OPENBLAS_CORETYPE` is not set, this sets
    /// it and replaces the process with a fresh run of the same program and arguments, which
    /// loads OpenBLAS with the right kernels. Otherwise, or if the program cannot be run again,
    /// it returns and the process goes on as it is. The variable is then set, so this happens at
    /// most once.
    public static func restartingWithTheCPUsKernels(arguments: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) {
        guard ProcessInfo.processInfo.environment[variable] == nil, let kernels = replacementHere else { return }
        setenv(variable, kernels, 1)
        execv("/proc/self/exe", arguments)
    }
}
