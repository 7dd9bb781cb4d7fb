import ArgumentParser
import Foundation
import FoundryCore
import FoundryData
import FoundryModel
import FoundryTrain

struct DPO: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dpo",
        abstract: "Direct preference optimisation against the starting model as frozen reference.",
        discussion: """
        Losses: sigmoid (default, β 0.1), ipo, hinge. Logs rewards/chosen, rewards/rejected,
        rewards/margins, rewards/accuracies as TRL does.

        Example: foundry dpo --model runs/sft --data task/prefs.jsonl --out runs/dpo
        """)
    @OptionGroup var stage: StageOptions
    @Option(help: "Comparison data (JSONL; .gz allowed).") var data: String
    @Option(help: "sigmoid, ipo or hinge.") var loss = "sigmoid"
    @Option(help: "β: strength of the pull toward the reference.") var beta = 0.1
    @Option(help: "TRL's rpo_alpha: add α × the chosen answers' token NLL (RPO; 0 = off).") var rpoAlpha = 0.0
    @Option(help: "Learning rate.") var lr: Float = 1e-4
    @Option(help: "Passes over the data.") var epochs = 2
    @Option(help: "Pairs per step.") var batch = 8
    @Option(help: "Held-out prompts with answers (JSONL) for task accuracy before and after.") var eval: String?

    func run() throws {
        guard let kind = Losses.DPOKind(rawValue: loss) else { throw FoundryError("--loss must be sigmoid, ipo or hinge, not \(loss)") }
        guard rpoAlpha >= 0 else { throw FoundryError("--rpo-alpha must be 0 or more (TRL's papers use 1.0)") }
        let (_, model, tok, data) = try stage.load()
        let pairs = try data.pairs(try Datasets.readPreferences(path: self.data))
        var o = DPOOptions()
        o.loss = kind; o.beta = beta; o.lr = lr; o.epochs = epochs; o.batch = batch; o.seed = stage.seed
        o.rpoAlpha = rpoAlpha
        let report = try ForgettingAndAccuracy(model: model, tokenizer: tok, data: data, evalPath: eval, pretrainPath: nil)
        try report.measure("before")
        try DPOTrainer(policy: model, options: o, pad: tok.eosToken).run(pairs, log: try stage.stageLog("dpo"))
        try report.measure("after")
        try Checkpoint.save(model, tokenizer: tok, to: stage.out)
        print("saved \(stage.out)")
    }
}

/// The reward a policy's samples get: a reward model, or the task's ground-truth checker.
func makeScorer(rewardModel: String?, checker: Bool, prompts: [RLPrompt], tokenizer: Tokenizer, device: Device) throws
    -> ([Rollout]) throws -> [Double] {
    if let rewardModel {
        let rm = try RewardModel.load(rewardModel, device: device)
        return { rollouts in
            try rm.rewards(SequenceBatch(sequences: rollouts.map(\.scored), pad: tokenizer.eosToken, maxSeq: rm.backbone.config.maxSeq, keepEnd: true))
        }
    }
    guard checker else { throw FoundryError("give --reward-model DIR, or --checker to reward with the task's ground truth") }
    guard prompts.allSatisfy({ $0.answer != nil }) else {
        throw FoundryError("--checker needs an \"answer\" on every prompt row")
    }
    return { rollouts in
        rollouts.map { r in
            let text = tokenizer.decode(r.answer)
            return SynthTask.check(completion: text, answer: prompts[r.promptIndex].answer!) ? 1 : 0
        }
    }
}

struct PPO: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ppo",
        abstract: "RLHF with PPO: policy and frozen reference from --model, value model from the reward model.",
        discussion: """
        TRL semantics: per-token reward −kl_coef·KL with the score at the last real token, GAE,
        whitened advantages, clipped policy and value losses, PPO epochs over minibatches. Logs
        objective/kl, objective/entropy, objective/scores, objective/rlhf_reward,
        policy/approxkl_avg, policy/clipfrac_avg, loss/policy_avg, loss/value_avg, val/ratio.

        Example: foundry ppo --model runs/sft --reward-model runs/reward --prompts task/rl_prompts.jsonl --out runs/ppo
        """)
    @OptionGroup var stage: StageOptions
    @Option(help: "Reward model directory (also initialises the value model).") var rewardModel: String
    @Option(help: "Prompts (JSONL with \"prompt\").") var prompts: String
    @Option(help: "PPO iterations (each samples --batch responses).") var steps = 30
    @Option(help: "Prompts sampled per iteration.") var batch = 16
    @Option(help: "Passes over each iteration's responses (TRL's num_ppo_epochs).") var ppoEpochs = 4
    @Option(help: "Minibatches per pass (TRL's num_mini_batches): one policy and value update each.") var miniBatches = 2
    @Option(help: "Learning rate of the policy.") var lr: Float = 5e-5
    @Option(help: "Learning rate of the value model (its own optimizer; TRL shares the policy's).") var valueLr: Float = 5e-5
    @Option(help: "KL penalty coefficient.") var klCoef = 0.05
    @Flag(help: "Adapt the KL coefficient toward --kl-target (the classic recipe).") var adaptiveKl = false
    @Option(help: "Target KL for --adaptive-kl.") var klTarget = 6.0
    @Option(help: "KL estimator: k1 or k3.") var klEstimator = "k1"
    @Option(help: "Sampling temperature.") var temperature: Float = 0.7
    @Option(help: "Longest response, in tokens.") var maxNewTokens = 8
    @Option(help: "Penalty subtracted from the score of a response with no end-of-text.") var missingEosPenalty = 1.0
    @Option(help: "Held-out prompts with answers (JSONL) for task accuracy before and after.") var eval: String?

    func run() throws {
        guard let est = Losses.KLEstimator(rawValue: klEstimator) else { throw FoundryError("--kl-estimator must be k1 or k3") }
        var o = PPOOptions()
        o.steps = steps; o.batch = batch; o.lr = lr; o.klCoef = klCoef; o.adaptiveKL = adaptiveKl; o.klTarget = klTarget
        o.klEstimator = est; o.temperature = temperature; o.maxNewTokens = maxNewTokens; o.missingEOSPenalty = missingEosPenalty
        o.seed = stage.seed; o.ppoEpochs = ppoEpochs; o.minibatches = miniBatches; o.valueLR = valueLr
        try o.validate()    // before loading anything
        let (device, policy, tok, data) = try stage.load()
        let reference = try Checkpoint.load(stage.model, device: device)
        let value = try RewardModel.load(rewardModel, device: device)
        let rows = try Datasets.readPrompts(path: prompts)
        let score = try makeScorer(rewardModel: rewardModel, checker: false, prompts: rows, tokenizer: tok, device: device)
        let report = try ForgettingAndAccuracy(model: policy, tokenizer: tok, data: data, evalPath: eval, pretrainPath: nil)
        try report.measure("before")
        let trainer = try PPOTrainer(policy: policy, reference: reference, value: value, options: o, eos: tok.eosToken, score: score)
        try trainer.run(prompts: try data.prompts(rows), log: try stage.stageLog("ppo"))
        try report.measure("after")
        try Checkpoint.save(policy, tokenizer: tok, to: stage.out)
        print("saved \(stage.out)")
    }
}

struct GRPO: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grpo",
        abstract: "Group-relative policy optimisation with a reward model or the task's ground-truth checker.",
        discussion: "Example: foundry grpo --model runs/sft --prompts task/rl_prompts.jsonl --checker --out runs/grpo")
    @OptionGroup var stage: StageOptions
    @Option(help: "Prompts (JSONL with \"prompt\", and \"answer\" for --checker).") var prompts: String
    @Option(help: "Reward model directory.") var rewardModel: String?
    @Flag(help: "Reward 1 for a correct answer, 0 otherwise (the synthetic task's checker).") var checker = false
    @Option(help: "Iterations.") var steps = 30
    @Option(help: "Prompts per iteration.") var promptsPerStep = 4
    @Option(help: "Samples per prompt.") var groupSize = 8
    @Option(help: "Learning rate.") var lr: Float = 5e-5
    @Option(help: "KL coefficient to the reference (TRL's default: 0).") var beta = 0.0
    @Option(help: "Sampling temperature.") var temperature: Float = 1.0
    @Option(help: "Longest response, in tokens.") var maxNewTokens = 8
    @Flag(help: "DAPO's dynamic sampling: skip groups whose samples all scored the same and sample more prompts to fill the step.")
    var dynamicSampling = false
    @Option(help: "With --dynamic-sampling: at most this many batches of prompts sampled per step.") var maxSamplingRounds = 4
    @Option(help: "Held-out prompts with answers (JSONL) for task accuracy before and after.") var eval: String?

    func run() throws {
        var o = GRPOOptions()
        o.steps = steps; o.promptsPerStep = promptsPerStep; o.groupSize = groupSize; o.lr = lr; o.beta = beta
        o.temperature = temperature; o.maxNewTokens = maxNewTokens; o.seed = stage.seed
        o.dynamicSampling = dynamicSampling; o.maxSamplingRounds = maxSamplingRounds
        try o.validate()    // before loading anything
        let (device, policy, tok, data) = try stage.load()
        let rows = try Datasets.readPrompts(path: prompts)
        let score = try makeScorer(rewardModel: rewardModel, checker: checker, prompts: rows, tokenizer: tok, device: device)
        let reference = beta > 0 ? try Checkpoint.load(stage.model, device: device) : nil
        let report = try ForgettingAndAccuracy(model: policy, tokenizer: tok, data: data, evalPath: eval, pretrainPath: nil)
        try report.measure("before")
        try GRPOTrainer(policy: policy, reference: reference, options: o, eos: tok.eosToken, score: score)
            .run(prompts: try data.prompts(rows), log: try stage.stageLog("grpo"))
        try report.measure("after")
        try Checkpoint.save(policy, tokenizer: tok, to: stage.out)
        print("saved \(stage.out)")
    }
}

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Held-out task accuracy (greedy and sampled), mean reward-model score, and KL to a reference.",
        discussion: "Example: foundry eval --model runs/ppo --task task --reward-model runs/reward --reference runs/sft")
    @Option(help: "Policy model directory.") var model: String
    @Option(help: "Task directory from `foundry data synth` (uses eval.jsonl), or an eval JSONL file.") var task: String
    @Option(help: "Reward model, for the mean score.") var rewardModel: String?
    @Option(help: "Reference model, for KL(policy ‖ reference).") var reference: String?
    @Option(help: "Longest response, in tokens.") var maxNewTokens = 8
    @Option(help: "Print up to N held-out prompts the model gets wrong (greedy), with its answer and the right one.") var showErrors = 0
    @OptionGroup var deviceOptions: DeviceOptions

    func run() throws {
        let device = try deviceOptions.open()
        let (model, tok) = try loadModel(self.model, device: device, needTokenizer: true)
        var isDir: ObjCBool = false
        let path = FileManager.default.fileExists(atPath: task, isDirectory: &isDir) && isDir.boolValue ? Checkpoint.path(task, "eval.jsonl") : task
        let rows = try Datasets.readPrompts(path: path)
        let data = try StageData(tokenizer: tok!, maxSeq: model.config.maxSeq)
        let rm = try rewardModel.map { try RewardModel.load($0, device: device) }
        let ref = try reference.map { try Checkpoint.load($0, device: device) }
        let r = try taskAccuracy(model: model, tokenizer: tok!, data: data, prompts: rows, reward: rm, reference: ref, maxNewTokens: maxNewTokens)
        print(String(format: "accuracy: %.1f%% greedy, %.1f%% sampled (T=0.7) over %d held-out prompts", 100 * r.greedyAccuracy, 100 * r.sampledAccuracy, rows.count))
        if let m = r.meanReward { print(String(format: "mean reward: %.4f", m)) }
        if let k = r.kl { print(String(format: "KL to reference: %.4f nats per response", k)) }
        var shown = 0
        for (row, response) in zip(rows, r.greedyResponses) where shown < showErrors {
            let text = tok!.decode(response)
            guard let answer = row.answer, !SynthTask.check(completion: text, answer: answer) else { continue }
            print("wrong: \(row.prompt) → \(text.debugDescription) (expected \(answer))")
            shown += 1
        }
    }
}

struct Extract: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Save part of a model (some of its blocks) as a checkpoint of its own.",
        discussion: "Example: foundry extract --model runs/sft --layers 0..1 --out runs/backbone")
    @Option(help: "Model directory.") var model: String
    @Option(help: "Blocks to keep, A..B (inclusive).") var layers: String
    @Option(help: "Output directory.") var out: String
    @OptionGroup var deviceOptions: DeviceOptions

    func run() throws {
        let parts = layers.components(separatedBy: "..")
        guard parts.count == 2, let a = Int(parts[0]), let b = Int(parts[1]), a <= b else {
            throw FoundryError("--layers must look like A..B with A ≤ B, e.g. 0..1")
        }
        let device = try deviceOptions.open()
        let (gpt, tok) = try loadModel(model, device: device, needTokenizer: false)
        let part = try gpt.extract(blocks: a...b)
        try Checkpoint.save(part, tokenizer: tok, to: out)
        print("saved blocks \(a)..\(b) of \(model) as \(out) (\(part.config.layers) layers, \(part.config.parameterCount) parameters)")
    }
}
