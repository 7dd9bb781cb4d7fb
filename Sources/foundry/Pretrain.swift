import ArgumentParser
import Foundation
import FoundryCore
import FoundryData
import FoundryModel
import FoundryPipeline
import FoundryTrain

struct Pretrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Self-supervised pretraining: next-token (or masked-token) prediction on a text file.",
        discussion: """
        Defaults are nanoGPT's CPU settings for character-level Shakespeare. Without --data it trains \
        on a corpus Foundry generates itself. The output directory is a Hugging Face GPT-2 checkpoint \
        (config.json, model.safetensors, tokenizer.json) plus stage_state.safetensors, \
        stage_state.json and metrics.jsonl. Ctrl-C saves a checkpoint; --resume continues it.

        Example: foundry pretrain --data ../shared/data/tinyshakespeare.txt --out runs/shakespeare
        """)

    static let defaults = PretrainOptions()
    @Option(help: "UTF-8 text file to train on (default: Foundry's built-in generated corpus).")
    var data: String?
    @Option(help: "Output checkpoint directory.")
    var out = "runs/pretrain"
    @Option(help: "Tokenizer: char or bpe (trained on --data), or a tokenizer.json to reuse.")
    var tokenizer = TokenizerChoice.train(.char)
    @Option(help: "Vocabulary size when training a BPE tokenizer.")
    var vocabSize = TokenizerKind.defaultVocabSize
    @Option(help: "Transformer blocks.") var layers = defaults.layers
    @Option(help: "Attention heads per block.") var heads = defaults.heads
    @Option(help: "Model width (channels).") var embd = defaults.embd
    @Option(help: "Context length in tokens.") var context = defaults.context
    @Option(help: "Sequences per micro-batch.") var batch = defaults.batch
    @Option(help: "Optimizer steps (the cosine schedule ends here).") var steps = defaults.steps
    @Option(help: "Peak learning rate.") var lr = defaults.lr
    @Option(help: "Final learning rate (default: lr / \(Int(LRSchedule.defaultFloorDivisor))).") var minLr: Float?
    @Option(help: "Linear warmup steps.") var warmup = defaults.warmup
    @Option(help: "Micro-batches per optimizer step.") var gradAccum = defaults.gradAccum
    @Option(help: "AdamW weight decay (matrices and embeddings only).") var weightDecay = defaults.weightDecay
    @Option(help: "Clip the global gradient norm to this (0: off).") var clip = defaults.clip
    @Option(help: "Evaluate validation loss (and print a sample) every N steps.") var evalEvery = defaults.evalEvery
    @Option(help: "Validation tokens per evaluation.") var evalTokens = defaults.evalTokens
    @Option(help: "Save a checkpoint every N steps.") var saveEvery = defaults.saveEvery
    @Option(help: "Print a progress line every N steps.") var logEvery = defaults.logEvery
    @Option(help: "Random seed (initialisation and batches).") var seed = defaults.seed
    @Option(help: "causal (GPT, next token) or masked (BERT-style, bidirectional).") var objective = defaults.objective
    @Option(help: "Stop and save after this step (the schedule still spans --steps).") var stopAt: Int?
    @Option(help: "Under mpirun: 1 shards the optimizer's moments across the ranks (ZeRO-1); 0 keeps them whole on every rank.")
    var zero = PretrainOptions().zero
    @Flag(help: "Continue the run saved in --out.") var resume = false
    @Option(help: "Start from this checkpoint (Foundry's or transformers' GPT-2; its shape, weights and tokenizer unless --tokenizer names a file) instead of a fresh initialisation.")
    var initFrom: String?
    @Flag(help: "Replace the model already in --out (instead of refusing).") var overwrite = false
    @OptionGroup var deviceOptions: DeviceOptions

    var options: PretrainOptions {
        var o = Self.defaults
        o.layers = layers; o.heads = heads; o.embd = embd; o.context = context; o.batch = batch; o.steps = steps
        o.lr = lr; o.minLR = minLr; o.warmup = warmup; o.gradAccum = gradAccum; o.weightDecay = weightDecay
        o.clip = clip; o.evalEvery = evalEvery; o.evalTokens = evalTokens; o.saveEvery = saveEvery
        o.logEvery = logEvery; o.seed = seed; o.objective = objective; o.stopAt = stopAt; o.zero = zero
        return o
    }

    func validate() throws {
        try options.validate()
        if resume && !FileManager.default.fileExists(atPath: Checkpoint.path(out, "config.json")) {
            throw ValidationError("cannot resume: \(out) has no checkpoint (run without --resume to start one)")
        }
        // Under mpirun rank 0 alone writes --out (and checks it); the others only read it.
        if !resume && !Launch.isFollower { try Checkpoint.checkNewRun(out, overwrite: overwrite) }
    }

    func run() throws {
        let collective = try Launch.collective()
        defer { Launch.finish(collective) }
        let text: String
        if let data {
            text = try readText(data)
        } else {
            print("no --data given: training on Foundry's built-in generated corpus")
            text = BuiltinCorpus.generate(characters: 1_000_000, seed: 1)
        }
        let device = try deviceOptions.open()
        let tok: Tokenizer
        var start: GPT2?
        if let initFrom, !resume {
            let (model, own) = try loadModel(initFrom, device: device, needTokenizer: false)
            start = model
            if case .file(let path) = tokenizer { tok = try TokenizerIO.load(path: path) } else {
                guard let own else { throw FoundryError("\(initFrom) has no tokenizer.json: pass --tokenizer FILE (the tokenizer it was trained with)") }
                tok = own
            }
            print("starting from \(initFrom): \(model.config.layers) layers × \(model.config.channels) wide, context \(model.config.maxSeq), vocabulary \(model.config.vocabSize)")
        } else if resume, let saved = try Checkpoint.loadTokenizer(out) {
            tok = saved
        } else {
            switch tokenizer {
            case .train(let kind): tok = try TokenizerIO.train(kind: kind, corpus: text, vocabSize: vocabSize)
            case .file(let path): tok = try TokenizerIO.load(path: path)
            }
        }
        let tokens = try tok.encode(text)
        var o = options
        if let start { o.context = min(o.context, start.config.maxSeq); o.layers = start.config.layers; o.heads = start.config.heads; o.embd = start.config.channels }
        let trainer = try Pretrainer(device: device, tokenizer: tok, tokens: tokens, options: o, outDir: out, resume: resume, initFrom: start,
                                     collective: collective) {
            print($0); fflush(stdout)
        }
        let r = try trainer.run()
        print(String(format: "done: %d steps in %.1f s, %.0f tokens/s, last loss %.4f", r.steps, r.seconds, r.tokensPerSecond, r.lastLoss)
              + (r.valLoss.map { String(format: ", val loss %.4f", $0) } ?? "")
              + (collective.isDistributed ? String(format: "; %d ranks, gradient all-reduce %.1f s (%.1f%% of the run)",
                                                   collective.size, r.reduceSeconds, 100 * r.reduceSeconds / max(r.seconds, 1e-9)) : ""))
        printKernelProfile(device)
        if r.interrupted { throw ExitCode(130) }
    }
}
