import Foundation
import FoundryCore
import FoundryFiles
import FoundryData
import FoundryModel

/// Reward-model training on comparisons: Bradley–Terry −log σ(r⁺ − r⁻ − margin) (TRL's
/// RewardTrainer), or pointwise regression to a score. Rewards are read at each sequence's last
/// token; the loss's gradient flows through the scalar head into the backbone.
/// What the reward model learns from: pairs (Bradley–Terry) or scored rows (regression).
public enum RewardObjective: String, CaseIterable, Sendable {
    case pairwise, pointwise
}

public struct RewardOptions: DataStageOptions, Sendable {
    public var schedule = DataSchedule(lr: 1e-4, epochs: 2, batch: 16, warmup: 10)
    public var common = StageCommon(logEvery: 10)
    public static let rowName = "rows"
    public var objective = RewardObjective.pairwise
    public var headLR: Float = 1e-3
    public var centerRewardsCoefficient: Double = 0
    /// The fraction of the rows a command holds out to measure the trained model on.
    public var heldOutFraction = 0.1
    public init() {}

    /// People's rankings come by the hundred, not by the thousand, and the pairs' defaults leave
    /// a few hundred of them far from trained: from 360 rankings of 4 by the page's simulated
    /// person (1,389 comparisons), 5 epochs at 3e-4 reached 74.7% held-out accuracy and 20
    /// epochs 89.7%. So rankings train at 3e-4 for as many passes as make about
    /// `rankingsSteps` steps, from 2 to 20.
    public static let rankingsLR: Float = 3e-4
    public static let rankingsSteps = 450
    public static func rankingsEpochs(rows: Int, batch: Int) -> Double {
        let perEpoch = max(1, (rows + batch - 1) / batch)
        return min(20, max(2, (Double(rankingsSteps) / Double(perEpoch)).rounded()))
    }

    /// These options for `rows` training rankings: the rankings' learning rate and epochs.
    public func forRankings(_ rows: Int) -> RewardOptions {
        var o = self
        o.lr = Self.rankingsLR; o.epochs = Self.rankingsEpochs(rows: rows, batch: schedule.batch)
        return o
    }

    /// The option mistakes a user can make, named by their command-line flags.
    public func validate() throws {
        try validateShared()
        try require((0..<1).contains(heldOutFraction), "--eval-fraction must be at least 0 and below 1, not \(heldOutFraction)")
        try require(centerRewardsCoefficient >= 0, "--center-rewards-coefficient must be 0 or more (TRL suggests 0.01)")
    }
}

public struct RewardMetrics {
    public var loss: Double, accuracy: Double, margin: Double, meanReward: Double
}

public final class RewardTrainer {
    public let model: RewardModel
    public let optimizer: PolicyUpdate
    public let options: RewardOptions
    let pad: Int32
    /// The processes of a data-parallel run; each scores its shard of every batch's prompts.
    public let collective: Collective

    public init(model: RewardModel, options: RewardOptions, pad: Int32, collective: Collective = SingleProcess()) throws {
        try collective.checkSplits(batch: options.batch, "rows")
        self.model = model; self.options = options; self.pad = pad; self.collective = collective
        optimizer = try PolicyUpdate(model: model.backbone, weightDecay: 0, lora: options.lora, seed: options.seed)
    }

    /// One pass over `pairs` in batches: the pairwise metrics, and (with `train`) an update per batch.
    /// `total`: the global batch's pair count when `indices` are this rank's shard of it.
    func pass(_ pairs: [TokenizedPair], indices: [Int], train: Bool, lr: Float, total: Int? = nil) throws -> RewardMetrics {
        // Scored without the closing end-of-text: the reward is read at the last real token
        // (where PPO reads it, and where transformers does when end-of-text is the pad token).
        let seqs = indices.map { strip(pairs[$0].chosen.tokens) } + indices.map { strip(pairs[$0].rejected.tokens) }
        let b = SequenceBatch(sequences: seqs, pad: pad, maxSeq: model.backbone.config.maxSeq, keepEnd: true)
        let r = try model.rewards(b)
        let n = indices.count, all = Double(total ?? n)
        var loss = 0.0, correct = 0.0, margin = 0.0
        var dScores = [Double](repeating: 0, count: 2 * n)
        for i in 0..<n {
            let bt = Losses.bradleyTerry(chosen: r[i], rejected: r[n + i], margin: pairs[indices[i]].margin,
                                         centerCoefficient: options.centerRewardsCoefficient)
            loss += bt.loss / all
            dScores[i] = bt.dChosen / all; dScores[n + i] = bt.dRejected / all
            if r[i] > r[n + i] { correct += 1 }
            margin += (r[i] - r[n + i]) / all
        }
        if train { try backward(b, dScores: dScores, lr: lr) }
        var rewardSum = r.reduce(0, +)
        if total != nil && collective.isDistributed {
            loss = try collective.sum(loss); correct = try collective.sum(correct)
            margin = try collective.sum(margin); rewardSum = try collective.sum(rewardSum)
        }
        return RewardMetrics(loss: loss, accuracy: correct / all, margin: margin, meanReward: rewardSum / (2 * all))
    }

    /// How the last `run` ended.
    public private(set) var end = StageEnd.finished

    /// Trains on `pairs`; with `checkpoint` it saves every `saveEvery` steps, at a signal and at
    /// the end (as GPT2ForSequenceClassification); with `resume` it continues the run saved there.
    @discardableResult
    public func run(_ pairs: [TokenizedPair], log: StageLog, checkpoint: StageCheckpoint? = nil, resume: Bool = false) throws -> [RewardMetrics] {
        guard !pairs.isEmpty else { throw FoundryError("no comparison pairs to train the reward model on") }
        var history: [RewardMetrics] = []
        try train(rows: pairs.count, log: log, checkpoint: checkpoint, resume: resume) { step in
            let m = try pass(pairs, indices: step.rows, train: true, lr: step.lr, total: step.batchRows.count)
            history.append(m)
            return m.fields
        }
        return history
    }

    /// Trains on people's rankings of K responses per prompt (InstructGPT): every response's
    /// reward once per step, the loss averaged over each prompt's C(K, 2) pairs, then over the
    /// prompts of the batch. A file of two-response rankings trains the same model as its pairs.
    @discardableResult
    public func run(rankings: [TokenizedRanking], log: StageLog, checkpoint: StageCheckpoint? = nil,
                    resume: Bool = false) throws -> [RewardMetrics] {
        guard !rankings.isEmpty else { throw FoundryError("no rankings to train the reward model on") }
        var history: [RewardMetrics] = []
        try train(rows: rankings.count, log: log, checkpoint: checkpoint, resume: resume) { step in
            let m = try pass(rankings: rankings, indices: step.rows, lr: step.lr, total: step.batchRows.count)
            history.append(m)
            return m.fields
        }
        return history
    }

    /// One step on rankings. The batch is rank-major — every prompt's best response, then every
    /// second-best, … — which for K = 2 is the pairs layout (all chosen, then all rejected).
    func pass(rankings: [TokenizedRanking], indices: [Int], lr: Float, total: Int? = nil) throws -> RewardMetrics {
        let ranked = indices.map { rankings[$0].ranked }
        var seqs: [[Int32]] = [], position: [[Int]] = ranked.map { _ in [] }
        for rank in 0..<(ranked.map(\.count).max() ?? 0) {
            for (row, responses) in ranked.enumerated() where rank < responses.count {
                position[row].append(seqs.count)
                seqs.append(strip(responses[rank].tokens))
            }
        }
        let b = SequenceBatch(sequences: seqs, pad: pad, maxSeq: model.backbone.config.maxSeq, keepEnd: true)
        let r = try model.rewards(b)
        let n = Double(total ?? indices.count)
        var loss = 0.0, correct = 0, pairs = 0, margin = 0.0
        var dScores = [Double](repeating: 0, count: seqs.count)
        for (row, at) in position.enumerated() {
            let l = Losses.ranking(rewards: at.map { r[$0] }, levels: rankings[indices[row]].levels,
                                   centerCoefficient: options.centerRewardsCoefficient)
            loss += l.loss / n
            for (k, p) in at.enumerated() { dScores[p] = l.dRewards[k] / n }
            correct += l.correct; pairs += l.pairs; margin += l.margin * Double(l.pairs)
        }
        try backward(b, dScores: dScores, lr: lr)
        var rewardSum = r.reduce(0, +), scored = Double(r.count), right = Double(correct), compared = Double(pairs)
        if collective.isDistributed {
            loss = try collective.sum(loss); right = try collective.sum(right); compared = try collective.sum(compared)
            margin = try collective.sum(margin); rewardSum = try collective.sum(rewardSum); scored = try collective.sum(scored)
        }
        return RewardMetrics(loss: loss, accuracy: right / max(compared, 1), margin: margin / max(compared, 1),
                             meanReward: rewardSum / scored)
    }

    /// The rows of the run in progress and its step (pairs, rankings or scored rows).
    var current: (rows: Int, step: (StageStep) throws -> [(String, Double)])?

    /// Every objective's run: its rows and step on the stage runner.
    func train(rows: Int, log: StageLog, checkpoint: StageCheckpoint?, resume: Bool,
               _ step: (StageStep) throws -> [(String, Double)]) throws {
        // The step is held only while the runner runs.
        try withoutActuallyEscaping(step) { step in
            current = (rows, step)
            defer { current = nil }
            end = try StageRunner(log: log, checkpoint: checkpoint, resume: resume).run(self).end
        }
    }

    /// Pairwise accuracy (and the other metrics) on held-out pairs, without updates.
    public func evaluate(_ pairs: [TokenizedPair]) throws -> RewardMetrics {
        var sum = RewardMetrics(loss: 0, accuracy: 0, margin: 0, meanReward: 0)
        var seen = 0
        for start in stride(from: 0, to: pairs.count, by: options.batch) {
            let idx = Array(start..<min(start + options.batch, pairs.count))
            let m = try pass(pairs, indices: idx, train: false, lr: 0)
            let w = Double(idx.count)
            sum.loss += m.loss * w; sum.accuracy += m.accuracy * w; sum.margin += m.margin * w; sum.meanReward += m.meanReward * w
            seen += idx.count
        }
        let n = Double(max(seen, 1))
        return RewardMetrics(loss: sum.loss / n, accuracy: sum.accuracy / n, margin: sum.margin / n, meanReward: sum.meanReward / n)
    }

    // MARK: pointwise

    /// Regression of the reward to a score: ½ (r − score)², averaged over the batch.
    @discardableResult
    public func runPointwise(_ examples: [TokenizedExample], scores: [Double], log: StageLog,
                             checkpoint: StageCheckpoint? = nil, resume: Bool = false) throws -> [Double] {
        guard !examples.isEmpty else { throw FoundryError("no scored examples to train the reward model on") }
        var losses: [Double] = []
        try train(rows: examples.count, log: log, checkpoint: checkpoint, resume: resume) { step in
            let idx = step.rows, n = Double(step.batchRows.count)
            let b = SequenceBatch(sequences: idx.map { strip(examples[$0].tokens) }, pad: pad, maxSeq: model.backbone.config.maxSeq, keepEnd: true)
            let r = try model.rewards(b)
            var loss = 0.0, d = [Double](repeating: 0, count: idx.count)
            for (k, i) in idx.enumerated() {
                let p = Losses.pointwise(reward: r[k], score: scores[i])
                loss += p.loss / n; d[k] = p.dReward / n
            }
            try backward(b, dScores: d, lr: step.lr)
            if collective.isDistributed { loss = try collective.sum(loss) }
            let meanReward = try collective.sum(r.reduce(0, +)) / n
            losses.append(loss)
            return [("loss", loss), ("mean_reward", meanReward)]
        }
        return losses
    }

    /// Mean squared error on held-out scored examples.
    public func evaluatePointwise(_ examples: [TokenizedExample], scores: [Double]) throws -> Double {
        var total = 0.0
        for start in stride(from: 0, to: examples.count, by: options.batch) {
            let idx = Array(start..<min(start + options.batch, examples.count))
            let b = SequenceBatch(sequences: idx.map { strip(examples[$0].tokens) }, pad: pad, maxSeq: model.backbone.config.maxSeq, keepEnd: true)
            for (k, r) in try model.rewards(b).enumerated() { total += (r - scores[idx[k]]) * (r - scores[idx[k]]) }
        }
        return total / Double(max(1, examples.count))
    }

    func strip(_ t: [Int32]) -> [Int32] { t.last == pad && t.count > 1 ? Array(t.dropLast()) : t }

    /// Backpropagates d(loss)/d(score) at each row's last token (after `model.rewards(b)`) and updates.
    func backward(_ b: SequenceBatch, dScores: [Double], lr: Float) throws {
        let bb = model.backbone
        let hidden = try bb.device.read(bb.hidden)
        var headGrad = [Float](repeating: 0, count: model.head.weight.count)
        let rows = b.lastRows
        let dHidden = model.head.backward(hidden: hidden, rows: rows, dScores: dScores, allRows: b.batch * b.seq, grad: &headGrad)
        bb.zeroGrad()
        try bb.device.write(dHidden, to: bb.hiddenGradient)
        try bb.backward(fromHidden: bb.hiddenGradient)
        // Data parallel: the backbone's and the head's gradients summed over the ranks.
        try collective.sumGradients(of: bb)
        try collective.sum(&headGrad)
        _ = try optimizer.update(lr: lr, clip: options.clip).read()
        // The head follows the backbone's schedule, scaled to its own peak (lr 0: no step, not 0/0).
        model.head.update(grad: headGrad, lr: options.lr > 0 ? options.headLR * lr / options.lr : 0)
    }
}

extension RewardMetrics {
    /// The logged figures, in TRL's names.
    var fields: [(String, Double)] { [("loss", loss), ("accuracy", accuracy), ("margin", margin), ("mean_reward", meanReward)] }
}

extension RewardTrainer: DataObjective {
    public var stage: Stage { .reward }
    public var rows: Int { current?.rows ?? 0 }

    /// What a resumed run must keep (`StageCheckpoint`).
    public var resumeSettings: [String: String] {
        options.resumeSettings(rows: rows, ["--objective": options.objective.rawValue,
                                            "--center-rewards-coefficient": "\(options.centerRewardsCoefficient)"])
    }

    public func step(_ step: StageStep, _ progress: inout StageProgress) throws -> [(String, Double)] {
        try current!.step(step)
    }

    /// Saved as GPT2ForSequenceClassification: the backbone and its score head.
    public func snapshot() throws -> StageSnapshot {
        StageSnapshot(model: model.backbone, extraModelTensors: [model.scoreTensor], architecture: RewardModel.architecture,
                      tensors: try optimizer.stateTensors() + model.head.stateTensors("head"), lora: optimizer.lora)
    }

    public func restore(_ tensors: [String: NamedTensor], _ progress: StageProgress) throws {
        try optimizer.restore(from: tensors)
        try model.head.restore("head", from: tensors)
    }
}
