import Foundation
import FoundryCore
import FoundryFiles
import FoundryData
import FoundryModel
import FoundrySample

/// Settings of a pretraining run. Defaults are nanoGPT's character-level Shakespeare settings
/// for a CPU (4 layers, 4 heads, 128 wide, context 64, batch 12, lr 1e-3, 2000 steps).
public struct PretrainOptions: Sendable {
    public var layers = 4, heads = 4, embd = 128, context = 64
    public var batch = 12, steps = 2000, gradAccum = 1
    public var lr: Float = 1e-3
    /// Where the cosine ends (nil: lr / `LRSchedule.defaultFloorDivisor`).
    public var minLR: Float?
    public var warmup = 100
    public var weightDecay: Float = 0.1
    public var beta2: Float = 0.99
    public var clip: Float = 1.0
    public var evalEvery = 250
    /// How many validation tokens each evaluation reads (sequential windows).
    public var evalTokens = 32_768
    public var saveEvery = 500
    public var logEvery = 10
    public var seed: UInt64 = 1337
    public var objective: Objective = .causal
    /// Stop (and save) after this step even if `steps` is larger; the schedule still spans `steps`.
    public var stopAt: Int?
    public var previewTokens = 120
    /// ZeRO stage (0 or 1): 1 shards AdamW's moments across the ranks of a data-parallel run.
    public var zero = 0
    public init() {}

    /// The option mistakes a user can make, named by their command-line flags. The model's
    /// size is checked against the device when it is built (`GPT2Config.validate`, `GPT2.init`).
    public func validate() throws {
        try require(layers >= 1 && heads >= 1 && embd >= 1, "--layers, --heads and --embd must be 1 or more")
        try require(embd % heads == 0, "--embd \(embd) is not divisible by --heads \(heads): pick a multiple")
        try require(context >= 2, "--context must be at least 2 (one token predicts the next), not \(context)")
        try require(batch >= 1 && steps >= 1 && gradAccum >= 1, "--batch, --steps and --grad-accum must be 1 or more")
        try require(lr.isFinite && lr > 0, "--lr must be a positive number, not \(lr) (the default is \(PretrainOptions().lr))")
        if let minLR { try require(minLR.isFinite && minLR >= 0 && minLR <= lr, "--min-lr must be between 0 and --lr (\(lr)), not \(minLR)") }
        try require(warmup >= 0, "--warmup must be 0 or more, not \(warmup)")
        try require(weightDecay.isFinite && weightDecay >= 0, "--weight-decay must be 0 or more, not \(weightDecay)")
        try require(clip.isFinite && clip >= 0, "--clip must be 0 (off) or more, not \(clip)")
        try require(beta2 > 0 && beta2 < 1, "beta2 must be in (0, 1), not \(beta2)")
        try require(evalEvery >= 0 && saveEvery >= 0, "--eval-every and --save-every must be 0 (off) or more")
        try require(evalTokens >= 1, "--eval-tokens must be 1 or more, not \(evalTokens)")
        try require(logEvery >= 1, "--log-every must be 1 or more, not \(logEvery)")
        try require(zero == 0 || zero == 1, "--zero must be 0 (every rank keeps the optimizer's moments) or 1 (sharded across the ranks), not \(zero)")
        if let stopAt { try require(stopAt >= 1 && stopAt <= steps, "--stop-at must be between 1 and --steps (\(steps)), not \(stopAt)") }
    }

    /// What a resumed run must keep: the schedule and the batch, by flag (`TrainState.settings`).
    public var resumeSettings: [String: String] {
        ["--steps": "\(steps)", "--lr": "\(lr)", "--min-lr": minLR.map { "\($0)" } ?? "lr/\(Int(LRSchedule.defaultFloorDivisor))",
         "--warmup": "\(warmup)", "--batch": "\(batch)", "--context": "\(context)", "--grad-accum": "\(gradAccum)",
         "--weight-decay": "\(weightDecay)", "--clip": "\(clip)"]
    }
}

/// What a run ends with.
public struct PretrainResult {
    public var steps: Int
    public var lastLoss: Double
    public var valLoss: Double?
    public var seconds: Double
    public var tokensPerSecond: Double
    public var interrupted: Bool
    public var losses: [Double]
    /// Time in the gradients' all-reduce (device → host, MPI, host → device), once the backward
    /// had finished; 0 for one process.
    public var reduceSeconds = 0.0
}

/// Self-supervised pretraining: next-token prediction (or masked-token prediction) with AdamW,
/// warmup + cosine decay, gradient clipping and accumulation, periodic validation and sample
/// previews, on the stage runner (checkpoints, resume, signals, metrics.jsonl and the progress
/// line are the runner's).
public final class Pretrainer {
    public let model: GPT2
    public let tokenizer: Tokenizer
    public let data: TokenDataset
    public let options: PretrainOptions
    public let outDir: String
    let resume: Bool
    /// AdamW over the whole arena, or with --zero 1 in a data-parallel run its sharded form.
    let optimizer: AdamW?
    let sharded: ShardedAdamW?
    let say: (String) -> Void
    /// The processes of a data-parallel run; each computes `batch / size` rows of every batch.
    public let collective: Collective

    /// A new run (`resume == false`) or the continuation of the one saved in `outDir`. A new run
    /// starts from `initFrom` when given (continued pretraining of a checkpoint: its shape and
    /// weights, a fresh optimizer and schedule), else from GPT-2's initialisation.
    public init(device: Device, tokenizer: Tokenizer, tokens: [Int32], options: PretrainOptions, outDir: String,
                resume: Bool, initFrom: GPT2? = nil, collective: Collective = SingleProcess(),
                log: @escaping (String) -> Void = { print($0) }) throws {
        self.options = options
        self.outDir = outDir
        self.tokenizer = tokenizer
        self.collective = collective
        self.resume = resume
        // Rank 0 alone speaks, logs and saves.
        say = collective.isLeader ? log : { _ in }
        try options.validate()
        try collective.checkSplits(batch: options.batch, "rows")
        if resume {
            model = try Checkpoint.load(outDir, device: device)
            guard model.config.objective == options.objective else {
                throw FoundryError("cannot resume: \(outDir) holds a \(model.config.objective.rawValue) model but this run asks for --objective \(options.objective.rawValue)")
            }
            guard model.config.vocabSize == tokenizer.vocabSize else {
                throw FoundryError("cannot resume: the model's vocabulary (\(model.config.vocabSize)) does not match its tokenizer (\(tokenizer.vocabSize))")
            }
        } else if let initFrom {
            guard initFrom.config.vocabSize >= tokenizer.vocabSize else {
                throw FoundryError("--init-from: the model's vocabulary (\(initFrom.config.vocabSize)) is smaller than the tokenizer's (\(tokenizer.vocabSize)): use the model's own tokenizer")
            }
            guard initFrom.config.objective == options.objective else {
                throw FoundryError("--init-from holds a \(initFrom.config.objective.rawValue) model but this run asks for --objective \(options.objective.rawValue)")
            }
            model = initFrom
        } else {
            let config = GPT2Config(vocabSize: tokenizer.vocabSize, maxSeq: options.context, channels: options.embd,
                                    layers: options.layers, heads: options.heads, objective: options.objective,
                                    eosTokenId: Int(tokenizer.eosToken))
            model = try GPT2(config: config, device: device)
            try model.initialise(seed: options.seed)
        }
        if options.objective == .masked && tokenizer.maskToken < 0 {
            throw FoundryError("--objective masked needs a [MASK] token, and this tokenizer has none: train a tokenizer with Foundry")
        }
        try model.checkFits(batch: options.batch / collective.size, seq: min(options.context, model.config.maxSeq))
        data = try TokenDataset(tokens: tokens, seq: min(options.context, model.config.maxSeq))
        if options.zero == 1 && collective.isDistributed {
            let z = try ShardedAdamW(model: model, collective: collective, weightDecay: options.weightDecay, beta2: options.beta2)
            sharded = z; optimizer = nil
            say(String(format: "ZeRO-1: each rank keeps the optimizer's moments of 1/%d of the parameters (%.1f MiB less a rank)",
                       collective.size, Double(z.savedBytes) / 1_048_576))
        } else {
            let o = try AdamW(model: model, weightDecay: options.weightDecay)
            o.beta2 = options.beta2
            optimizer = o; sharded = nil
        }
    }

    var seq: Int { min(options.context, model.config.maxSeq) }
    var tokensPerStep: Int { options.batch * seq * options.gradAccum }

    func batch(_ rng: inout RNG, from split: [Int32]) -> (inputs: [Int32], targets: [Int32]) {
        switch options.objective {
        case .causal: return data.causalBatch(&rng, batch: options.batch, seq: seq, from: split)
        case .masked: return data.maskedBatch(&rng, batch: options.batch, seq: seq, from: split,
                                              maskToken: tokenizer.maskToken, vocab: model.config.vocabSize)
        }
    }

    /// Mean loss over the validation split: sequential windows for a causal model, a fixed
    /// masking for a masked one, so every evaluation sees the same tokens.
    public func validationLoss() throws -> Double {
        var total = 0.0, count = 0
        let T = seq, B = options.batch
        if options.objective == .masked {
            var rng = RNG(seed: 0xE7A1)
            let batches = max(1, options.evalTokens / (B * T))
            for _ in 0..<batches {
                let (x, y) = batch(&rng, from: data.val)
                try model.forward(tokens: x, batch: B, seq: T)
                let (l, n) = try model.loss(targets: y)
                total += l * Double(n); count += n
            }
            return total / Double(max(count, 1))
        }
        return try windowedLoss(model: model, tokens: data.val, seq: T, batch: B, maxTokens: options.evalTokens)
    }

    func preview() {
        guard collective.isLeader, options.objective == .causal, options.previewTokens > 0,
              let gen = try? Generator(model: model) else { return }
        var s = SamplingSettings()
        s.maxTokens = options.previewTokens
        s.filter = SamplingFilter(temperature: 0.8)
        s.seed = 7
        guard let out = try? gen.generate(prompt: [tokenizer.eosToken], settings: s) else { return }
        let text = tokenizer.decode(out).replacingOccurrences(of: "\n", with: "\n  | ")
        say("  sample:\n  | \(text)")
    }

    /// This call's figures, for the result and the logged rate.
    var started = Date(), stepsRun = 0, reduceSeconds = 0.0

    public func run() throws -> PretrainResult {
        let lock = collective.isLeader ? try RunLock(outDir) : nil
        defer { lock?.release() }
        if collective.isLeader { try FileSet.recover(outDir) }
        let resumingAt = resume ? StageCheckpoint.savedStep(outDir) : nil
        let log = try StageLog(metricsPath: collective.isLeader ? Checkpoint.path(outDir, "metrics.jsonl") : nil,
                               resumingAt: resume ? (resumingAt ?? 0) : nil, log: say)
        let c = model.config
        if !resume {
            say("model: \(c.layers) layers, \(c.heads) heads, \(c.channels) wide, context \(c.maxSeq), vocab \(c.vocabSize) (\(tokenizer.kind)), \(c.parameterCount) parameters, \(c.objective.rawValue)")
            say("data: \(data.train.count) training tokens, \(data.val.count) validation tokens; \(tokensPerStep) tokens per step on \(model.device.backend) (\(model.device.name))"
                + (collective.isDistributed ? ", \(collective.size) ranks of \(options.batch / collective.size) rows each" : ""))
        }
        if options.warmup >= options.steps {
            say("note: --warmup \(options.warmup) is not shorter than the run (\(options.steps) steps): the learning rate never reaches --lr \(options.lr); pass a smaller --warmup")
        }
        started = Date(); stepsRun = 0; reduceSeconds = 0
        let checkpoint = StageCheckpoint(dir: outDir, saveEvery: options.saveEvery, tokenizer: tokenizer)
        let outcome = try StageRunner(log: log, checkpoint: checkpoint, resume: resume).run(self)
        let seconds = Date().timeIntervalSince(started)
        var interrupted = false
        if case .interrupted = outcome.end {
            interrupted = true
            say("interrupted at step \(outcome.progress.step): checkpoint saved to \(outDir); continue with the same command and --resume")
        } else {
            say("saved \(outDir) at step \(outcome.progress.step)")
        }
        // This call's losses and its last validation loss, from the steps' logged figures.
        let losses = outcome.history.compactMap { $0["loss"] }
        return PretrainResult(steps: outcome.progress.step, lastLoss: losses.last ?? .nan,
                              valLoss: outcome.history.last { $0["val_loss"] != nil }?["val_loss"], seconds: seconds,
                              tokensPerSecond: Double(stepsRun * tokensPerStep) / max(seconds, 1e-9),
                              interrupted: interrupted, losses: losses, reduceSeconds: reduceSeconds)
    }
}

extension Pretrainer: StageObjective {
    public var stage: Stage { .pretrain }
    public var steps: Int { options.steps }
    public var lastStep: Int { min(options.steps, options.stopAt ?? options.steps) }
    public var schedule: LRSchedule { LRSchedule(maxLR: options.lr, minLR: options.minLR, warmup: options.warmup, total: options.steps) }
    /// Batches are windows at random offsets of the token stream, drawn from the run's generator.
    public var generatorSeed: UInt64? { options.seed &+ 1 }
    public var logEvery: Int { options.logEvery }

    /// What a resumed run must keep: the schedule and the batch, by flag.
    public var resumeSettings: [String: String] { options.resumeSettings }

    func evaluates(after step: Int) -> Bool {
        options.evalEvery > 0 && (step % options.evalEvery == 0 || step == lastStep)
    }

    public func step(_ step: StageStep, _ progress: inout StageProgress) throws -> [(String, Double)] {
        model.zeroGrad()
        var stepLoss = 0.0
        var lastValid = 0
        for micro in 0..<options.gradAccum {
            // Every rank draws the same global batch (the same generator) and computes its shard.
            let (x, y) = batch(&progress.rng!, from: data.train)
            let rows = collective.shard(of: options.batch)
            let valid = y.filter { $0 >= 0 }.count
            // Scaled by the global batch's targets: the ranks' gradients add up to the whole batch's.
            try model.accumulateNextTokenGradients(tokens: Array(x[rows.lowerBound * seq..<rows.upperBound * seq]),
                                                   targets: Array(y[rows.lowerBound * seq..<rows.upperBound * seq]),
                                                   batch: rows.count, seq: seq, stepTargets: max(valid, 1) * options.gradAccum)
            lastValid = valid
            // The last micro-batch's loss is read after the update: one wait per step.
            if micro < options.gradAccum - 1 { stepLoss += try collective.meanLoss(of: model, valid: valid) / Double(options.gradAccum) }
        }
        // The ranks' gradients combined (summed, or reduce-scattered and updated by ZeRO-1),
        // timed once the backward has finished.
        var shardedNorm: Double?
        if collective.isDistributed {
            try model.device.finish()
            let t0 = Date()
            if let sharded { shardedNorm = try sharded.step(lr: step.lr, clip: options.clip) } else { try collective.sumGradients(of: model) }
            reduceSeconds += Date().timeIntervalSince(t0)
        }
        let pendingNorm = shardedNorm == nil ? optimizer!.update(model, lr: step.lr, clip: options.clip) : nil
        stepLoss += try collective.meanLoss(of: model, valid: lastValid) / Double(options.gradAccum)
        let norm = try shardedNorm ?? pendingNorm!.read()
        stepsRun += 1
        let tps = Double(stepsRun * tokensPerStep) / max(Date().timeIntervalSince(started), 1e-9)
        var fields = [("loss", stepLoss), ("lr", Double(step.lr)), ("grad_norm", norm), ("tokens_per_sec", tps)]
        if evaluates(after: step.index + 1) {
            fields.append(("val_loss", try validationLoss()))
        }
        return fields
    }

    public func afterStep(_ step: StageStep) throws {
        if evaluates(after: step.index + 1) { preview() }
    }

    /// ZeRO-1's moments are gathered from every rank.
    public var snapshotOnEveryRank: Bool { sharded != nil }

    /// AdamW's moments, gathered whole from the ranks under ZeRO-1 (so any number of ranks resumes).
    public func snapshot() throws -> StageSnapshot {
        let (m, v, step) = try sharded?.gatheredState() ?? optimizer!.state(model.device)
        return StageSnapshot(model: model, tensors: [NamedTensor(name: "adamw.m", shape: [m.count], values: m),
                                                     NamedTensor(name: "adamw.v", shape: [v.count], values: v),
                                                     NamedTensor(name: "adamw.step", shape: [1], values: [Float(step)])])
    }

    public func restore(_ tensors: [String: NamedTensor], _ progress: StageProgress) throws {
        guard let m = tensors["adamw.m"], let v = tensors["adamw.v"], let step = tensors["adamw.step"]?.values.first else {
            throw FoundryError("cannot resume: the saved state in \(outDir) lacks AdamW's moments")
        }
        if let sharded { try sharded.restore(m: m.values, v: v.values, step: Int(step)) } else {
            try optimizer!.restore(m: m.values, v: v.values, step: Int(step), device: model.device)
        }
    }
}

/// Mean next-token loss over consecutive, non-overlapping windows of `tokens` (up to
/// `maxTokens` of them): a deterministic validation loss.
public func windowedLoss(model: GPT2, tokens: [Int32], seq T: Int, batch B: Int, maxTokens: Int) throws -> Double {
    let windows = min((tokens.count - 1) / T, max(1, maxTokens / T))
    var total = 0.0, count = 0, w = 0
    while w < windows {
        let b = min(B, windows - w)
        var x: [Int32] = [], y: [Int32] = []
        for i in w..<w + b {
            x += tokens[i * T..<(i + 1) * T]
            y += tokens[i * T + 1...(i + 1) * T]
        }
        try model.forward(tokens: x, batch: b, seq: T)
        let (l, n) = try model.loss(targets: y)
        total += l * Double(n); count += n
        w += b
    }
    return total / Double(max(count, 1))
}

func formatDuration(_ s: Double) -> String {
    guard s.isFinite else { return "?" }
    let t = Int(s.rounded())
    return t >= 3600 ? "\(t / 3600)h\(String(format: "%02d", t / 60 % 60))m" : "\(t / 60)m\(String(format: "%02d", t % 60))s"
}
