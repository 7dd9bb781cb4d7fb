import Foundation
import FoundryCore
import FoundryFiles
import FoundryModel

/// RLHF with PPO, with TRL's semantics: sampled responses (temperature, max length, stop at
/// end-of-text), a missing-EOS penalty, per-token reward −β·KL(π‖π_ref) with the reward model's
/// score added at the last response token, GAE (γ, λ), whitened advantages, clipped policy and
/// value losses, several PPO epochs over minibatches, fixed or adaptive β.
public struct PPOOptions: RolloutStageOptions, Sendable {
    public var schedule = RolloutSchedule(lr: 5e-5, steps: 30, temperature: 0.7, maxNewTokens: 8)
    public var common = StageCommon(logEvery: 1)
    public static let rowName = "prompts"
    public var valueLR: Float = 5e-5
    public var batch = 16
    public var minibatches = 2
    public var ppoEpochs = 4
    public var klCoef = 0.05
    public var adaptiveKL = false
    public var klTarget = 6.0
    public var klHorizon = 10_000.0
    public var klEstimator: Losses.KLEstimator = .k1
    public var clip = 0.2
    public var clipValue = 0.2
    public var vfCoef = 0.1
    public var gamma = 1.0
    public var lambda = 0.95
    public var missingEOSPenalty = 1.0
    public init() {}

    /// The option mistakes a user can make, named by their command-line flags.
    public func validate() throws {
        try validateShared()
        try require(valueLR > 0 && valueLR.isFinite, "--value-lr must be a positive number, not \(valueLR) (the default is \(PPOOptions().valueLR))")
        try require(batch >= 1, "--batch must be 1 or more, not \(batch)")
        try require(klCoef >= 0, "--kl-coef must be 0 or more, not \(klCoef)")
        guard ppoEpochs >= 1 else { throw FoundryError("--ppo-epochs must be at least 1 (TRL's default is 4)") }
        guard minibatches >= 1, minibatches <= batch else {
            throw FoundryError("--mini-batches must be between 1 and --batch (\(batch)): each minibatch needs at least one response")
        }
    }
}

public final class PPOTrainer {
    public let policy: GPT2
    let reference: GPT2
    let value: RewardModel
    let score: ([Rollout]) throws -> [Double]
    public let options: PPOOptions
    public let policyOpt: PolicyUpdate
    let valueOpt: AdamW
    public let eos: Int32
    /// The processes of a data-parallel run; each samples and trains on its shard of every batch's prompts.
    public let collective: Collective
    public private(set) var klCoef: Double

    /// `score` gives each rollout its scalar reward (a reward model, or a checker).
    public init(policy: GPT2, reference: GPT2, value: RewardModel, options: PPOOptions, eos: Int32,
                collective: Collective = SingleProcess(), score: @escaping ([Rollout]) throws -> [Double]) throws {
        try options.validate()
        try collective.checkSplits(batch: options.batch, "prompts")
        self.collective = collective
        self.policy = policy; self.reference = reference; self.value = value
        self.options = options; self.eos = eos; self.score = score
        policyOpt = try PolicyUpdate(model: policy, weightDecay: 0, lora: options.lora, seed: options.seed)
        valueOpt = try AdamW(model: value.backbone, weightDecay: 0)
        klCoef = options.klCoef
    }

    /// Values at the trained (response) positions of `b`, and the hidden states they came from.
    func values(_ b: SequenceBatch) throws -> (values: [Double], hidden: [Float], rows: [Int]) {
        try value.backbone.forward(tokens: b.tokens, batch: b.batch, seq: b.seq, logits: false)
        let h = try value.backbone.device.read(value.backbone.hidden)
        let rows = (0..<b.batch * b.seq).filter { b.targets[$0] >= 0 }
        var v = [Double](repeating: 0, count: b.batch * b.seq)
        for (r, s) in zip(rows, value.head.scores(hidden: h, rows: rows)) { v[r] = s }
        return (v, h, rows)
    }

    /// How the last `run` ended.
    public private(set) var end = StageEnd.finished
    public private(set) var prompts: [[Int32]] = []

    /// With `checkpoint` it saves every `saveEvery` steps, at a signal and at the end (the value
    /// model rides in the stage state); with `resume` it continues the run saved there.
    @discardableResult
    public func run(prompts: [[Int32]], log: StageLog, checkpoint: StageCheckpoint? = nil, resume: Bool = false) throws -> [[String: Double]] {
        guard !prompts.isEmpty else { throw FoundryError("no prompts for PPO") }
        self.prompts = prompts
        let outcome = try StageRunner(log: log, checkpoint: checkpoint, resume: resume).run(self)
        end = outcome.end
        return outcome.history
    }
}

extension PPOTrainer: RolloutObjective {
    public var stage: Stage { .ppo }
    public var batch: Int { options.batch }

    /// What a resumed run must keep (`StageCheckpoint`).
    public var resumeSettings: [String: String] {
        options.resumeSettings(rows: prompts.count, [
            "--batch": "\(options.batch)", "--ppo-epochs": "\(options.ppoEpochs)", "--mini-batches": "\(options.minibatches)",
            "--value-lr": "\(options.valueLR)", "--kl-coef": "\(options.klCoef)", "--adaptive-kl": "\(options.adaptiveKL)",
            "--kl-estimator": options.klEstimator.rawValue])
    }

    public func prepare(_ progress: inout StageProgress) throws { progress.scalars["kl_coef"] = klCoef }

    public func restore(_ tensors: [String: NamedTensor], _ progress: StageProgress) throws {
        let vb = value.backbone
        klCoef = progress.scalars["kl_coef"] ?? klCoef
        guard let params = tensors["value.params"], params.values.count == vb.layout.total else {
            throw FoundryError("cannot resume: the saved PPO state lacks the value model's weights")
        }
        try vb.device.write(params.values, to: vb.params)
        try policyOpt.restore(from: tensors)
        try valueOpt.restore("value.adamw", from: tensors, device: vb.device)
        try value.head.restore("value.head", from: tensors)
    }

    /// The policy as the model; the value model (weights, optimizer, head) rides in the stage state.
    public func snapshot() throws -> StageSnapshot {
        let vb = value.backbone
        let valueParams = NamedTensor(name: "value.params", shape: [vb.layout.total], values: try vb.device.read(vb.params))
        return StageSnapshot(model: policy, tensors: try policyOpt.stateTensors() + [valueParams]
                                 + (try valueOpt.stateTensors("value.adamw", device: vb.device)) + value.head.stateTensors("value.head"),
                             lora: policyOpt.lora)
    }

    /// One PPO iteration: sample a batch of responses, score them, then several epochs of
    /// clipped policy and value updates over minibatches. Data parallel, each rank samples,
    /// scores and trains on its shard of the batch's prompts; advantages are whitened with the
    /// whole batch's mean and variance, each minibatch's loss is scaled by its tokens on every
    /// rank, and gradients and figures are summed over the ranks.
    public func step(_ step: StageStep, _ progress: inout StageProgress) throws -> [(String, Double)] {
        let scoring = scoringTemperature(options.temperature)
        let shard = collective.shard(of: step.batchRows.count)
        let rollouts = try sampler.sample(policy, prompts: prompts, indices: step.batchRows, shard: shard, rng: &progress.rng!)
        var scores = try score(rollouts)
        for (i, r) in rollouts.enumerated() where !r.endedWithEOS { scores[i] -= options.missingEOSPenalty }
        let b = SequenceBatch(sequences: rollouts.map { $0.example.tokens }, lossMask: rollouts.map { $0.example.lossMask },
                              pad: eos, maxSeq: policy.config.maxSeq)
        let T = b.seq
        let oldLogp = try policy.targetLogProbs(b, temperature: scoring)
        let entropy = try policy.entropies(b)
        let refLogp = try reference.targetLogProbs(b, temperature: scoring)
        let (oldValues, _, _) = try values(b)
        // Per-token rewards and GAE over each response.
        var advantages = [Double](repeating: 0, count: b.batch * T), returns = advantages
        var klSum = 0.0, entSum = 0.0, rlhf = 0.0
        var positions: [[Int]] = []
        for i in 0..<b.batch {
            let pos = (0..<T).map { i * T + $0 }.filter { b.targets[$0] >= 0 }
            positions.append(pos)
            let kl = pos.map { Losses.kl(options.klEstimator, logp: oldLogp[$0], refLogp: refLogp[$0]) }
            var rewards = kl.map { -klCoef * $0 }
            if !rewards.isEmpty { rewards[rewards.count - 1] += scores[i] }
            let (adv, ret) = Losses.gae(rewards: rewards, values: pos.map { oldValues[$0] }, gamma: options.gamma, lambda: options.lambda)
            for (k, p) in pos.enumerated() { advantages[p] = adv[k]; returns[p] = ret[k] }
            klSum += kl.reduce(0, +); entSum += pos.reduce(0.0) { $0 + entropy[$1] }
            rlhf += rewards.reduce(0, +)
        }
        let all = positions.flatMap { $0 }
        let white = try Losses.whiten(all.map { advantages[$0] }, across: collective.sum)
        for (k, p) in all.enumerated() { advantages[p] = white[k] }

        // PPO epochs over minibatches of whole sequences, drawn from the whole batch: each rank
        // trains on the minibatch's rows it holds (perhaps none).
        var pgLoss = 0.0, vfLoss = 0.0, clipFrac = 0.0, approxKL = 0.0, ratioSum = 0.0, counted = 0.0
        let batchSize = step.batchRows.count
        let mbSize = max(1, batchSize / max(1, options.minibatches))
        var mbOrder = BatchOrder(count: batchSize, batch: mbSize, seed: progress.rng!.next())
        let vb = value.backbone
        for _ in 0..<options.ppoEpochs {
            for _ in 0..<max(1, batchSize / mbSize) {
                let rows = mbOrder.next().filter(shard.contains).map { $0 - shard.lowerBound }
                let mb = rows.isEmpty ? nil : SequenceBatch(sequences: rows.map { rollouts[$0].example.tokens },
                                                            lossMask: rows.map { rollouts[$0].example.lossMask }, pad: eos, maxSeq: policy.config.maxSeq)
                let tokens = Double(max(1, try collective.sum(Double(mb?.validTargets ?? 0))))
                let map: (Int, Int) -> Int = { k, t in rows[k] * T + t }   // minibatch position → batch position
                policy.zeroGrad()
                if let mb {
                    let newLogp = try policy.targetLogProbs(mb, temperature: scoring)
                    var dLogp = [Double](repeating: 0, count: mb.batch * mb.seq)
                    for k in 0..<mb.batch {
                        for t in 0..<mb.seq where mb.targets[k * mb.seq + t] >= 0 {
                            let q = k * mb.seq + t, p = map(k, t)
                            let r = Losses.ppoPolicy(logp: newLogp[q], oldLogp: oldLogp[p], advantage: advantages[p], clip: options.clip)
                            dLogp[q] = r.dLogp / tokens
                            pgLoss += r.loss; clipFrac += r.clipped ? 1 : 0; counted += 1
                            let diff = newLogp[q] - oldLogp[p]
                            approxKL += 0.5 * diff * diff; ratioSum += exp(diff)
                        }
                    }
                    try policy.backward(mb, dLogp: dLogp, temperature: scoring)
                }
                try collective.sumGradients(of: policy)
                _ = try policyOpt.update(lr: step.lr, clip: 1).read()

                // Value model: clipped value loss, vf_coef-weighted.
                var headGrad = [Float](repeating: 0, count: value.head.weight.count)
                vb.zeroGrad()
                if let mb {
                    let (newValues, hidden, vrows) = try values(mb)
                    var dScores: [Double] = []
                    for q in vrows {
                        let k = q / mb.seq, t = q % mb.seq, p = map(k, t)
                        let r = Losses.ppoValue(value: newValues[q], oldValue: oldValues[p], target: returns[p], clip: options.clipValue)
                        vfLoss += r.loss
                        dScores.append(options.vfCoef * r.dValue / tokens)
                    }
                    let dHidden = value.head.backward(hidden: hidden, rows: vrows, dScores: dScores, allRows: mb.batch * mb.seq, grad: &headGrad)
                    try vb.device.write(dHidden, to: vb.hiddenGradient)
                    try vb.backward(fromHidden: vb.hiddenGradient)
                }
                try collective.sumGradients(of: vb)
                try collective.sum(&headGrad)
                _ = try valueOpt.update(vb, lr: options.valueLR, clip: 1).read()
                value.head.update(grad: headGrad, lr: options.valueLR)
            }
        }
        let sums = try collective.sums([klSum, entSum, rlhf, scores.reduce(0, +), pgLoss, vfLoss, clipFrac, approxKL, ratioSum, counted,
                                        Double(rollouts.filter(\.endedWithEOS).count)])
        let n = Double(batchSize), c = max(sums[9], 1)
        let meanKL = sums[0] / n
        if options.adaptiveKL {
            let err = min(max(meanKL / options.klTarget - 1, -0.2), 0.2)
            klCoef *= 1 + err * n / options.klHorizon
        }
        let m: [String: Double] = [
            "objective/kl": meanKL, "objective/entropy": sums[1] / n, "objective/scores": sums[3] / n,
            "objective/rlhf_reward": sums[2] / n, "policy/approxkl_avg": sums[7] / c, "policy/clipfrac_avg": sums[6] / c,
            "loss/policy_avg": sums[4] / c, "loss/value_avg": sums[5] / c, "val/ratio": sums[8] / c,
            "val/num_eos_tokens": sums[10], "kl_coef": klCoef,
        ]
        progress.scalars["kl_coef"] = klCoef
        let order = ["objective/scores", "objective/kl", "objective/rlhf_reward", "policy/clipfrac_avg", "loss/value_avg",
                     "objective/entropy", "policy/approxkl_avg", "loss/policy_avg", "val/ratio", "val/num_eos_tokens", "kl_coef"]
        return order.map { ($0, m[$0]!) }
    }
}
