import Foundation
import FoundryCore
import FoundryModel

/// Held-out evaluation of a policy: ground-truth accuracy (greedy and sampled), mean
/// reward-model score, and KL to a reference model on the policy's own samples.
public struct EvalResult {
    public var greedyAccuracy: Double
    public var sampledAccuracy: Double
    public var meanReward: Double?
    public var kl: Double?
    /// The greedy responses, for reports.
    public var greedyResponses: [[Int32]]
}

public enum Evaluator {
    /// `correct(promptIndex, responseTokens)` is the task's checker.
    public static func evaluate(policy: GPT2, prompts: [[Int32]], eos: Int32, maxNewTokens: Int,
                                correct: (Int, [Int32]) -> Bool, reward: RewardModel? = nil, reference: GPT2? = nil,
                                temperature: Float = 0.7, seed: UInt64 = 99) throws -> EvalResult {
        var rng = RNG(seed: seed)
        let greedy = RolloutSampler(eos: eos, temperature: 0, maxNewTokens: maxNewTokens)
        let sampled = RolloutSampler(eos: eos, temperature: temperature, maxNewTokens: maxNewTokens)
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
                let lp = try policy.sequenceLogProbs(b), ref = try reference.sequenceLogProbs(b)
                total += zip(lp, ref).reduce(0) { $0 + $1.0 - $1.1 }
            }
            kl = total / Double(max(1, s.count))
        }
        return EvalResult(greedyAccuracy: gAcc, sampledAccuracy: sAcc, meanReward: meanReward, kl: kl,
                          greedyResponses: g.map(\.answer))
    }
}
