/// The processes of a data-parallel run (one per device) and the few collective operations
/// training needs. Each process holds a full copy of the model; it computes gradients on its
/// shard of every batch, and `sum` adds them across processes, so every one takes the same
/// optimizer step. A plain run is one process: `SingleProcess`, where every sum is the identity.
public protocol Collective: AnyObject {
    /// This process's index, 0..<size; rank 0 prints, logs and saves.
    var rank: Int { get }
    var size: Int { get }
    /// values ← the element-wise sum of every process's values (same count everywhere). The
    /// reduction order is fixed for a given size, so a run repeats to the bit.
    func sum(_ values: inout [Float]) throws
    /// values ← the element-wise sum of every process's values, in double precision (a step's
    /// figures, whose sums must not round).
    func sum(_ values: inout [Double]) throws
    /// `values` (size × `block` floats, the same count everywhere) summed across processes;
    /// returns this process's block of the sum (block `rank`).
    func reduceScatter(_ values: [Float], block: Int) throws -> [Float]
    /// Every process's `block` (the same count everywhere), in rank order.
    func allGather(_ block: [Float]) throws -> [Float]
    /// Ends the run on every process after a failure on this one (an MPI job would otherwise
    /// wait for it forever). Does not return.
    func abort(_ message: String) -> Never
}

extension Collective {
    public var isLeader: Bool { rank == 0 }
    public var isDistributed: Bool { size > 1 }

    /// The sum of every process's value.
    public func sum(_ value: Double) throws -> Double {
        var v = [value]
        try sum(&v)
        return v[0]
    }

    /// The rows of a global batch of `batch` rows this process computes: a contiguous shard.
    public func shard(of batch: Int) -> Range<Int> {
        let per = batch / size
        return rank * per..<(rank + 1) * per
    }
}

/// One process: nothing to reduce.
public final class SingleProcess: Collective {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func sum(_ values: inout [Float]) throws {}
    public func sum(_ values: inout [Double]) throws {}
    public func reduceScatter(_ values: [Float], block: Int) throws -> [Float] { Array(values.prefix(block)) }
    public func allGather(_ block: [Float]) throws -> [Float] { block }
    public func abort(_ message: String) -> Never { fatalError(message) }
}
