import Foundation

/// Scratch memory for the convolutions that one thread runs: each slot grows to the largest size
/// asked of it and is then reused, so a forward pass in steady state allocates no scratch.
final class Workspace {
    enum Slot: Int, CaseIterable {
        /// im2col columns, or Winograd-domain input tiles.
        case lowered
        /// GEMM products before they are scattered or transformed back.
        case products
    }

    private var buffers: [UnsafeMutablePointer<Float>?] = Array(repeating: nil, count: Slot.allCases.count)
    private var capacities = Array(repeating: 0, count: Slot.allCases.count)

    /// The calling thread's workspace, made on first use and freed with the thread.
    static var current: Workspace {
        let key = "kidneyseg.workspace"
        if let workspace = Thread.current.threadDictionary[key] as? Workspace { return workspace }
        let workspace = Workspace()
        Thread.current.threadDictionary[key] = workspace
        return workspace
    }

    /// At least `count` floats of uninitialised scratch, valid until the slot is asked for again.
    func buffer(_ slot: Slot, count: Int) -> UnsafeMutablePointer<Float> {
        if capacities[slot.rawValue] < count {
            buffers[slot.rawValue]?.deallocate()
            buffers[slot.rawValue] = .allocate(capacity: count)
            capacities[slot.rawValue] = count
        }
        return buffers[slot.rawValue]!
    }

    deinit { for buffer in buffers { buffer?.deallocate() } }
}
