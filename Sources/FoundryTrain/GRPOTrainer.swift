import Foundation
import FoundryCore
import FoundryFiles
import FoundryModel

/// Group-relative policy optimisation: N samples per prompt, advantage (r − group mean) /
/// group std, the PPO clipped surrogate on every response token (each sequence's loss averaged
/// over its tokens), optional β·KL to the reference (k3; TRL's default β is 0). The reward is
/// any scorer: the reward model, or the task's ground-truth checker.
public struct GRPOOptions: RolloutStageOptions, Sendable {
    public var schedule = RolloutSchedule(lr: 5e-5, steps: 30, temperature: 1, maxNewTokens: 8)
    public var common = StageCommon(logEvery: 1)
    public static let rowName = "prompts"
    public var promptsPerStep = 4
    public var groupSize = 8
    public var iterations = 1
    public var clip = 0.2
    public var beta = 0.0
    /// DAPO's dynamic sampling: drop groups whose samples all scored the same (they teach
    /// nothing) and sample more prompts, up to `maxSamplingRounds` batches, to fill the step.
    public var dynamicSampling = false
    public var maxSamplingRounds = 4
    public init() {}

    /// The option mistakes a user can make, named by their command-line flags.
    public func validate() throws {
        try validateShared()
        guard groupSize >= 2 else { throw FoundryError("GRPO needs at least 2 samples per prompt (--group-size)") }
        try require(promptsPerStep >= 1, "--prompts-per-step must be 1 or more, not \(promptsPerStep)")
        try require(beta >= 0, "--beta must be 0 or more, not \(beta)")
        guard maxSamplingRounds >= 1 else { throw FoundryError("--max-sampling-rounds must be at least 1 (got \(maxSamplingRounds))") }
    }
}

public final class GRPOTrainer {
    public let policy: GPT2
    let reference: GPT2?
    public let options: GRPOOptions
    public let optimizer: PolicyUpdate
    public let eos: Int32
    let score: ([Rollout]) throws -> [Double]
    /// The processes of a data-parallel run; each samples and trains on its shard of every step's prompts.
    public let collective: Collective

    public init(policy: GPT2, reference: GPT2?, options: GRPOOptions, eos: Int32, collective: Collective = SingleProcess(),
                score: @escaping ([Rollout]) throws -> [Double]) throws {
        try options.validate()
        try collective.checkSplits(batch: options.promptsPerStep, "prompts' groups", flag: "--prompts-per-step")
        self.collective = collective
        self.policy = policy; self.reference = reference; self.options = options; self.eos = eos; self.score = score
        optimizer = try PolicyUpdate(model: policy, weightDecay: 0, lora: options.lora, seed: options.seed)
    }

    /// How the last `run` ended.
    public private(set) var end = StageEnd.finished
    public private(set) var prompts: [[Int32]] = []

    /// With `checkpoint` it saves every `saveEvery` steps, at a signal and at the end; with
    /// `resume` it continues the run saved there (sampling generator and prompt order included).
    @discardableResult
    public func run(prompts: [[Int32]], log: StageLog, checkpoint: StageCheckpoint? = nil, resume: Bool = false) throws -> [[String: Double]] {
        guard !prompts.isEmpty else { throw FoundryError("no prompts for GRPO") }
        self.prompts = prompts
        let outcome = try StageRunner(log: log, checkpoint: checkpoint, resume: resume).run(self)
        end = outcome.end
        if outcome.progress.scalars["steps_with_signal", default: 0] == 0 {
            log.note("warning: GRPO made no update: in every step, all samples of each prompt scored the same, so every advantage was 0 "
                     + "(the policy is as it started). Raise --temperature or --group-size, use --dynamic-sampling, or check the reward")
        }
        return outcome.history
    }
}

extension GRPOTrainer: RolloutObjective {
    public var stage: Stage { .grpo }
    public var batch: Int { options.promptsPerStep }

    /// What a resumed run must keep (`StageCheckpoint`).
    public var resumeSettings: [String: String] {
        options.resumeSettings(rows: prompts.count, [
            "--prompts-per-step": "\(options.promptsPerStep)", "--group-size": "\(options.groupSize)", "--beta": "\(options.beta)",
            "--dynamic-sampling": "\(options.dynamicSampling)", "--max-sampling-rounds": "\(options.maxSamplingRounds)"])
    }

    /// Steps that had a group to learn from, counted across a resume (for the closing warning).
    public func prepare(_ progress: inout StageProgress) throws { progress.scalars["steps_with_signal"] = 0 }

    public func restore(_ tensors: [String: NamedTensor], _ progress: StageProgress) throws {
        try optimizer.restore(from: tensors)
    }

    public func snapshot() throws -> StageSnapshot {
        StageSnapshot(model: policy, tensors: try optimizer.stateTensors(), lora: optimizer.lora)
    }

    /// One GRPO iteration: a group of samples per prompt, group-relative advantages, and
    /// `iterations` clipped updates on them. Data parallel, each rank samples and trains on the
    /// groups of its shard of the step's prompts (a group never spans ranks); the ranks agree
    /// on which groups dynamic sampling keeps, and sum gradients and figures.
    public func step(_ step: StageStep, _ progress: inout StageProgress) throws -> [(String, Double)] {
        let scoring = scoringTemperature(options.temperature), G = options.groupSize
        let stepSize = options.promptsPerStep * G
        var rollouts: [Rollout] = [], advantages: [Double] = [], sampledRewards: [Double] = []
        var kept = 0   // rollouts kept on every rank together
        var groups = 0, groupStd = 0.0, zeroStdGroups = 0.0, sampledLength = 0
        for round in 0..<(options.dynamicSampling ? options.maxSamplingRounds : 1) {
            // The runner draws the step's prompts; dynamic sampling draws more from the same order.
            let chosen = round == 0 ? step.batchRows : progress.order!.next()
            let mine = collective.shard(of: chosen.count)
            let indices = chosen.flatMap { Array(repeating: $0, count: G) }
            let sampled = try sampler.sample(policy, prompts: prompts, indices: indices,
                                             shard: mine.lowerBound * G..<mine.upperBound * G, rng: &progress.rng!)
            let rewards = try score(sampled)
            sampledRewards += rewards
            sampledLength += sampled.reduce(0) { $0 + $1.response.count }
            // Which of all the round's groups scored alike: each rank marks its own.
            var alike = [Double](repeating: 0, count: chosen.count)
            for g in mine {
                let local = g - mine.lowerBound
                let std = Losses.groupStd(Array(rewards[local * G..<(local + 1) * G]))
                groups += 1; groupStd += std
                if std == 0 { zeroStdGroups += 1; alike[g] = 1 }
            }
            if options.dynamicSampling { try collective.sum(&alike) }
            for g in 0..<chosen.count {
                // Dynamic sampling (DAPO) keeps only groups that disagree, until the step is full.
                if options.dynamicSampling && (alike[g] > 0 || kept >= stepSize) { continue }
                kept += G
                guard mine.contains(g) else { continue }
                let range = (g - mine.lowerBound) * G..<(g - mine.lowerBound + 1) * G
                rollouts += sampled[range]
                advantages += Losses.groupAdvantages(Array(rewards[range]))
            }
            if kept >= stepSize { break }
        }
        // A group whose samples all scored the same has advantage 0 everywhere, so with β = 0
        // its gradient is exactly zero: train on the other groups only (same update, less work).
        let trained = (0..<rollouts.count).filter { options.beta > 0 || advantages[$0] != 0 }
        var loss = 0.0, klSum = 0.0, clipFrac = 0.0, tokens = 0.0
        let b = trained.isEmpty ? nil : SequenceBatch(sequences: trained.map { rollouts[$0].example.tokens },
                                                      lossMask: trained.map { rollouts[$0].example.lossMask },
                                                      pad: eos, maxSeq: policy.config.maxSeq)
        let refLogp = try b.flatMap { b in try reference.map { try $0.targetLogProbs(b, temperature: scoring) } }
        var oldLogp: [Double] = []
        if try collective.sum(b == nil ? 0 : 1) > 0 { progress.scalars["steps_with_signal", default: 0] += 1 }
        for iteration in 0..<options.iterations {
            policy.zeroGrad()
            // With nothing to learn from (every group agreed), Adam still steps on its momentum.
            if let b {
                let newLogp = try policy.targetLogProbs(b, temperature: scoring)
                // The policy that sampled is the one before the first update.
                if iteration == 0 { oldLogp = newLogp }
                var dLogp = [Double](repeating: 0, count: b.batch * b.seq)
                for (row, i) in trained.enumerated() {
                    let pos = (0..<b.seq).map { row * b.seq + $0 }.filter { b.targets[$0] >= 0 }
                    // Each sequence's loss is averaged over its tokens, then over every kept sequence.
                    let scale = 1 / Double(max(1, pos.count)) / Double(kept)
                    for p in pos {
                        let r = Losses.ppoPolicy(logp: newLogp[p], oldLogp: oldLogp[p], advantage: advantages[i], clip: options.clip)
                        var d = r.dLogp
                        var l = r.loss
                        if let refLogp, options.beta > 0 {
                            // k3 = e^{ref−logp} − (ref − logp) − 1; d/dlogp = 1 − e^{ref−logp}
                            l += options.beta * Losses.kl(.k3, logp: newLogp[p], refLogp: refLogp[p])
                            d += options.beta * (1 - exp(refLogp[p] - newLogp[p]))
                        }
                        dLogp[p] = d * scale
                        loss += l * scale; clipFrac += r.clipped ? 1 : 0; tokens += 1
                        if let refLogp { klSum += Losses.kl(.k3, logp: newLogp[p], refLogp: refLogp[p]) }
                    }
                }
                try policy.backward(b, dLogp: dLogp, temperature: scoring)
            }
            try collective.sumGradients(of: policy)
            _ = try optimizer.update(lr: step.lr, clip: 1).read()
        }
        let sums = try collective.sums([loss, klSum, clipFrac, tokens, sampledRewards.reduce(0, +), Double(sampledRewards.count),
                                        groupStd, Double(groups), zeroStdGroups, Double(sampledLength)])
        let n = sums[5], it = Double(options.iterations)
        let m: [String: Double] = [
            "loss": sums[0] / it, "reward": sums[4] / n, "reward_std": sums[6] / sums[7],
            "frac_reward_zero_std": sums[8] / sums[7],
            "kl": sums[1] / max(sums[3], 1), "clip_ratio": sums[2] / max(sums[3], 1),
            "completion_length": sums[9] / n,
        ]
        return ["reward", "reward_std", "frac_reward_zero_std", "kl", "loss", "completion_length", "clip_ratio"].map { ($0, m[$0]!) }
    }
}
