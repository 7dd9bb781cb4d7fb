import FoundryCore

/// Variable-length token sequences packed into one [batch, seq] block for the model: padded
/// on the right with `pad`, with next-token targets that are −1 (ignored) wherever the loss must
/// not look — padding, and any position whose *target* token is outside `lossMask`.
public struct SequenceBatch {
    public let batch: Int
    public let seq: Int
    public let tokens: [Int32]
    public let targets: [Int32]
    /// Index of each row's last real token (where a scalar head reads).
    public let lastIndex: [Int]
    /// Real length of each row.
    public let lengths: [Int]

    /// `lossMask[i][t]` says whether token t of sequence i is trained on (predicted from t−1).
    /// Sequences longer than `maxSeq` keep their first `maxSeq` tokens, or their last ones with
    /// `keepEnd` (a reward model must see the end of a long conversation, where responses differ).
    public init(sequences: [[Int32]], lossMask: [[Bool]]? = nil, pad: Int32, maxSeq: Int, keepEnd: Bool = false) {
        precondition(!sequences.isEmpty)
        let cut = sequences.map { keepEnd ? Array($0.suffix(maxSeq)) : Array($0.prefix(maxSeq)) }
        let lossMask = lossMask.map { masks in
            zip(masks, sequences).map { m, s in keepEnd ? Array(m.suffix(maxSeq)) : Array(m.prefix(maxSeq)) } as [[Bool]]
        }
        let T = max(1, cut.map(\.count).max()!)
        var tokens = [Int32](repeating: pad, count: cut.count * T)
        var targets = [Int32](repeating: -1, count: cut.count * T)
        for (i, s) in cut.enumerated() {
            for (t, tok) in s.enumerated() { tokens[i * T + t] = tok }
            for t in 0..<max(0, s.count - 1) where lossMask?[i][t + 1] ?? true {
                targets[i * T + t] = s[t + 1]
            }
        }
        batch = cut.count; seq = T
        self.tokens = tokens; self.targets = targets
        lengths = cut.map(\.count)
        lastIndex = cut.map { max(0, $0.count - 1) }
    }

    public var validTargets: Int { targets.filter { $0 >= 0 }.count }

    /// Flat [batch·seq] index of each row's last real token (where a scalar head reads).
    public var lastRows: [Int] { (0..<batch).map { $0 * seq + lastIndex[$0] } }
}
