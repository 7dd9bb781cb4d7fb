import Foundation
import FoundryCore
import FoundryFiles
import FoundryData
import FoundryModel
import FoundryReport
import FoundryTrain

/// One execution of the pipeline: each stage reads the previous one's checkpoint directory.
public final class PipelineRun {
    /// The parts of a run that can be left out.
    public enum Skippable: String, CaseIterable, Sendable {
        case ppo, dpo, grpo
        /// The SFT run with frozen blocks that the forgetting figure compares against.
        case frozen
        /// The SFT run with LoRA adapters that the forgetting figure compares against.
        case lora
    }

    public static let defaultSeed: UInt64 = 1
    let out: String, p: PipelinePreset, seed: UInt64, device: Device, fresh: Bool, skipped: Set<Skippable>
    /// Where progress lines go (the terminal, by default).
    let log: (String) -> Void
    let start = Date()
    var metrics: [String: [String: Double]] = [:]
    var curves: [String: [(Double, Double)]] = [:]
    var ppoHistory: [[String: Double]] = []
    var samples: [String: [String]] = [:]
    var forgetting: [String: Double] = [:]
    var stageSeconds: [(String, Double)] = []
    /// `--rankings-from page`: rankings made through the served page, and the stages trained on them.
    public var pageRankings: PageRankingSource?
    var pageSummary: PageRankingSummary?
    /// The stages the evaluation table lists, in order (those that ran).
    static let evaluated = ["pretrained", "sft", "ppo", "dpo", "grpo", "ppo_page", "dpo_page"]

    public init(out: String, preset: PipelinePreset, seed: UInt64 = defaultSeed, device: Device, fresh: Bool = false,
                skipped: Set<Skippable> = [], log: @escaping (String) -> Void = { print($0); fflush(stdout) }) {
        self.out = out; self.p = preset; self.seed = seed; self.device = device; self.fresh = fresh; self.skipped = skipped
        self.log = log
    }

    func dir(_ name: String) -> String { Checkpoint.path(out, name) }
    func say(_ s: String) { log(s) }
    func exists(_ name: String) -> Bool { !fresh && FileManager.default.fileExists(atPath: Checkpoint.path(dir(name), "model.safetensors")) }
    func quiet(_ name: String) throws -> StageLog {
        try AtomicFile.makeDirectory(dir(name))
        return try StageLog(metricsPath: Checkpoint.path(dir(name), "metrics.jsonl")) { [weak self] line in
            self?.say("  " + line)
        }
    }

    /// Runs a stage into `dir(name)`, unless it is skipped or its checkpoint is there to reuse
    /// (either is said, so a rerun shows what it did not redo).
    func stage(_ name: String, _ title: String, skip: Bool = false, _ body: () throws -> Void) throws {
        if skip { say("== \(title): skipped"); return }
        if exists(name) { say("== \(title): reusing \(dir(name))"); return }
        try timed(title, body)
    }

    func timed(_ name: String, _ body: () throws -> Void) rethrows {
        let t0 = Date()
        say("== \(name)")
        try body()
        let s = Date().timeIntervalSince(t0)
        stageSeconds.append((name, s))
        say(String(format: "   %@ done in %.0f s", name, s))
    }

    /// Runs every stage (reusing the checkpoints already in `out` unless `fresh`) and writes the report.
    public func execute() throws {
        let lock = try RunLock(out)   // one pipeline per output directory
        defer { lock.release() }
        say("pipeline: preset \(p.pretrain.layers) layers × \(p.pretrain.embd) wide, context \(p.pretrain.context), on \(device.backend) (\(device.name)), output \(out)")
        // 1. Data.
        var task = try SynthTask(family: p.task, seed: seed, digits: p.digits)
        task.demoSlip = p.demoSlip
        let taskDir = dir("task")
        try timed("data") {
            try task.write(to: taskDir, sizes: .init(sft: p.sftRows, prefs: p.prefRows, rl: p.rlRows, eval: p.evalRows, corpusCharacters: p.corpusChars,
                                                     rankK: p.rankK))
        }
        let corpus = try String(contentsOfFile: Checkpoint.path(taskDir, "pretrain.txt"), encoding: .utf8)
        let evalRows = try Datasets.readPrompts(path: Checkpoint.path(taskDir, "eval.jsonl"))
        // 2. Pretraining.
        try stage("pretrained", "pretrain") {
            let tok = try TokenizerIO.train(kind: .char, corpus: corpus)
            var o = p.pretrain
            o.seed = seed
            let t = try Pretrainer(device: device, tokenizer: tok, tokens: try tok.encode(corpus), options: o, outDir: dir("pretrained"),
                                   resume: false) { [weak self] in self?.say("  " + $0) }
            if try t.run().interrupted {
                throw FoundryError("interrupted during pretraining: the partial checkpoint is in \(self.dir("pretrained")); rerun with --fresh to start over")
            }
        }
        let (base, tokOpt) = try loadModel(dir("pretrained"), device: device, needTokenizer: true)
        let tok = tokOpt!
        let data = try StageData(tokenizer: tok, maxSeq: base.config.maxSeq)
        let corpusTokens = try tok.encode(corpus)
        curves["pretrain"] = readCurve(dir("pretrained"), "loss")
        // 3. SFT, and the frozen and LoRA variants for the forgetting comparison.
        forgetting["val_loss_before"] = try pretrainValLoss(model: base, tokens: corpusTokens)
        let sftRows = try Datasets.readSFT(path: Checkpoint.path(taskDir, "sft.jsonl"))
        let frozenBlocks = max(1, p.pretrain.layers / 2)
        let variants: [(name: String, key: String, title: String, skip: Bool)] = [
            ("sft", "", "sft", false),
            ("sft_frozen", "_frozen", "sft (embeddings + \(frozenBlocks) block\(frozenBlocks == 1 ? "" : "s") frozen)", skipped.contains(.frozen)),
            ("sft_lora", "_lora", "sft (LoRA rank \(p.sftLoRA.rank))", skipped.contains(.lora)),
        ]
        for v in variants {
            try stage(v.name, v.title, skip: v.skip) {
                let (model, _) = try loadModel(dir("pretrained"), device: device, needTokenizer: false)
                var o = p.sft
                o.seed = seed
                if v.name == "sft_frozen" { o.freezeLayers = frozenBlocks }
                if v.name == "sft_lora" { o.lora = p.sftLoRA }
                let examples = try data.sft(sftRows, completionOnly: o.completionOnlyLoss)
                let trainer = try SFTTrainer(model: model, examples: examples, options: o, pad: tok.eosToken)
                try trainer.run(log: try quiet(v.name))
                try Checkpoint.save(model, tokenizer: tok, to: dir(v.name))
            }
            if v.skip { continue }
            let (m, _) = try loadModel(dir(v.name), device: device, needTokenizer: false)
            forgetting["val_loss_after" + v.key] = try pretrainValLoss(model: m, tokens: corpusTokens)
            forgetting["trainable" + v.key] = Double(v.name == "sft_lora"
                ? LoRAAdapter.parameterCount(base.layout, layers: base.config.layers, options: p.sftLoRA)
                : Freezer.trainableCount(base.layout, layers: v.name == "sft_frozen" ? frozenBlocks : 0, embeddings: false))
            curves[v.name] = readCurve(dir(v.name), "loss")
        }
        // 4. Reward model.
        let pairs = try data.pairs(try Datasets.readPreferences(path: Checkpoint.path(taskDir, "prefs.jsonl")))
        let heldPairs = Array(pairs.suffix(max(1, pairs.count / 10))), trainPairs = Array(pairs.dropLast(max(1, pairs.count / 10)))
        func trainReward(_ name: String, _ title: String, _ train: (RewardTrainer) throws -> Void) throws {
            try self.trainReward(into: name, title, options: p.reward, tok: tok, train)
        }
        /// A reward model's figures on the held-out comparisons.
        func evaluateReward(_ name: String) throws -> [String: Double] {
            let m = try rewardFigures(name, on: heldPairs, tok: tok)
            say(String(format: "   %@: held-out pairwise accuracy %.1f%% over %ld pairs", name, 100 * m["pairwise_accuracy"]!, heldPairs.count))
            return m
        }
        if p.rankK > 2 {
            // People's rankings of K responses to as many prompts as the pairs have; a model from
            // the pairs (K = 2) beside it for the report's comparison; PPO uses the rankings' one.
            let ranked = Array(try data.rankings(try Datasets.readRankings(path: Checkpoint.path(taskDir, "rankings.jsonl"))).prefix(trainPairs.count))
            try trainReward("reward", "reward model (rankings of \(p.rankK))") { try $0.run(rankings: ranked, log: try quiet("reward")) }
            try trainReward("reward_pairs", "reward model (pairs, for comparison)") { try $0.run(trainPairs, log: try quiet("reward_pairs")) }
            metrics["reward_model_pairs"] = try evaluateReward("reward_pairs")
        } else {
            try trainReward("reward", "reward model") { try $0.run(trainPairs, log: try quiet("reward")) }
        }
        let rm = try RewardModel.load(dir("reward"), device: device)
        metrics["reward_model"] = try evaluateReward("reward")
        curves["reward"] = readCurve(dir("reward"), "loss")
        // 5. DPO, GRPO and PPO, each from the same SFT model (the order changes no result). PPO runs
        // last: in a run with PPO (120 × 128) first, DPO took 126 s and GRPO 160 s in the same
        // process, against 34–38 s and 95–98 s before it or on their own; PPO's own steps kept
        // their pace, and the cause was not found.
        let rlRows = try Datasets.readPrompts(path: Checkpoint.path(taskDir, "rl_prompts.jsonl"))
        let rlPrompts = try data.prompts(rlRows)
        try stage("dpo", "dpo", skip: skipped.contains(.dpo)) {
            try dpo(into: "dpo", pairs: trainPairs, options: p.dpo, tok: tok)
        }
        try stage("grpo", "grpo", skip: skipped.contains(.grpo)) {
            let (policy, _) = try loadModel(dir("sft"), device: device, needTokenizer: false)
            var o = p.grpo
            o.seed = seed
            let scorer = try makeScorer(rewardModel: nil, checker: true, prompts: rlRows, tokenizer: tok, device: device)
            try GRPOTrainer(policy: policy, reference: nil, options: o, eos: tok.eosToken, score: scorer)
                .run(prompts: rlPrompts, log: try quiet("grpo"))
            try Checkpoint.save(policy, tokenizer: tok, to: dir("grpo"))
        }
        try stage("ppo", "ppo", skip: skipped.contains(.ppo)) {
            ppoHistory = try ppo(into: "ppo", reward: "reward", rlRows: rlRows, rlPrompts: rlPrompts, tok: tok)
        }
        // 6. The same preference stages from rankings a (simulated) person made on the page.
        if let source = pageRankings { try pageStages(source, data: data, tok: tok, rlRows: rlRows, rlPrompts: rlPrompts) }
        // 7. Evaluate every checkpoint on the same held-out prompts.
        let (reference, _) = try loadModel(dir("sft"), device: device, needTokenizer: false)
        let showPrompts = Array(evalRows.prefix(3))
        try timed("evaluation") {
            for name in Self.evaluated where FileManager.default.fileExists(atPath: Checkpoint.path(dir(name), "model.safetensors"))
                && (pageRankings != nil || !name.hasSuffix("_page")) {
                let (m, _) = try loadModel(dir(name), device: device, needTokenizer: false)
                let r = try taskAccuracy(model: m, tokenizer: tok, data: data, prompts: evalRows, reward: rm, reference: reference)
                metrics[name] = ["accuracy": r.greedyAccuracy, "accuracy_sampled": r.sampledAccuracy,
                                 "reward": r.meanReward ?? .nan, "kl": r.kl ?? .nan]
                say("   " + name.padding(10) + String(format: " accuracy %5.1f%% greedy, %5.1f%% sampled | reward %+.3f | KL to SFT %.3f",
                           100 * r.greedyAccuracy, 100 * r.sampledAccuracy, r.meanReward ?? .nan, r.kl ?? .nan))
                samples[name] = try showSamples(m, tok: tok, data: data, prompts: showPrompts)
                if name != "pretrained" { curves[name] = curves[name] ?? readCurve(dir(name), "loss") }
            }
            // The SFT variants' accuracy beside their forgetting (greedy, the same prompts).
            for (name, key) in [("sft", ""), ("sft_frozen", "_frozen"), ("sft_lora", "_lora")]
                where FileManager.default.fileExists(atPath: Checkpoint.path(dir(name), "model.safetensors")) && forgetting["val_loss_after" + key] != nil {
                if let m = metrics[name] { forgetting["accuracy" + key] = m["accuracy"]; continue }
                let (m, _) = try loadModel(dir(name), device: device, needTokenizer: false)
                let r = try taskAccuracy(model: m, tokenizer: tok, data: data, prompts: evalRows, reward: nil, reference: nil)
                forgetting["accuracy" + key] = r.greedyAccuracy
                say("   " + name.padding(10) + String(format: " accuracy %5.1f%% greedy", 100 * r.greedyAccuracy))
            }
        }
        try PipelineReport(run: self).write()
    }

    /// Trains a reward model from the SFT model into `dir(name)` (unless it is there to reuse).
    func trainReward(into name: String, _ title: String, options: RewardOptions, tok: Tokenizer,
                     _ train: (RewardTrainer) throws -> Void) throws {
        try stage(name, title) {
            let (backbone, _) = try loadModel(dir("sft"), device: device, needTokenizer: false)
            let rm = RewardModel(backbone: backbone, head: ScalarHead(channels: backbone.config.channels, seed: seed))
            var o = options
            o.seed = seed
            try train(try RewardTrainer(model: rm, options: o, pad: tok.eosToken))
            try rm.save(tokenizer: tok, to: dir(name))
        }
    }

    /// The reward model in `dir(name)` on `pairs`: pairwise accuracy, mean margin and loss.
    func rewardFigures(_ name: String, on pairs: [TokenizedPair], tok: Tokenizer) throws -> [String: Double] {
        let m = try RewardTrainer(model: try RewardModel.load(dir(name), device: device), options: RewardOptions(), pad: tok.eosToken)
            .evaluate(pairs)
        return ["pairwise_accuracy": m.accuracy, "margin": m.margin, "loss": m.loss]
    }

    /// DPO from the SFT model on `pairs` into `dir(name)` with `options` (the preset's).
    func dpo(into name: String, pairs: [TokenizedPair], options: DPOOptions, tok: Tokenizer) throws {
        let (policy, _) = try loadModel(dir("sft"), device: device, needTokenizer: false)
        var o = options
        o.seed = seed
        try DPOTrainer(policy: policy, options: o, pad: tok.eosToken).run(pairs, log: try quiet(name))
        try Checkpoint.save(policy, tokenizer: tok, to: dir(name))
    }

    /// PPO from the SFT model against the reward model in `dir(reward)` (also the value model's
    /// start) into `dir(name)`, with the preset's settings; returns its per-step figures.
    func ppo(into name: String, reward: String, rlRows: [RLPrompt], rlPrompts: [[Int32]], tok: Tokenizer) throws -> [[String: Double]] {
        let (policy, _) = try loadModel(dir("sft"), device: device, needTokenizer: false)
        let (reference, _) = try loadModel(dir("sft"), device: device, needTokenizer: false)
        let value = try RewardModel.load(dir(reward), device: device)
        var o = p.ppo
        o.seed = seed
        let scorer = try makeScorer(rewardModel: dir(reward), checker: false, prompts: rlRows, tokenizer: tok, device: device)
        let t = try PPOTrainer(policy: policy, reference: reference, value: value, options: o, eos: tok.eosToken, score: scorer)
        let history = try t.run(prompts: rlPrompts, log: try quiet(name))
        try Checkpoint.save(policy, tokenizer: tok, to: dir(name))
        return history
    }

    /// Greedy, T = 0.7 and T = 1.2 answers to the same prompts.
    func showSamples(_ m: GPT2, tok: Tokenizer, data: StageData, prompts: [RLPrompt]) throws -> [String] {
        var lines: [String] = []
        var rng = RNG(seed: seed &+ 9)
        for row in prompts {
            for (label, t) in [("greedy", Float(0)), ("T=0.7", 0.7), ("T=1.2", 1.2)] {
                let s = RolloutSampler(eos: tok.eosToken, temperature: t, maxNewTokens: 8)
                let r = try s.sample(m, prompts: [try data.template.prompt(row.prompt)], indices: [0], rng: &rng)[0]
                let text = tok.decode(r.answer)
                lines.append("\(row.prompt) [\(label)] → \(text.debugDescription)")
            }
        }
        return lines
    }

    /// (step, value) pairs of one metric from a stage's metrics.jsonl.
    func readCurve(_ stageDir: String, _ key: String) -> [(Double, Double)] {
        MetricsLog.curve(Checkpoint.path(stageDir, "metrics.jsonl"), key).map { ($0.step, $0.value) }
    }
}
