import Foundation
import FoundryCore
import FoundryFiles
import FoundryModel

/// The training stages: what a checkpoint says it holds and what its log lines are named.
public enum Stage: String, Codable, CaseIterable, Sendable {
    case pretrain, sft, reward, dpo, ppo, grpo
}

/// One training objective, as the stage runner drives it. The objective says what a step
/// does and what it keeps; the runner owns everything around the steps (`StageRunner`).
public protocol StageObjective: AnyObject {
    var stage: Stage { get }
    /// Optimizer steps in the whole run (the schedule's length).
    var steps: Int { get }
    /// Where this run stops, finished: `steps`, or earlier (pretraining's --stop-at).
    var lastStep: Int { get }
    /// The learning rate of each step.
    var schedule: LRSchedule { get }
    /// Rows of the data the batch order runs over, and rows per step (each rank computes its
    /// shard of them); 0 rows: the objective draws its own data.
    var rows: Int { get }
    var batch: Int { get }
    /// The seed of the batch order.
    var orderSeed: UInt64 { get }
    /// The random generator the steps draw from (sampling), if they draw.
    var generatorSeed: UInt64? { get }
    /// What a resumed run must share with the one it continues, by flag.
    var resumeSettings: [String: String] { get }
    var logEvery: Int { get }
    var collective: Collective { get }

    /// A fresh run's preparation before its first step (DPO's reference log-probabilities).
    func prepare(_ progress: inout StageProgress) throws
    /// One optimizer step; its metrics, in the order they are logged.
    func step(_ step: StageStep, _ progress: inout StageProgress) throws -> [(String, Double)]
    /// After a step's line is logged (pretraining's sample preview).
    func afterStep(_ step: StageStep) throws
    /// What a checkpoint holds besides the progress: the model and the state tensors. Rank 0
    /// calls it, and writes; every rank does when `snapshotOnEveryRank` (a collective inside).
    func snapshot() throws -> StageSnapshot
    /// Whether taking a snapshot needs every rank (a sharded optimizer gathers its moments).
    var snapshotOnEveryRank: Bool { get }
    /// Puts back what `snapshot` saved (called when resuming, after `progress` is loaded).
    func restore(_ tensors: [String: NamedTensor], _ progress: StageProgress) throws
}

extension StageObjective {
    public var rows: Int { 0 }
    public var batch: Int { 0 }
    public var orderSeed: UInt64 { 0 }
    public var generatorSeed: UInt64? { nil }
    public var collective: Collective { SingleProcess() }
    public var snapshotOnEveryRank: Bool { false }
    public var lastStep: Int { steps }
    public func prepare(_ progress: inout StageProgress) throws {}
    public func afterStep(_ step: StageStep) throws {}
}

/// A stage's progress between steps, saved as stage_state.json.
public typealias StageProgress = StageCheckpoint.State

/// One step as the runner hands it to the objective.
public struct StageStep {
    /// 0-based.
    public let index: Int
    public let lr: Float
    /// This rank's rows of the batch (all of them in one process), and the whole batch's.
    public let rows: [Int]
    public let batchRows: [Int]
}

/// What a checkpoint writes besides the progress.
public struct StageSnapshot {
    public var model: GPT2
    /// Tensors saved with the model (a reward model's score head).
    public var extraModelTensors: [NamedTensor] = []
    public var architecture = "GPT2LMHeadModel"
    /// Optimizer moments, heads, a value model.
    public var tensors: [NamedTensor]
    public var lora: LoRAAdapter?
}

/// How a run on the runner ended, the progress it ended with, and each step's logged figures
/// (of the steps this run took).
public struct StageOutcome {
    public var end: StageEnd
    public var progress: StageProgress
    public var history: [[String: Double]]
}

/// The one training loop of the post-training stages: it resumes a saved run (checking the
/// settings), orders the batches, shards them across ranks, schedules the learning rate,
/// logs every step, saves every `saveEvery` steps and at a signal, stops together on every
/// rank, and saves the finished run. The objective supplies only its step.
public struct StageRunner {
    public var log: StageLog
    public var checkpoint: StageCheckpoint?
    public var resume: Bool

    public init(log: StageLog, checkpoint: StageCheckpoint? = nil, resume: Bool = false) {
        self.log = log; self.checkpoint = checkpoint; self.resume = resume
    }

    public func run(_ o: StageObjective) throws -> StageOutcome {
        let steps = o.steps, collective = o.collective, settings = o.resumeSettings
        log.name = o.stage.rawValue
        var progress = StageProgress(stage: o.stage, step: 0,
                                     order: o.rows > 0 ? BatchOrder(count: o.rows, batch: o.batch, seed: o.orderSeed) : nil,
                                     rng: o.generatorSeed.map { RNG(seed: $0) }, settings: settings)
        if let (saved, tensors) = try StageCheckpoint.resuming(checkpoint, resume, stage: o.stage, settings: settings) {
            progress.step = saved.step; progress.scalars = saved.scalars; progress.vectors = saved.vectors
            progress.order = saved.order ?? progress.order; progress.rng = saved.rng ?? progress.rng
            try o.restore(tensors, progress)
            log.note("resuming at step \(progress.step) of \(steps)")
        } else {
            try o.prepare(&progress)
        }
        func save(_ step: Int) throws {
            guard let checkpoint else { return }
            progress.step = step
            guard collective.isLeader || o.snapshotOnEveryRank else { return }
            let s = try o.snapshot()
            guard collective.isLeader else { return }
            try checkpoint.save(model: s.model, extraModelTensors: s.extraModelTensors, architecture: s.architecture,
                                state: progress, tensors: s.tensors, lora: s.lora)
        }
        if checkpoint != nil { Interrupt.install() }
        defer { if checkpoint != nil { Interrupt.uninstall() } }
        var end = StageEnd.finished, history: [[String: Double]] = []
        let first = progress.step
        let last = o.lastStep
        for i in first..<max(first, last) {
            // Under data parallelism each rank takes a contiguous shard of the batch's rows.
            var global: [Int] = []
            if progress.order != nil { global = progress.order!.next() }
            let mine = collective.isDistributed && !global.isEmpty ? Array(global[collective.shard(of: global.count)]) : global
            let step = StageStep(index: i, lr: o.schedule.lr(i), rows: mine, batchRows: global)
            let fields = try o.step(step, &progress)
            history.append(Dictionary(fields) { a, _ in a })
            progress.step = i + 1
            log.step(i + 1, of: steps, fields, print: (i + 1) % o.logEvery == 0 || i == first || i + 1 == last)
            try o.afterStep(step)
            if let checkpoint {
                let (due, stop) = try checkpoint.decide(i + 1, of: last, collective)
                if due { try save(i + 1) }
                if stop { end = .interrupted(step: i + 1); break }
            }
        }
        if case .finished = end { try save(progress.step) }
        return StageOutcome(end: end, progress: progress, history: history)
    }
}

extension LRSchedule {
    /// The same rate at every step.
    public static func constant(_ lr: Float) -> LRSchedule { LRSchedule(maxLR: lr, minLR: lr, warmup: 0, total: 1) }
}
