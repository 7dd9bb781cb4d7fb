import FoundryModel

extension GPT2 {
    /// One block of a next-token training step: forward, cross-entropy on `targets` (−1:
    /// ignored) and backward, its gradients added to the arena (zero it at the step's start).
    /// The loss is scaled by 1 / `stepTargets`, the targets of the whole step — every
    /// micro-batch, every rank — so the blocks' gradients add up to the step's mean: the one
    /// causal training step under pretraining, SFT, the benchmark and `foundry overfit`.
    public func accumulateNextTokenGradients(tokens: [Int32], targets: [Int32], batch: Int, seq: Int, stepTargets: Int) throws {
        try forward(tokens: tokens, batch: batch, seq: seq)
        try computeLoss(targets: targets, gradScale: 1 / Float(max(1, stepTargets)))
        try backward()
    }
}
