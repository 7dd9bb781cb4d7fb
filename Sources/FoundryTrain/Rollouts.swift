import Foundation
import FoundryCore
import FoundryData
import FoundryModel
import FoundrySample

/// One sampled response to a prompt.
public struct Rollout {
    public var prompt: [Int32]
    /// Response tokens, including the end-of-text token when the model produced one.
    public var response: [Int32]
    public var endedWithEOS: Bool
    /// Index of the prompt in the caller's list (several rollouts may share one).
    public var promptIndex: Int

    /// Prompt + response, with the loss mask on the response only.
    public var example: TokenizedExample {
        TokenizedExample(tokens: prompt + response, lossMask: prompt.map { _ in false } + response.map { _ in true })
    }
    /// The response without its closing end-of-text: the answer a checker reads.
    public var answer: [Int32] { endedWithEOS ? Array(response.dropLast()) : response }

    /// What a reward model scores: prompt + response without the closing end-of-text (the
    /// reward is read at the last real token).
    public var scored: [Int32] { prompt + answer }
}

/// Samples responses with the policy's KV cache, stopping at end-of-text or `maxNewTokens`.
public struct RolloutSampler {
    public var temperature: Float = 0.7
    public var topK = 0
    public var maxNewTokens = 8
    public var eos: Int32

    public init(eos: Int32, temperature: Float = 0.7, maxNewTokens: Int = 8) {
        self.eos = eos; self.temperature = temperature; self.maxNewTokens = maxNewTokens
    }

    /// One response per entry of `indices` (an index into `prompts`), in that order. Prompts
    /// of equal length are sampled together in batches; each response has its own seed from
    /// `rng`, drawn in order, so the result does not depend on the batching. `shard`: only the
    /// responses at those positions of `indices` (a data-parallel rank's share; the seeds of
    /// all are still drawn, so each rank samples what one process would at those positions).
    public func sample(_ policy: GPT2, prompts: [[Int32]], indices all: [Int], shard: Range<Int>? = nil,
                       rng: inout RNG) throws -> [Rollout] {
        let allSeeds = all.map { _ in rng.next() }
        let range = shard ?? all.indices
        let indices = Array(all[range]), seeds = Array(allSeeds[range])
        var byLength: [Int: [Int]] = [:]     // prompt length → positions in `indices`
        for (k, i) in indices.enumerated() { byLength[prompts[i].count, default: []].append(k) }
        let gen = try BatchGenerator(model: policy)
        var responses = [[Int32]](repeating: [], count: indices.count)
        for (length, ks) in byLength.sorted(by: { $0.key < $1.key }) {
            var s = SamplingSettings()
            s.maxTokens = min(maxNewTokens, policy.config.maxSeq - length)
            s.filter = SamplingFilter(temperature: temperature, topK: topK)
            s.greedy = temperature <= 0
            s.stopTokens = [eos]
            guard s.maxTokens > 0 else {
                throw FoundryError("a prompt of \(length) tokens leaves no room to respond in a context of \(policy.config.maxSeq)")
            }
            let out = try gen.generate(prompts: ks.map { prompts[indices[$0]] }, seeds: ks.map { seeds[$0] }, settings: s)
            for (k, r) in zip(ks, out) { responses[k] = r }
        }
        return zip(indices, responses).map { i, out in
            Rollout(prompt: prompts[i], response: out, endedWithEOS: out.last == eos, promptIndex: i)
        }
    }
}

/// The logit temperature RL stages score their samples at: the sampling temperature `t` (TRL
/// does the same in PPO and GRPO, so ratios, KL and entropy describe the distribution the
/// responses came from); greedy sampling (t ≤ 0) scores at 1.
func scoringTemperature(_ t: Float) -> Float { t > 0 ? t : 1 }

extension GPT2 {
    /// Per-token entropy of the model's distribution at every trained position of `b`, from
    /// the logits of the last forward over `b` (nats; 0 elsewhere).
    public func entropies(_ b: SequenceBatch) throws -> [Double] {
        let V = config.vocabSize
        let x = try device.read(logits)
        return (0..<b.batch * b.seq).map { r in
            guard b.targets[r] >= 0 else { return 0 }
            let row = x[r * V..<(r + 1) * V]
            let mx = Double(row.max()!)
            let z = row.reduce(0.0) { $0 + exp(Double($1) - mx) }
            return row.reduce(0.0) { acc, l in
                let p = exp(Double(l) - mx) / z
                return acc - (p > 0 ? p * log(p) : 0)
            }
        }
    }
}
