import ArgumentParser
import Foundation
import FoundryCore
import FoundryData
import FoundryModel
import FoundryTrain

/// What every post-training command shares: the model directory, the output and the device.
struct StageOptions: ParsableArguments {
    @Option(help: "Starting model directory (a Foundry or Hugging Face GPT-2 checkpoint).") var model: String
    @Option(help: "Output checkpoint directory.") var out: String
    @Option(help: "Random seed.") var seed: UInt64 = 1
    @OptionGroup var deviceOptions: DeviceOptions

    func load() throws -> (Device, GPT2, Tokenizer, StageData) {
        let device = try deviceOptions.open()
        let (model, tok) = try loadModel(self.model, device: device, needTokenizer: true)
        return (device, model, tok!, try StageData(tokenizer: tok!, maxSeq: model.config.maxSeq))
    }

    func stageLog(_ name: String) throws -> StageLog {
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        return try StageLog(stage: name, metricsPath: Checkpoint.path(out, "metrics.jsonl")) { print($0); fflush(stdout) }
    }
}

struct SFT: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sft",
        abstract: "Supervised finetuning on demonstrations (JSONL: prompt/completion, or messages).",
        discussion: """
        The loss covers completion tokens only (TRL's completion_only_loss) unless
        --completion-only-loss false. --freeze-embeddings and --freeze-layers K keep the embeddings
        and the first K blocks fixed, the usual guard against forgetting what pretraining taught;
        --pretrain-data measures that forgetting (validation loss before and after).

        Example: foundry sft --model runs/pretrain --data task/sft.jsonl --out runs/sft --eval task/eval.jsonl
        """)
    @OptionGroup var stage: StageOptions
    @Option(help: "SFT data (JSONL; .gz allowed).") var data: String
    @Option(help: "Learning rate.") var lr: Float = 3e-4
    @Option(help: "Passes over the data.") var epochs = 3
    @Option(help: "Examples per step.") var batch = 16
    @Option(help: "Train on the completion only (true) or the whole text (false).") var completionOnlyLoss = true
    @Option(help: "Freeze the embeddings and the first K blocks.") var freezeLayers = 0
    @Flag(help: "Freeze the token and position embeddings (and so the tied LM head).") var freezeEmbeddings = false
    @Option(help: "Held-out prompts with answers (JSONL) for task accuracy before and after.") var eval: String?
    @Option(help: "Pretraining text, to report forgetting as validation loss before and after.") var pretrainData: String?

    func run() throws {
        let (_, model, tok, data) = try stage.load()
        let rows = try Datasets.readSFT(path: self.data)
        let examples = try data.sft(rows, completionOnly: completionOnlyLoss)
        var o = SFTOptions()
        o.lr = lr; o.epochs = epochs; o.batch = batch; o.freezeLayers = freezeLayers; o.freezeEmbeddings = freezeEmbeddings
        o.seed = stage.seed
        let report = try ForgettingAndAccuracy(model: model, tokenizer: tok, data: data, evalPath: eval, pretrainPath: pretrainData)
        try report.measure("before")
        let trainer = try SFTTrainer(model: model, examples: examples, options: o, pad: tok.eosToken)
        print("sft: \(examples.count) examples, \(trainer.steps) steps, \(trainer.frozenDescription)")
        try trainer.run(log: try stage.stageLog("sft"))
        try report.measure("after")
        try Checkpoint.save(model, tokenizer: tok, to: stage.out)
        print("saved \(stage.out)")
    }
}

/// Before/after figures an SFT run reports: task accuracy and pretraining validation loss.
struct ForgettingAndAccuracy {
    let model: GPT2, tokenizer: Tokenizer, data: StageData
    let prompts: [RLPrompt], pretrainTokens: [Int32]?

    init(model: GPT2, tokenizer: Tokenizer, data: StageData, evalPath: String?, pretrainPath: String?) throws {
        self.model = model; self.tokenizer = tokenizer; self.data = data
        prompts = try evalPath.map { try Datasets.readPrompts(path: $0) } ?? []
        pretrainTokens = try pretrainPath.map { try tokenizer.encode(try readText($0)) }
    }

    func measure(_ label: String) throws {
        var parts: [String] = []
        if !prompts.isEmpty {
            let acc = try taskAccuracy(model: model, tokenizer: tokenizer, data: data, prompts: prompts)
            parts.append(String(format: "task accuracy %.1f%% (greedy), %.1f%% (T=0.7)", 100 * acc.greedyAccuracy, 100 * acc.sampledAccuracy))
        }
        if let t = pretrainTokens {
            parts.append(String(format: "pretraining val loss %.4f", try pretrainValLoss(model: model, tokens: t)))
        }
        if !parts.isEmpty { print("\(label): " + parts.joined(separator: ", ")) }
    }
}

/// Mean next-token loss on the last 10% of a pretraining corpus (its validation split).
func pretrainValLoss(model: GPT2, tokens: [Int32], maxTokens: Int = 16_384) throws -> Double {
    try windowedLoss(model: model, tokens: Array(tokens[Int(Double(tokens.count) * 0.9)...]), seq: model.config.maxSeq,
                     batch: 8, maxTokens: maxTokens)
}

/// Greedy and sampled accuracy on prompts with answers, checked by the synthetic task's checker.
func taskAccuracy(model: GPT2, tokenizer: Tokenizer, data: StageData, prompts: [RLPrompt],
                  reward: RewardModel? = nil, reference: GPT2? = nil, maxNewTokens: Int = 8) throws -> EvalResult {
    let tokens = try data.prompts(prompts)
    return try Evaluator.evaluate(policy: model, prompts: tokens, eos: tokenizer.eosToken, maxNewTokens: maxNewTokens,
                                  correct: { i, response in
                                      guard let answer = prompts[i].answer else { return false }
                                      return SynthTask.check(completion: tokenizer.decode(response), answer: answer)
                                  }, reward: reward, reference: reference)
}

extension SFTTrainer {
    var frozenDescription: String { "frozen parameters: \(frozenCount)" }
}
