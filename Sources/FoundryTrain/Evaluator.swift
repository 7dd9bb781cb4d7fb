import Foundation
import FoundryCore
import FoundryModel

/// Held-out evaluation of a policy: ground-truth accuracy (greedy and sampled), mean
/// reward-model score, and KL to a reference model along the policy's own samples.
public struct EvalResult {
    public var greedyAccuracy: Double
    public var sampledAccuracy: Double
    public var meanReward: Double?
    public var kl: Double?
    /// The greedy responses, for reports.
    public var greedyResponses: [[Int32]]
}

/// How held-out prompts are answered: greedily, and sampled at `temperature`.
public struct EvalOptions {
    public var maxNewTokens = 8
    public var temperature: Float = 0.7
    /// The draws of the sampled answers (fixed, so every checkpoint answers the same way).
    public var seed: UInt64 = 99
    public init() {}
}

public enum Evaluator {
    /// `correct(promptIndex, responseTokens)` is the task's checker.
    public static func evaluate(policy: GPT2, prompts: [[Int32]], eos: Int32, options: EvalOptions = EvalOptions(),
                                correct: (Int, [Int32]) -> Bool, reward: RewardModel? = nil, reference: GPT2? = nil) throws -> EvalResult {
        var rng = RNG(seed: options.seed)
        let greedy = RolloutSampler(eos: eos, temperature: 0, maxNewTokens: options.maxNewTokens)
        let sampled = RolloutSampler(eos: eos, temperature: options.temperature, maxNewTokens: options.maxNewTokens)
        let idx = Array(prompts.indices)
        let g = try greedy.sample(policy, prompts: prompts, indices: idx, rng: &rng)
        let s = try sampled.sample(policy, prompts: prompts, indices: idx, rng: &rng)
        let gAcc = Double(g.filter { correct($0.promptIndex, $0.answer) }.count) / Double(max(1, g.count))
        let sAcc = Double(s.filter { correct($0.promptIndex, $0.answer) }.count) / Double(max(1, s.count))
        var meanReward: Double? = nil
        if let reward {
            var total = 0.0
            for chunk in stride(from: 0, to: s.count, by: 16) {
                let part = s[chunk..<min(chunk + 16, s.count)]
                let b = SequenceBatch(sequences: part.map(\.scored), pad: eos, maxSeq: reward.backbone.config.maxSeq, keepEnd: true)
                total += try reward.rewards(b).reduce(0, +)
            }
            meanReward = total / Double(max(1, s.count))
        }
        var kl: Double? = nil
        if let reference {
            var total = 0.0
            for chunk in stride(from: 0, to: s.count, by: 16) {
                let part = s[chunk..<min(chunk + 16, s.count)]
                let b = SequenceBatch(sequences: part.map { $0.example.tokens }, lossMask: part.map { $0.example.lossMask },
                                      pad: eos, maxSeq: policy.config.maxSeq)
                total += try responseKL(policy: policy, reference: reference, b).reduce(0, +)
            }
            kl = total / Double(max(1, s.count))
        }
        return EvalResult(greedyAccuracy: gAcc, sampledAccuracy: sAcc, meanReward: meanReward, kl: kl,
                          greedyResponses: g.map(\.answer))
    }

    /// Per sequence of `b`: Σ over its trained positions of KL(π(·|prefix) ‖ π_ref(·|prefix)),
    /// exact over the vocabulary (so ≥ 0 whatever distribution the prefixes were sampled from,
    /// unlike log π(y) − log π_ref(y) on samples drawn at a temperature). The trained positions
    /// of a row are contiguous (the response), so only those rows of logits are read.
    public static func responseKL(policy: GPT2, reference: GPT2, _ b: SequenceBatch) throws -> [Double] {
        let V = policy.config.vocabSize
        guard reference.config.vocabSize == V else {
            throw FoundryError("the reference model's vocabulary (\(reference.config.vocabSize)) differs from the policy's (\(V))")
        }
        try policy.forward(tokens: b.tokens, batch: b.batch, seq: b.seq)
        try reference.forward(tokens: b.tokens, batch: b.batch, seq: b.seq)
        return try (0..<b.batch).map { i in
            let rows = (i * b.seq..<(i + 1) * b.seq).filter { b.targets[$0] >= 0 }
            guard let first = rows.first, let last = rows.last else { return 0 }
            let n = last - first + 1
            let p = try policy.device.read(policy.logits.slice(first * V, n * V))
            let q = try reference.device.read(reference.logits.slice(first * V, n * V))
            return rows.reduce(0.0) { sum, r in
                let k = (r - first) * V
                return sum + Losses.klDivergence(logits: p[k..<k + V], referenceLogits: q[k..<k + V])
            }
        }
    }
}
