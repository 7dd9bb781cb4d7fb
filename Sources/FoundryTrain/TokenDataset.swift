import FoundryCore

/// A tokenised corpus split into training and validation parts (the first 90% and the last
/// 10%, as nanoGPT does), served as random [batch, seq] blocks with their targets.
public struct TokenDataset {
    public let train: [Int32]
    public let val: [Int32]

    public init(tokens: [Int32], valFraction: Double = 0.1, seq: Int) throws {
        let n = tokens.count
        let split = Int(Double(n) * (1 - valFraction))
        train = Array(tokens[..<split])
        val = Array(tokens[split...])
        guard train.count > seq + 1 else {
            throw FoundryError("the training text has \(train.count) tokens, fewer than one block of --context \(seq) + 1: use more text or a shorter --context")
        }
        guard val.count > seq + 1 else {
            throw FoundryError("the validation split has \(val.count) tokens, fewer than one block of --context \(seq) + 1: use more text or a shorter --context")
        }
    }

    /// Random causal LM blocks: inputs tokens[i..<i+seq], targets tokens[i+1...i+seq].
    public func causalBatch(_ rng: inout RNG, batch: Int, seq: Int, from split: [Int32]) -> (inputs: [Int32], targets: [Int32]) {
        var inputs: [Int32] = [], targets: [Int32] = []
        inputs.reserveCapacity(batch * seq); targets.reserveCapacity(batch * seq)
        for _ in 0..<batch {
            let start = rng.below(split.count - seq - 1)
            inputs += split[start..<start + seq]
            targets += split[start + 1...start + seq]
        }
        return (inputs, targets)
    }

    /// Random masked-LM blocks (BERT's recipe): 15% of positions are selected; of those 80%
    /// become [MASK], 10% a random token, 10% stay. Targets are the originals at selected
    /// positions and −1 elsewhere, so the loss counts selected positions only.
    public func maskedBatch(_ rng: inout RNG, batch: Int, seq: Int, from split: [Int32], maskToken: Int32,
                            vocab: Int) -> (inputs: [Int32], targets: [Int32]) {
        var inputs: [Int32] = [], targets: [Int32] = []
        for _ in 0..<batch {
            let start = rng.below(split.count - seq)
            let block = Array(split[start..<start + seq])
            var selected = false
            for (j, tok) in block.enumerated() {
                // Always select at least one position per block so every block has a loss.
                if rng.uniform() < 0.15 || (!selected && j == seq - 1) {
                    selected = true
                    targets.append(tok)
                    let r = rng.uniform()
                    inputs.append(r < 0.8 ? maskToken : r < 0.9 ? Int32(rng.below(vocab)) : tok)
                } else {
                    targets.append(-1)
                    inputs.append(tok)
                }
            }
        }
        return (inputs, targets)
    }
}
