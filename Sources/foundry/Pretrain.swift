import ArgumentParser
import Foundation
import FoundryCore
import FoundryData
import FoundryModel
import FoundryTrain

struct Pretrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Self-supervised pretraining: next-token (or masked-token) prediction on a text file.",
        discussion: """
        Defaults are nanoGPT's CPU settings for character-level Shakespeare. Without --data it trains
        on a corpus Foundry generates itself. The output directory is a Hugging Face GPT-2 checkpoint
        (config.json, model.safetensors, tokenizer.json) plus optimizer.safetensors,
        trainer_state.json and metrics.jsonl. Ctrl-C saves a checkpoint; --resume continues it.

        Example: foundry pretrain --data ../shared/data/tinyshakespeare.txt --out runs/shakespeare
        """)

    @Option(help: "UTF-8 text file to train on (default: Foundry's built-in generated corpus).")
    var data: String?
    @Option(help: "Output checkpoint directory.")
    var out = "runs/pretrain"
    @Option(help: "Tokenizer: char, bpe, or a tokenizer.json to reuse.")
    var tokenizer = "char"
    @Option(help: "Vocabulary size when training a BPE tokenizer.")
    var vocabSize = 512
    @Option(help: "Transformer blocks.") var layers = 4
    @Option(help: "Attention heads per block.") var heads = 4
    @Option(help: "Model width (channels).") var embd = 128
    @Option(help: "Context length in tokens.") var context = 64
    @Option(help: "Sequences per micro-batch.") var batch = 12
    @Option(help: "Optimizer steps (the cosine schedule ends here).") var steps = 2000
    @Option(help: "Peak learning rate.") var lr: Float = 1e-3
    @Option(help: "Final learning rate (default lr/10).") var minLr: Float?
    @Option(help: "Linear warmup steps.") var warmup = 100
    @Option(help: "Micro-batches per optimizer step.") var gradAccum = 1
    @Option(help: "AdamW weight decay (matrices and embeddings only).") var weightDecay: Float = 0.1
    @Option(help: "Clip the global gradient norm to this (0: off).") var clip: Float = 1.0
    @Option(help: "Evaluate validation loss (and print a sample) every N steps.") var evalEvery = 250
    @Option(help: "Validation tokens per evaluation.") var evalTokens = 32_768
    @Option(help: "Save a checkpoint every N steps.") var saveEvery = 500
    @Option(help: "Print a progress line every N steps.") var logEvery = 10
    @Option(help: "Random seed (initialisation and batches).") var seed: UInt64 = 1337
    @Option(help: "causal (GPT, next token) or masked (BERT-style, bidirectional).") var objective = "causal"
    @Option(help: "Stop and save after this step (the schedule still spans --steps).") var stopAt: Int?
    @Flag(help: "Continue the run saved in --out.") var resume = false
    @OptionGroup var deviceOptions: DeviceOptions

    func run() throws {
        guard let obj = Objective(rawValue: objective) else {
            throw FoundryError("--objective must be causal or masked, not \(objective)")
        }
        let text: String
        if let data {
            text = try readText(data)
        } else {
            print("no --data given: training on Foundry's built-in generated corpus")
            text = BuiltinCorpus.generate(characters: 1_000_000, seed: 1)
        }
        let device = try deviceOptions.open()
        let tok: Tokenizer
        if resume, let saved = try Checkpoint.loadTokenizer(out) {
            tok = saved
        } else if tokenizer == "char" || tokenizer == "bpe" {
            tok = try TokenizerIO.train(kind: tokenizer, corpus: text, vocabSize: vocabSize)
        } else {
            tok = try TokenizerIO.load(path: tokenizer)
        }
        let tokens = try tok.encode(text)
        var o = PretrainOptions()
        o.layers = layers; o.heads = heads; o.embd = embd; o.context = context; o.batch = batch; o.steps = steps
        o.lr = lr; o.minLR = minLr; o.warmup = warmup; o.gradAccum = gradAccum; o.weightDecay = weightDecay
        o.clip = clip; o.evalEvery = evalEvery; o.evalTokens = evalTokens; o.saveEvery = saveEvery
        o.logEvery = max(1, logEvery); o.seed = seed; o.objective = obj; o.stopAt = stopAt
        if resume && !FileManager.default.fileExists(atPath: Checkpoint.path(out, "config.json")) {
            throw FoundryError("cannot resume: \(out) has no checkpoint (run without --resume to start one)")
        }
        let trainer = try Pretrainer(device: device, tokenizer: tok, tokens: tokens, options: o, outDir: out, resume: resume) {
            print($0); fflush(stdout)
        }
        let r = try trainer.run()
        print(String(format: "done: %d steps in %.1f s, %.0f tokens/s, last loss %.4f", r.steps, r.seconds, r.tokensPerSecond, r.lastLoss)
              + (r.valLoss.map { String(format: ", val loss %.4f", $0) } ?? ""))
        printKernelProfile(device)
        if r.interrupted { throw ExitCode(130) }
    }
}

/// Reads a UTF-8 text file with one-line errors for the usual mistakes.
func readText(_ path: String) throws -> String {
    var isDir: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
        throw FoundryError.missingFile(path, hint: "pass a UTF-8 text file with --data")
    }
    guard !isDir.boolValue else { throw FoundryError("\(path) is a directory: pass a UTF-8 text file") }
    guard let data = FileManager.default.contents(atPath: path) else { throw FoundryError("cannot read \(path): check its permissions") }
    guard let text = String(data: data, encoding: .utf8) else { throw FoundryError("\(path) is not valid UTF-8 text") }
    guard !text.isEmpty else { throw FoundryError("\(path) is empty: give it some text to train on") }
    return text
}
