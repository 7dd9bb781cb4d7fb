import ArgumentParser
import Foundation
import FoundryCore
import FoundryData
import FoundryModel
import FoundryPipeline
import FoundryTrain

struct Reward: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a reward model on comparisons, or score a response with one.",
        subcommands: [RewardTrain.self, RewardScore.self], defaultSubcommand: RewardTrain.self)
}

struct RewardTrain: TrainingCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Reward model = backbone + scalar head at the last token, trained with Bradley–Terry (or pointwise).",
        discussion: """
        Data: JSONL with prompt/chosen/rejected (optional margin), Anthropic HH rows (chosen/rejected \
        transcripts), people's rankings of K responses (prompt/responses/ranking, best first: \
        InstructGPT's loss over the C(K,2) pairs), or with --objective pointwise prompt/completion/score. A held-out fraction \
        measures pairwise accuracy. The result loads in transformers as \
        GPT2ForSequenceClassification (num_labels=1).

        Example: foundry reward --model runs/sft --data task/prefs.jsonl --out runs/reward
        """)
    static let defaults = RewardOptions()
    @OptionGroup var stage: StageOptions
    @Option(help: "Comparison data (JSONL; .gz allowed).") var data: String
    @Option(help: "pairwise (Bradley–Terry on chosen/rejected) or pointwise (regress to a score).") var objective = defaults.objective
    @OptionGroup var schedule: ScheduleFlags<RewardOptions>
    @Option(help: "TRL's center_rewards_coefficient (e.g. 0.01).") var centerRewardsCoefficient = defaults.centerRewardsCoefficient
    @Option(help: "Fraction of pairs held out for accuracy.") var evalFraction = defaults.heldOutFraction

    func configure(_ o: inout RewardOptions) {
        schedule.apply(to: &o)
        o.objective = objective; o.centerRewardsCoefficient = centerRewardsCoefficient; o.heldOutFraction = evalFraction
    }

    /// The options for `rankings` training rankings: the rankings' defaults stand in for a
    /// learning rate or epochs not given.
    func options(rankings: Int) -> RewardOptions {
        var o = (stage.options() as RewardOptions)
        o.batch = schedule.batch
        o = o.forRankings(rankings)
        configure(&o)
        return o
    }

    func run() throws {
        try stage.train(rewardModel: true, note: " (GPT2ForSequenceClassification)", read: { _ in }) { run, _ in try train(run) }
    }

    /// Trains on pairs, rankings or scored rows (as the data holds), then measures the held-out part.
    func train(_ run: StageOptions.Run) throws -> StageEnd {
        let (model, tok, data) = (run.model, run.tokenizer, run.data)
        let rm = RewardModel(backbone: model, head: ScalarHead(channels: model.config.channels, seed: stage.seed))
        func makeTrainer(_ o: RewardOptions) throws -> RewardTrainer {
            try RewardTrainer(model: rm, options: o, pad: tok.eosToken, collective: run.collective)
        }
        let log = try stage.stageLog()
        if objective == .pointwise {
            let trainer = try makeTrainer(options)
            let rows = try Datasets.readPointwise(path: self.data)
            let examples = try rows.map { try data.example(prompt: $0.prompt, completion: $0.completion) }
            let (train, held) = split(Array(zip(examples, rows.map(\.score))))
            try trainer.runPointwise(train.map(\.0), scores: train.map(\.1), log: log, checkpoint: stage.checkpoint(tok), resume: stage.resume)
            if case .interrupted = trainer.end { return trainer.end }
            let err = try trainer.evaluatePointwise(held.map(\.0), scores: held.map(\.1))
            print(String(format: "held-out: %d rows, mean squared error %.4f", held.count, err))
        } else if Datasets.holdsRankings(path: self.data) {
            // People's rankings of K responses (InstructGPT); held-out rankings are scored as their pairs.
            let (train, held) = split(try data.rankings(try Datasets.readRankings(path: self.data)))
            let o = options(rankings: train.count)
            let trainer = try makeTrainer(o)
            if schedule.lr == nil || schedule.epochs == nil {
                print("reward: rankings train at lr \(o.lr) for \(o.epochs) epochs unless --lr and --epochs say otherwise")
            }
            print("reward: \(train.count) training rankings (\(train.reduce(0) { $0 + $1.pairs.count }) comparisons, "
                + "\(train.reduce(0) { $0 + $1.tiedPairs }) tied pairs left out), \(held.count) held out")
            try trainer.run(rankings: train, log: log, checkpoint: stage.checkpoint(tok), resume: stage.resume)
            if case .interrupted = trainer.end { return trainer.end }
            // Accuracy counts the pairs the person told apart; tied ones are reported beside it.
            let heldPairs = held.flatMap(\.pairs), tied = held.reduce(0) { $0 + $1.tiedPairs }
            if !heldPairs.isEmpty {
                let m = try trainer.evaluate(heldPairs)
                print(String(format: "held-out: accuracy %.1f%%, margin %.3f, loss %.4f over %ld distinguishable pairs (%ld tied pairs not counted)",
                             100 * m.accuracy, m.margin, m.loss, heldPairs.count, tied))
            } else if tied > 0 {
                print("held-out: all \(tied) held-out pairs are tied; no accuracy to report")
            }
        } else {
            let trainer = try makeTrainer(options)
            let pairs = try data.pairs(try Datasets.readPreferences(path: self.data))
            let (train, held) = split(pairs)
            print("reward: \(train.count) training pairs, \(held.count) held out")
            try trainer.run(train, log: log, checkpoint: stage.checkpoint(tok), resume: stage.resume)
            if case .interrupted = trainer.end { return trainer.end }
            if !held.isEmpty {
                let m = try trainer.evaluate(held)
                print(String(format: "held-out: accuracy %.1f%%, margin %.3f, loss %.4f over %d pairs", 100 * m.accuracy, m.margin, m.loss, held.count))
            }
        }
        return .finished
    }

    /// A seeded shuffle, then the last `evalFraction` held out (`HeldOut`).
    func split<T>(_ rows: [T]) -> ([T], [T]) { HeldOut.split(rows, fraction: evalFraction, seed: stage.seed) }
}

struct RewardScore: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score", abstract: "Print a reward model's score for a prompt and response.",
        discussion: "Example: foundry reward score --model runs/reward --prompt \"What is 2+2?\" --response 4")
    @Option(help: "Reward model directory.") var model: String
    @Option(help: "Prompt text.") var prompt: String
    @Option(help: "Response text.") var response: String
    @OptionGroup var deviceOptions: DeviceOptions

    func run() throws {
        let device = try deviceOptions.open()
        let rm = try RewardModel.load(model, device: device)
        guard let tok = try Checkpoint.loadTokenizer(model) else { throw FoundryError("\(model) has no tokenizer.json") }
        let r = try rewardScores(rm, tokenizer: tok, prompt: prompt, responses: [response])
        print(String(format: "%.4f", r[0]))
    }
}
