import Foundation
import FoundryCore
import FoundryFiles
import FoundryData
import FoundryModel

/// Supervised finetuning on demonstrations: next-token cross-entropy on the tokens the mask
/// selects (by default the completion only, as TRL's completion_only_loss), AdamW with a
/// linear warmup and cosine decay, optional frozen embeddings and blocks.
public struct SFTOptions: DataStageOptions, Sendable {
    public var schedule = DataSchedule(lr: 3e-4, epochs: 3, batch: 16, warmup: 10)
    public var common = StageCommon(logEvery: 10)
    public static let rowName = "examples"
    public var weightDecay: Float = 0
    public var freezeLayers = 0
    public var freezeEmbeddings = false
    /// Train on the completion's tokens only (TRL's completion_only_loss), not the prompt's.
    public var completionOnlyLoss = true
    public init() {}

    /// The option mistakes a user can make, named by their command-line flags.
    public func validate() throws {
        try validateShared()
        try require(freezeLayers >= 0, "--freeze-layers must be 0 or more, not \(freezeLayers)")
        try require(!common.lora.enabled || (freezeLayers == 0 && !freezeEmbeddings),
                    "--lora-rank trains only the adapters already: drop --freeze-layers/--freeze-embeddings")
    }

    /// What a resumed run over `rows` examples must keep: everything that shapes the steps.
    func resumeSettings(rows: Int) -> [String: String] {
        resumeSettings(rows: rows, ["--freeze-layers": "\(freezeLayers)", "--freeze-embeddings": "\(freezeEmbeddings)"])
    }
}

public final class SFTTrainer {
    public let model: GPT2
    let examples: [TokenizedExample]
    public let options: SFTOptions
    public let updater: PolicyUpdate
    let pad: Int32
    /// The processes of a data-parallel run; each computes its shard of every batch.
    public let collective: Collective

    public init(model: GPT2, examples: [TokenizedExample], options: SFTOptions, pad: Int32,
                collective: Collective = SingleProcess()) throws {
        guard !examples.isEmpty else { throw FoundryError("no training examples: the SFT data is empty") }
        try collective.checkSplits(batch: options.batch, "examples")
        self.model = model; self.examples = examples; self.options = options; self.pad = pad; self.collective = collective
        let freezer = try Freezer(model: model, layers: options.freezeLayers, embeddings: options.freezeEmbeddings)
        updater = try PolicyUpdate(model: model, weightDecay: options.weightDecay, lora: options.lora, seed: options.seed, freezer: freezer)
    }

    public var frozenCount: Int { model.layout.total - updater.trainableCount }

    public var resumeSettings: [String: String] { options.resumeSettings(rows: examples.count) }

    /// How the last `run` ended.
    public private(set) var end = StageEnd.finished

    /// Trains and returns the per-step losses (of the steps this call ran). With `checkpoint`
    /// it saves every `saveEvery` steps and when a signal asks it to stop (then `end` says so);
    /// with `resume` it continues the run saved there.
    @discardableResult
    public func run(log: StageLog, checkpoint: StageCheckpoint? = nil, resume: Bool = false) throws -> [Double] {
        if let summary = updater.summary { log.note(summary) }
        let outcome = try StageRunner(log: log, checkpoint: checkpoint, resume: resume).run(self)
        end = outcome.end
        return outcome.history.map { $0["loss"]! }
    }

    /// Mean completion loss over `examples` (no update).
    public static func evaluate(model: GPT2, examples: [TokenizedExample], pad: Int32, batch: Int = 16) throws -> Double {
        var total = 0.0, count = 0
        for start in stride(from: 0, to: examples.count, by: batch) {
            let chunk = examples[start..<min(start + batch, examples.count)]
            let b = SequenceBatch(sequences: chunk.map(\.tokens), lossMask: chunk.map(\.lossMask), pad: pad, maxSeq: model.config.maxSeq)
            try model.forward(tokens: b.tokens, batch: b.batch, seq: b.seq)
            let (l, n) = try model.loss(targets: b.targets)
            total += l * Double(n); count += n
        }
        return total / Double(max(count, 1))
    }
}

extension SFTTrainer: DataObjective {
    public var stage: Stage { .sft }
    public var rows: Int { examples.count }

    public func step(_ step: StageStep, _ progress: inout StageProgress) throws -> [(String, Double)] {
        // Under data parallelism this rank computes its shard of the batch, its loss scaled by
        // the whole batch's targets, so the ranks' gradients add up to it.
        let b = SequenceBatch(sequences: step.rows.map { examples[$0].tokens }, lossMask: step.rows.map { examples[$0].lossMask },
                              pad: pad, maxSeq: model.config.maxSeq)
        let allValid = collective.isDistributed
            ? SequenceBatch(sequences: step.batchRows.map { examples[$0].tokens }, lossMask: step.batchRows.map { examples[$0].lossMask },
                            pad: pad, maxSeq: model.config.maxSeq).validTargets : b.validTargets
        model.zeroGrad()
        try model.accumulateNextTokenGradients(tokens: b.tokens, targets: b.targets, batch: b.batch, seq: b.seq, stepTargets: allValid)
        if collective.isDistributed { try collective.sumGradients(of: model) }
        let pendingNorm = updater.update(lr: step.lr, clip: options.clip)
        let loss = try collective.meanLoss(of: model, valid: allValid)  // the step's one wait for the device
        let norm = try pendingNorm.read()
        return [("loss", loss), ("grad_norm", norm), ("learning_rate", Double(step.lr))]
    }

    public func snapshot() throws -> StageSnapshot {
        StageSnapshot(model: model, tensors: try updater.stateTensors(), lora: updater.lora)
    }

    public func restore(_ tensors: [String: NamedTensor], _ progress: StageProgress) throws {
        try updater.restore(from: tensors)
    }
}
