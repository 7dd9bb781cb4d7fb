import ArgumentParser
import Foundation
import FoundryCore
import FoundryData
import FoundryModel
import FoundryPipeline
import FoundryTrain

struct DPO: TrainingCommand {
    static let configuration = CommandConfiguration(
        commandName: "dpo",
        abstract: "Direct preference optimisation against the starting model as frozen reference.",
        discussion: """
        Losses: \(Losses.DPOKind.allCases.map(\.rawValue).joined(separator: ", ")) (default \(DPOOptions().loss.rawValue), β \(DPOOptions().beta)). Logs rewards/chosen, rewards/rejected, \
        rewards/margins, rewards/accuracies as TRL does.

        Example: foundry dpo --model runs/sft --data task/prefs.jsonl --out runs/dpo
        """)
    static let defaults = DPOOptions()
    @OptionGroup var stage: StageOptions
    @Option(help: "Comparison data (JSONL; .gz allowed).") var data: String
    @Option(help: "The preference loss.") var loss = defaults.loss
    @Option(help: "β: strength of the pull toward the reference.") var beta = defaults.beta
    @Option(help: "TRL's (older) rpo_alpha: add α × the chosen answers' token NLL (RPO; 0 = off).") var rpoAlpha = defaults.rpoAlpha
    @OptionGroup var schedule: ScheduleFlags<DPOOptions>
    @OptionGroup var measure: EvalFlag

    func configure(_ o: inout DPOOptions) {
        schedule.apply(to: &o)
        o.loss = loss; o.beta = beta; o.rpoAlpha = rpoAlpha
    }

    func run() throws {
        try stage.train(eval: measure.eval, read: { try $0.data.pairs(try Datasets.readPreferences(path: self.data)) }) { run, pairs in
            let trainer = try DPOTrainer(policy: run.model, options: options, pad: run.tokenizer.eosToken, collective: run.collective)
            try trainer.run(pairs, log: try stage.stageLog(), checkpoint: stage.checkpoint(run.tokenizer), resume: stage.resume)
            return trainer.end
        }
    }
}

struct PPO: TrainingCommand {
    static let configuration = CommandConfiguration(
        commandName: "ppo",
        abstract: "RLHF with PPO: policy and frozen reference from --model, value model from the reward model.",
        discussion: """
        TRL semantics: per-token reward −kl_coef·KL with the score at the last real token, GAE, \
        whitened advantages, clipped policy and value losses, PPO epochs over minibatches. Logs \
        objective/kl, objective/entropy, objective/scores, objective/rlhf_reward, \
        policy/approxkl_avg, policy/clipfrac_avg, loss/policy_avg, loss/value_avg, val/ratio.

        Example: foundry ppo --model runs/sft --reward-model runs/reward --prompts task/rl_prompts.jsonl --out runs/ppo
        """)
    static let defaults = PPOOptions()
    @OptionGroup var stage: StageOptions
    @Option(help: "Reward model directory (also initialises the value model).") var rewardModel: String
    @Option(help: "Prompts (JSONL with \"prompt\").") var prompts: String
    @OptionGroup var rollout: RolloutFlags<PPOOptions>
    @Option(help: "Prompts sampled per iteration.") var batch = defaults.batch
    @Option(help: "Passes over each iteration's responses (TRL's num_ppo_epochs).") var ppoEpochs = defaults.ppoEpochs
    @Option(help: "Minibatches per pass (TRL's num_mini_batches): one policy and value update each.") var miniBatches = defaults.minibatches
    @Option(help: "Learning rate of the value model (its own optimizer; TRL shares the policy's).") var valueLr = defaults.valueLR
    @Option(help: "KL penalty coefficient.") var klCoef = defaults.klCoef
    @Flag(help: "Adapt the KL coefficient toward --kl-target (the classic recipe).") var adaptiveKl = defaults.adaptiveKL
    @Option(help: "Target KL for --adaptive-kl.") var klTarget = defaults.klTarget
    @Option(help: "KL estimator of the per-token penalty.") var klEstimator = defaults.klEstimator
    @Option(help: "Penalty subtracted from the score of a response with no end-of-text.") var missingEosPenalty = defaults.missingEOSPenalty
    @OptionGroup var measure: EvalFlag

    func configure(_ o: inout PPOOptions) {
        rollout.apply(to: &o)
        o.batch = batch; o.klCoef = klCoef; o.adaptiveKL = adaptiveKl; o.klTarget = klTarget; o.klEstimator = klEstimator
        o.missingEOSPenalty = missingEosPenalty; o.ppoEpochs = ppoEpochs; o.minibatches = miniBatches; o.valueLR = valueLr
    }

    func run() throws {
        try stage.train(eval: measure.eval, read: { _ in try Datasets.readPrompts(path: prompts) }) { run, rows in
            let score = try makeScorer(rewardModel: rewardModel, checker: false, prompts: rows, tokenizer: run.tokenizer, device: run.device)
            let trainer = try PPOTrainer(policy: run.model, reference: try stage.loadReference(run.device),
                                         value: try RewardModel.load(rewardModel, device: run.device), options: options,
                                         eos: run.tokenizer.eosToken, collective: run.collective, score: score)
            try trainer.run(prompts: try run.data.prompts(rows), log: try stage.stageLog(), checkpoint: stage.checkpoint(run.tokenizer),
                            resume: stage.resume)
            return trainer.end
        }
    }
}

struct GRPO: TrainingCommand {
    static let configuration = CommandConfiguration(
        commandName: "grpo",
        abstract: "Group-relative policy optimisation with a reward model or the task's ground-truth checker.",
        discussion: "Example: foundry grpo --model runs/sft --prompts task/rl_prompts.jsonl --checker --out runs/grpo")
    static let defaults = GRPOOptions()
    @OptionGroup var stage: StageOptions
    @Option(help: "Prompts (JSONL with \"prompt\", and \"answer\" for --checker).") var prompts: String
    @Option(help: "Reward model directory.") var rewardModel: String?
    @Flag(help: "Reward 1 for a correct answer, 0 otherwise (the synthetic task's checker).") var checker = false
    @OptionGroup var rollout: RolloutFlags<GRPOOptions>
    @Option(help: "Prompts per iteration.") var promptsPerStep = defaults.promptsPerStep
    @Option(help: "Samples per prompt.") var groupSize = defaults.groupSize
    @Option(help: "KL coefficient to the reference (TRL's default: 0).") var beta = defaults.beta
    @Flag(help: "DAPO's dynamic sampling: skip groups whose samples all scored the same and sample more prompts to fill the step.")
    var dynamicSampling = defaults.dynamicSampling
    @Option(help: "With --dynamic-sampling: at most this many batches of prompts sampled per step.") var maxSamplingRounds = defaults.maxSamplingRounds
    @OptionGroup var measure: EvalFlag

    func configure(_ o: inout GRPOOptions) {
        rollout.apply(to: &o)
        o.promptsPerStep = promptsPerStep; o.groupSize = groupSize; o.beta = beta
        o.dynamicSampling = dynamicSampling; o.maxSamplingRounds = maxSamplingRounds
    }

    func validate() throws {
        try options.validate()
        guard rewardModel != nil || checker else { throw ValidationError("give --reward-model DIR, or --checker to reward with the task's ground truth") }
    }

    func run() throws {
        try stage.train(eval: measure.eval, read: { _ in try Datasets.readPrompts(path: prompts) }) { run, rows in
            let score = try makeScorer(rewardModel: rewardModel, checker: checker, prompts: rows, tokenizer: run.tokenizer, device: run.device)
            let trainer = try GRPOTrainer(policy: run.model, reference: beta > 0 ? try stage.loadReference(run.device) : nil, options: options,
                                          eos: run.tokenizer.eosToken, collective: run.collective, score: score)
            try trainer.run(prompts: try run.data.prompts(rows), log: try stage.stageLog(), checkpoint: stage.checkpoint(run.tokenizer),
                            resume: stage.resume)
            return trainer.end
        }
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
    @Option(help: "Longest response, in tokens.") var maxNewTokens = EvalOptions().maxNewTokens
    @Option(help: "Print up to N held-out prompts the model gets wrong (greedy), with its answer and the right one.") var showErrors = 0

    func validate() throws {
        guard maxNewTokens >= 1 else { throw ValidationError("--max-new-tokens must be 1 or more, not \(maxNewTokens)") }
        guard showErrors >= 0 else { throw ValidationError("--show-errors must be 0 or more, not \(showErrors)") }
    }
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
        var options = EvalOptions()
        options.maxNewTokens = maxNewTokens
        let r = try taskAccuracy(model: model, tokenizer: tok!, data: data, prompts: rows, reward: rm, reference: ref, options: options)
        print(String(format: "accuracy: %.1f%% greedy, %.1f%% sampled (T=%.1f) over %d held-out prompts", 100 * r.greedyAccuracy,
                     100 * r.sampledAccuracy, Double(options.temperature), rows.count))
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
    @Option(help: "Blocks to keep, A..B (inclusive).", transform: { try Extract.blocks($0) }) var layers: ClosedRange<Int>
    @Option(help: "Output directory.") var out: String
    @OptionGroup var deviceOptions: DeviceOptions

    static func blocks(_ text: String) throws -> ClosedRange<Int> {
        let parts = text.components(separatedBy: "..")
        guard parts.count == 2, let a = Int(parts[0]), let b = Int(parts[1]), a >= 0, a <= b else {
            throw FoundryError("--layers must look like A..B with 0 ≤ A ≤ B, e.g. 0..1")
        }
        return a...b
    }

    func run() throws {
        let (a, b) = (layers.lowerBound, layers.upperBound)
        let device = try deviceOptions.open()
        let (gpt, tok) = try loadModel(model, device: device, needTokenizer: false)
        let part = try gpt.extract(blocks: a...b)
        try Checkpoint.save(part, tokenizer: tok, to: out)
        print("saved blocks \(a)..\(b) of \(model) as \(out) (\(part.config.layers) layers, \(part.config.parameterCount) parameters)")
    }
}
