import FoundryCore

/// The rows a stage holds out to measure what it trained: a seeded shuffle, then the last
/// `fraction` of it (at most all but one row). `foundry reward` and the pipeline's reward model
/// on page rankings split the same way, so the same seed holds out the same rows.
public enum HeldOut {
    public static func split<T>(_ rows: [T], fraction: Double, seed: UInt64) -> (train: [T], held: [T]) {
        var r = rows
        var rng = RNG(seed: seed &+ 77)
        for i in stride(from: r.count - 1, to: 0, by: -1) { r.swapAt(i, rng.below(i + 1)) }
        let held = max(0, min(r.count - 1, Int(Double(r.count) * fraction)))
        return (Array(r.dropLast(held)), Array(r.suffix(held)))
    }
}
