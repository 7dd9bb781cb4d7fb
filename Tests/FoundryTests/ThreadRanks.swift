import Foundation
import FoundryCore

/// The ranks of a data-parallel run as threads of the test process, so that a stage's
/// data-parallel path runs in-process with any scorer (mpirun runs only the command line). A
/// collective waits for every rank, then each takes the sum in rank order, so a run repeats to
/// the bit. A rank that fails, or a wait past two minutes, fails every rank instead of hanging.
final class ThreadRanks: @unchecked Sendable {
    let size: Int
    private let condition = NSCondition()
    private var deposits: [[Double]]
    private var result: [Double] = []
    private var arrived = 0, generation = 0
    private var failure: String?

    private init(size: Int) { self.size = size; deposits = Array(repeating: [], count: size) }

    /// Runs `body` on `size` threads, one per rank, and returns each rank's result in rank order.
    static func run<T>(_ size: Int, _ body: @escaping @Sendable (Collective) throws -> T) throws -> [T] {
        let ranks = ThreadRanks(size: size)
        let results = Results<T>(size)
        let done = DispatchGroup()
        for rank in 0..<size {
            done.enter()
            let thread = Thread {
                do { results.set(rank, .success(try body(ThreadCollective(ranks, rank: rank)))) } catch {
                    results.set(rank, .failure(error))
                    ranks.fail("rank \(rank): \(error)")
                }
                done.leave()
            }
            thread.stackSize = 16 << 20
            thread.start()
        }
        done.wait()
        return try results.values.map { try $0!.get() }
    }

    func fail(_ message: String) {
        condition.lock(); failure = failure ?? message; condition.broadcast(); condition.unlock()
    }

    /// Every rank's `values` summed element-wise, in rank order.
    func allReduce(_ values: [Double], rank: Int) throws -> [Double] {
        condition.lock()
        defer { condition.unlock() }
        if let failure { throw FoundryError("another rank failed: \(failure)") }
        let mine = generation
        deposits[rank] = values
        arrived += 1
        if arrived == size {
            result = deposits.dropFirst().reduce(deposits[0]) { zip($0, $1).map { $0 + $1 } }
            arrived = 0
            generation += 1
            condition.broadcast()
        } else {
            while generation == mine {
                if let failure { throw FoundryError("another rank failed: \(failure)") }
                guard condition.wait(until: Date().addingTimeInterval(120)) else {
                    failure = "a collective waited two minutes"
                    condition.broadcast()
                    throw FoundryError("rank \(rank): a collective waited two minutes for the other ranks")
                }
            }
        }
        return result
    }

    private final class Results<T>: @unchecked Sendable {
        let lock = NSLock()
        var values: [Result<T, Error>?]
        init(_ n: Int) { values = Array(repeating: nil, count: n) }
        func set(_ i: Int, _ r: Result<T, Error>) { lock.lock(); values[i] = r; lock.unlock() }
    }
}

/// One thread's view of `ThreadRanks`.
final class ThreadCollective: Collective {
    let ranks: ThreadRanks
    let rank: Int
    var size: Int { ranks.size }

    init(_ ranks: ThreadRanks, rank: Int) { self.ranks = ranks; self.rank = rank }

    func sum(_ values: inout [Float]) throws {
        values = try ranks.allReduce(values.map(Double.init), rank: rank).map(Float.init)
    }
    func sum(_ values: inout [Double]) throws { values = try ranks.allReduce(values, rank: rank) }
    func reduceScatter(_ values: [Float], block: Int) throws -> [Float] {
        var all = values
        try sum(&all)
        return Array(all[rank * block..<(rank + 1) * block])
    }
    func allGather(_ block: [Float]) throws -> [Float] {
        var all = [Float](repeating: 0, count: block.count * size)
        all.replaceSubrange(rank * block.count..<(rank + 1) * block.count, with: block)
        try sum(&all)
        return all
    }
    func abort(_ message: String) -> Never { fatalError(message) }
}
