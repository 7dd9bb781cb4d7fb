import FoundryCore
import FoundryModel

/// Log-probabilities of the tokens a batch's targets name, and the way back: any loss written
/// in terms of those log-probabilities (DPO, PPO, GRPO) becomes parameter gradients through
/// `crossEntropy`'s per-row scales, because d(−log p)/d logits = softmax − onehot.
extension GPT2 {
    /// log p(target | prefix) at every position ([batch·seq]; 0 where the target is ignored).
    /// `temperature` divides the logits first (see `forward`).
    public func targetLogProbs(_ b: SequenceBatch, temperature: Float = 1) throws -> [Double] {
        try forward(tokens: b.tokens, batch: b.batch, seq: b.seq, temperature: temperature)
        try loss(targets: b.targets)
        return try positionLosses().map { -Double($0) }
    }

    /// Sum of each row's target log-probabilities (the sequence log-likelihood of its trained part).
    public func sequenceLogProbs(_ b: SequenceBatch, temperature: Float = 1) throws -> [Double] {
        let lp = try targetLogProbs(b, temperature: temperature)
        return (0..<b.batch).map { i in lp[i * b.seq..<(i + 1) * b.seq].reduce(0, +) }
    }

    /// Accumulates the gradient of a loss whose derivative with respect to each position's
    /// target log-probability is `dLogp` ([batch·seq]). Runs its own forward.
    public func backward(_ b: SequenceBatch, dLogp: [Double], temperature: Float = 1) throws {
        try forward(tokens: b.tokens, batch: b.batch, seq: b.seq, temperature: temperature)
        // rowScale = d loss / d(−log p) = −dLogp.
        let scales = try device.upload(dLogp.map { Float(-$0) })
        try device.write(ints: b.targets, to: targetsTensor)
        device.crossEntropy(logits: logits, targets: targetsTensor, losses: lossesTensor, dlogits: logits,
                            rows: b.batch * b.seq, vocab: config.vocabSize, gradScale: 1, rowScales: scales)
        try backward()
    }
}
