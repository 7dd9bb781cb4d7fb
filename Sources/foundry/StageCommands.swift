import ArgumentParser
import Foundation
import FoundryCore
import FoundryFiles
import FoundryData
import FoundryModel
import FoundryPipeline
import FoundryTrain

/// What every post-training command shares: the model directory, the output, the device, the
/// seed and LoRA (`StageCommon`), and the frame a run goes in (`train`).
struct StageOptions: ParsableArguments {
    @Option(help: "Starting model directory (a Foundry or Hugging Face GPT-2 checkpoint).") var model: String
    @Option(help: "Output checkpoint directory.") var out: String
    @Option(help: "Random seed.") var seed = StageCommon(logEvery: 1).seed
    @Flag(help: "Replace the model already in --out (instead of refusing).") var overwrite = false
    @Flag(help: "Continue the run saved in --out (same options as the run it continues).") var resume = false
    @Option(help: "Save progress to --out every N steps (0: only at the end and when stopped by a signal).") var saveEvery = 0
    @OptionGroup var deviceOptions: DeviceOptions
    @OptionGroup var lora: LoRAFlags

    /// `base` (a stage's defaults) with the seed and LoRA given here.
    func options<O: StageOptionSet>(_ base: O = O()) -> O {
        var o = base
        o.seed = seed; o.lora = lora.options
        return o
    }

    /// What a training command's run has in hand.
    struct Run {
        let collective: Collective, device: Device, model: GPT2, tokenizer: Tokenizer, data: StageData
    }

    /// The frame of every training command: this process's part of the job (alone, or one
    /// rank under mpirun), the model loaded (from --out on --resume), the run directory locked
    /// by rank 0, the stage's data read (`read`, before any long work), task accuracy (and
    /// forgetting) measured before and after with `eval` (`pretrainData`), and the end
    /// reported (`note` after the directory). `body` trains and says how it ended.
    func train<D>(rewardModel: Bool = false, eval: String? = nil, pretrainData: String? = nil, note: String = "",
                  read: (Run) throws -> D, _ body: (Run, D) throws -> StageEnd) throws {
        let collective = try Launch.collective()
        defer { Launch.finish(collective) }
        let (device, model, tok, data) = try load(rewardModel: rewardModel, lora: lora.options.enabled)
        let lock = collective.isLeader ? try RunLock(out) : nil   // one writer per run directory
        defer { lock?.release() }
        let run = Run(collective: collective, device: device, model: model, tokenizer: tok, data: data)
        let rows = try read(run)
        let report = try ForgettingAndAccuracy(model: model, tokenizer: tok, data: data, evalPath: eval, pretrainPath: pretrainData)
        if !resume, let line = try report.measure("before") { print(line) }
        let end = try body(run, rows)
        if case .finished = end, let line = try report.measure("after") { print(line) }
        try finish(end, note)
    }

    func validate() throws {
        guard saveEvery >= 0 else { throw ValidationError("--save-every must be 0 or more, not \(saveEvery)") }
        if resume {
            guard StageCheckpoint.exists(out) else {
                throw ValidationError("cannot resume: \(out) holds no saved stage progress (run without --resume to start one)")
            }
        } else if !Launch.isFollower {   // under mpirun rank 0 alone writes --out
            try Checkpoint.checkNewRun(out, overwrite: overwrite)
        }
    }

    /// Where the stage saves, and resumes from.
    func checkpoint(_ tokenizer: Tokenizer) -> StageCheckpoint {
        StageCheckpoint(dir: out, saveEvery: saveEvery, tokenizer: tokenizer, baseModel: model)
    }

    /// A stage stopped by a signal: its progress is saved; exit as Ctrl-C does.
    func finish(_ end: StageEnd, _ note: String = "") throws {
        if case .interrupted(let step) = end {
            print("interrupted at step \(step): progress saved to \(out); continue with the same command and --resume")
            throw ExitCode(130)
        }
        print("saved \(out)" + note + (DeviceOptions.peakMemoryLine.map { "; " + $0 } ?? ""))
    }

    /// The model to train: the starting --model, or on --resume the one saved in --out. A LoRA
    /// run (`lora`) resumes from --model, its base, and the adapters in the saved state.
    func load(rewardModel: Bool = false, lora: Bool = false) throws -> (Device, GPT2, Tokenizer, StageData) {
        let device = try deviceOptions.open()
        let fromOut = resume && !lora
        let (loaded, tok) = try loadModel(fromOut ? out : self.model, device: device, needTokenizer: true, rewardModel: rewardModel && fromOut)
        guard loaded.config.objective == .causal else {
            throw FoundryError("\(self.model) is a masked (BERT-style) model: SFT, reward models, DPO, PPO and GRPO start from a causal one (`foundry pretrain` without --objective masked)")
        }
        let (model, tokenizer) = try withChatTokens(loaded, tok!, announce: true)
        return (device, model, tokenizer, try StageData(tokenizer: tokenizer, maxSeq: model.config.maxSeq))
    }

    /// A pretrained model whose tokenizer lacks Foundry's chat tokens (a stock GPT-2) gets them:
    /// the tokenizer's new specials, and the embedding grown by rows equal to the mean of the old ones.
    func withChatTokens(_ model: GPT2, _ tokenizer: Tokenizer, announce: Bool) throws -> (GPT2, Tokenizer) {
        let (grown, added) = try TokenizerIO.addingSpecials([TokenizerSpecials.eos, TokenizerSpecials.user, TokenizerSpecials.assistant], to: tokenizer)
        guard !added.isEmpty else { return (model, tokenizer) }
        let bigger = try model.growingVocabulary(to: max(model.config.vocabSize, grown.vocabSize))
        if announce {
            print("note: \(self.model)'s tokenizer had no \(added.joined(separator: " ")): added as tokens \(tokenizer.vocabSize)...\(grown.vocabSize - 1), "
                  + "the embedding grown to \(bigger.config.vocabSize) rows (the new ones the mean of the others)")
        }
        return (bigger, grown)
    }

    /// The starting model as a frozen reference (PPO, GRPO with β > 0), grown like the policy.
    func loadReference(_ device: Device) throws -> GPT2 {
        let (model, tok) = try loadModel(self.model, device: device, needTokenizer: true)
        return try withChatTokens(model, tok!, announce: false).0
    }

    func stageLog() throws -> StageLog {
        if Launch.isFollower { return try StageLog(metricsPath: nil) { _ in } }   // rank 0 logs
        try AtomicFile.makeDirectory(out)
        return try StageLog(metricsPath: Checkpoint.path(out, "metrics.jsonl"),
                            resumingAt: resume ? StageCheckpoint.savedStep(out) : nil) { print($0); fflush(stdout) }
    }
}

struct SFT: TrainingCommand {
    static let configuration = CommandConfiguration(
        commandName: "sft",
        abstract: "Supervised finetuning on demonstrations (JSONL: prompt/completion, or messages).",
        discussion: """
        The loss covers completion tokens only (TRL's completion_only_loss) unless \
        --completion-only-loss false. --freeze-embeddings and --freeze-layers K keep the embeddings \
        and the first K blocks fixed, the usual guard against forgetting what pretraining taught; \
        --pretrain-data measures that forgetting (validation loss before and after). --lora-rank R \
        trains low-rank adapters instead (--lora-targets, --lora-alpha), another guard.

        Example: foundry sft --model runs/pretrain --data task/sft.jsonl --out runs/sft --eval task/eval.jsonl
        """)
    static let defaults = SFTOptions()
    @OptionGroup var stage: StageOptions
    @Option(help: "SFT data (JSONL; .gz allowed).") var data: String
    @OptionGroup var schedule: ScheduleFlags<SFTOptions>
    @Option(help: "Train on the completion only (true) or the whole text (false).") var completionOnlyLoss = defaults.completionOnlyLoss
    @Option(help: "Freeze the embeddings and the first K blocks.") var freezeLayers = defaults.freezeLayers
    @Flag(help: "Freeze the token and position embeddings (and so the tied LM head).") var freezeEmbeddings = defaults.freezeEmbeddings
    @OptionGroup var measure: EvalFlag
    @Option(help: "Pretraining text, to report forgetting as validation loss before and after.") var pretrainData: String?

    func configure(_ o: inout SFTOptions) {
        schedule.apply(to: &o)
        o.completionOnlyLoss = completionOnlyLoss; o.freezeLayers = freezeLayers; o.freezeEmbeddings = freezeEmbeddings
    }

    func run() throws {
        let o = options
        try stage.train(eval: measure.eval, pretrainData: pretrainData,
                        read: { try $0.data.sft(try Datasets.readSFT(path: self.data), completionOnly: o.completionOnlyLoss) }) { run, examples in
            let trainer = try SFTTrainer(model: run.model, examples: examples, options: o, pad: run.tokenizer.eosToken, collective: run.collective)
            print("sft: \(examples.count) examples, \(trainer.steps) steps, \(trainer.frozenDescription)")
            try trainer.run(log: try stage.stageLog(), checkpoint: stage.checkpoint(run.tokenizer), resume: stage.resume)
            return trainer.end
        }
    }
}

extension SFTTrainer {
    var frozenDescription: String { "frozen parameters: \(frozenCount)" }
}
