import Foundation
import FoundryCore
import FoundryFiles
import FoundryData
import FoundryModel

/// Direct preference optimisation against a frozen reference (the starting policy): sigmoid
/// (default, β = 0.1), IPO or hinge loss on the difference of policy/reference log-ratios of the
/// chosen and rejected completions. Logs TRL's rewards/chosen, rewards/rejected,
/// rewards/margins, rewards/accuracies.
public struct DPOOptions: DataStageOptions, Sendable {
    public var schedule = DataSchedule(lr: 1e-4, epochs: 2, batch: 8, warmup: 5)
    public var common = StageCommon(logEvery: 10)
    public static let rowName = "pairs"
    public var beta = 0.1
    public var loss: Losses.DPOKind = .sigmoid
    /// TRL's rpo_alpha: adds α × the chosen completions' mean token negative log-likelihood
    /// (RPO, Pang et al. 2024), which keeps DPO from lowering the chosen answers' probability
    /// along with the rejected ones'. 0 = plain DPO (TRL's default: off).
    public var rpoAlpha = 0.0
    public init() {}

    /// The option mistakes a user can make, named by their command-line flags.
    public func validate() throws {
        try validateShared()
        try require(beta > 0 && beta.isFinite, "--beta must be a positive number, not \(beta) (the default is \(DPOOptions().beta))")
        try require(rpoAlpha >= 0, "--rpo-alpha must be 0 or more (TRL's papers use 1.0)")
    }
}

public final class DPOTrainer {
    public let policy: GPT2
    public let options: DPOOptions
    public let optimizer: PolicyUpdate
    let pad: Int32
    /// The processes of a data-parallel run; each computes its shard of every batch's pairs.
    public let collective: Collective

    public init(policy: GPT2, options: DPOOptions, pad: Int32, collective: Collective = SingleProcess()) throws {
        try collective.checkSplits(batch: options.batch, "pairs")
        self.policy = policy; self.options = options; self.pad = pad; self.collective = collective
        optimizer = try PolicyUpdate(model: policy, weightDecay: 0, lora: options.lora, seed: options.seed)
    }

    func batch(_ pairs: [TokenizedPair], _ idx: [Int]) -> SequenceBatch {
        SequenceBatch(sequences: idx.map { pairs[$0].chosen.tokens } + idx.map { pairs[$0].rejected.tokens },
                      lossMask: idx.map { pairs[$0].chosen.lossMask } + idx.map { pairs[$0].rejected.lossMask },
                      pad: pad, maxSeq: policy.config.maxSeq)
    }

    /// How the last `run` ended.
    public private(set) var end = StageEnd.finished
    var pairs: [TokenizedPair] = []

    /// Trains on `pairs`; with `checkpoint` it saves every `saveEvery` steps, at a signal and at
    /// the end; with `resume` it continues the run saved there (the reference's log-probabilities
    /// come back from the saved state: the policy there has already moved).
    @discardableResult
    public func run(_ pairs: [TokenizedPair], log: StageLog, checkpoint: StageCheckpoint? = nil, resume: Bool = false) throws -> [[String: Double]] {
        guard !pairs.isEmpty else { throw FoundryError("no comparison pairs for DPO") }
        self.pairs = pairs
        let outcome = try StageRunner(log: log, checkpoint: checkpoint, resume: resume).run(self)
        end = outcome.end
        return outcome.history
    }
}

extension DPOTrainer: DataObjective {
    public var stage: Stage { .dpo }
    public var rows: Int { pairs.count }

    /// What a resumed run must keep (`StageCheckpoint`).
    public var resumeSettings: [String: String] {
        options.resumeSettings(rows: pairs.count, ["--beta": "\(options.beta)", "--loss": options.loss.rawValue, "--rpo-alpha": "\(options.rpoAlpha)"])
    }

    /// The reference is the policy before any update: its log-probabilities, once, kept in the
    /// progress (a resumed run's policy has already moved).
    public func prepare(_ progress: inout StageProgress) throws {
        var refChosen = [Double](repeating: 0, count: pairs.count), refRejected = refChosen
        for start in stride(from: 0, to: pairs.count, by: options.batch) {
            let idx = Array(start..<min(start + options.batch, pairs.count))
            let lp = try policy.sequenceLogProbs(batch(pairs, idx))
            for (k, i) in idx.enumerated() { refChosen[i] = lp[k]; refRejected[i] = lp[idx.count + k] }
        }
        progress.vectors = ["ref_chosen": refChosen, "ref_rejected": refRejected]
    }

    public func restore(_ tensors: [String: NamedTensor], _ progress: StageProgress) throws {
        guard let c = progress.vectors["ref_chosen"], let r = progress.vectors["ref_rejected"], c.count == pairs.count, r.count == pairs.count else {
            throw FoundryError("cannot resume: the saved DPO state lacks the reference's log-probabilities for these \(pairs.count) pairs")
        }
        try optimizer.restore(from: tensors)
    }

    public func snapshot() throws -> StageSnapshot {
        StageSnapshot(model: policy, tensors: try optimizer.stateTensors(), lora: optimizer.lora)
    }

    public func step(_ step: StageStep, _ progress: inout StageProgress) throws -> [(String, Double)] {
        // Under data parallelism each rank takes a contiguous shard of the batch's pairs; the
        // loss is the whole batch's mean, so the ranks' gradients add up to it.
        let idx = step.rows
        let refChosen = progress.vectors["ref_chosen"]!, refRejected = progress.vectors["ref_rejected"]!
        let n = idx.count, all = Double(step.batchRows.count)
        let b = batch(pairs, idx)
        let tokenLp = try policy.targetLogProbs(b)
        let seqLp = (0..<b.batch).map { i in tokenLp[i * b.seq..<(i + 1) * b.seq].reduce(0, +) }
        var dSeq = [Double](repeating: 0, count: b.batch)
        var loss = 0.0, rc = 0.0, rr = 0.0, acc = 0.0, nll = 0.0
        // Per-token NLL gradient of the RPO term on each chosen row (0 without it).
        var dChosenToken = [Double](repeating: 0, count: n)
        for (k, i) in idx.enumerated() {
            let r = Losses.dpo(options.loss, beta: options.beta, policyChosen: seqLp[k], policyRejected: seqLp[n + k],
                               refChosen: refChosen[i], refRejected: refRejected[i])
            loss += r.loss / all
            dSeq[k] = r.dChosen / all; dSeq[n + k] = r.dRejected / all
            rc += r.rewardChosen / all; rr += r.rewardRejected / all
            acc += (r.rewardChosen > r.rewardRejected ? 1 : 0) / all
            if options.rpoAlpha > 0 {
                let len = Double(max(1, (0..<b.seq).filter { b.targets[k * b.seq + $0] >= 0 }.count))
                nll += -seqLp[k] / len / all
                dChosenToken[k] = -options.rpoAlpha / len / all
            }
        }
        loss += options.rpoAlpha * nll
        // d loss / d(token log p) = d loss / d(sequence log p) on every trained token.
        var dTok = [Double](repeating: 0, count: b.batch * b.seq)
        for i in 0..<b.batch {
            for t in 0..<b.seq where b.targets[i * b.seq + t] >= 0 { dTok[i * b.seq + t] = dSeq[i] + (i < n ? dChosenToken[i] : 0) }
        }
        policy.zeroGrad()
        try policy.backward(b, dLogp: dTok)
        try collective.sumGradients(of: policy)
        if collective.isDistributed {
            loss = try collective.sum(loss); rc = try collective.sum(rc); rr = try collective.sum(rr)
            acc = try collective.sum(acc); nll = try collective.sum(nll)
        }
        _ = try optimizer.update(lr: step.lr, clip: options.clip).read()
        return [("loss", loss), ("rewards/chosen", rc), ("rewards/rejected", rr), ("rewards/margins", rc - rr), ("rewards/accuracies", acc)]
            + (options.rpoAlpha > 0 ? [("nll_loss", nll)] : [])
    }
}
