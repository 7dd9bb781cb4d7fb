import ArgumentParser
import FoundryTrain

extension LoRATarget: ExpressibleByArgument {}

/// The LoRA flags every post-training command shares; defaults and checks are `LoRAOptions`'.
struct LoRAFlags: ParsableArguments {
    static let defaults = LoRAOptions()
    @Option(help: "Train LoRA adapters of this rank instead of every parameter (0: off). Saves the merged model and, in adapter/, the adapters in PEFT's format.")
    var loraRank = defaults.rank
    @Option(help: "LoRA's scale numerator: updates are (alpha / rank)·A·B. (default: twice the rank)")
    var loraAlpha: Float?
    @Option(help: "The matrices that get adapters: attn (c_attn, attn.c_proj), mlp (c_fc, mlp.c_proj), or both.")
    var loraTargets = CommaList(defaults.targets)
    @Option(help: "Start from a LoRA adapter (a run's adapter/ directory, or one peft saved) on --model, instead of A random and B zero.")
    var initFrom: String?

    var options: LoRAOptions {
        var o = Self.defaults
        o.rank = loraRank; o.alpha = loraAlpha; o.targets = loraTargets.values; o.initFrom = initFrom
        return o
    }
}

/// How a stage's schedule defaults read in help (the reward model's depend on its data).
protocol ScheduleHelp: DataStageOptions {
    static var lrDefault: String { get }
    static var epochsDefault: String { get }
}

extension ScheduleHelp {
    static var lrDefault: String { "\(Self().lr)" }
    static var epochsDefault: String { "\(Self().epochs)" }
}

extension SFTOptions: ScheduleHelp {}
extension DPOOptions: ScheduleHelp {}
extension RewardOptions: ScheduleHelp {
    static var lrDefault: String { "\(Self().lr); \(rankingsLR) for rankings" }
    static var epochsDefault: String { "\(Self().epochs); for rankings, as many as make about \(rankingsSteps) steps, 2 to 20" }
}

/// The schedule flags of the stages that pass over a dataset (`DataSchedule`), declared once:
/// defaults and checks are the stage's options `O`'s.
struct ScheduleFlags<O: ScheduleHelp>: ParsableArguments {
    @Option(help: ArgumentHelp("Learning rate (default: \(O.lrDefault)).")) var lr: Float?
    @Option(help: ArgumentHelp("Passes over the data (0.5: half of it; default: \(O.epochsDefault)).")) var epochs: Double?
    @Option(help: "Stop after this many steps, even within an epoch.") var maxSteps: Int?
    @Option(help: ArgumentHelp("\(O.rowName.prefix(1).uppercased() + O.rowName.dropFirst()) per step.")) var batch = O().batch

    /// The flags given, over `o`'s values.
    func apply(to o: inout O) {
        if let lr { o.lr = lr }
        if let epochs { o.epochs = epochs }
        o.maxSteps = maxSteps; o.batch = batch
    }
}

/// The flags of the stages that learn from their own samples (`RolloutSchedule`), declared once.
struct RolloutFlags<O: RolloutStageOptions>: ParsableArguments {
    @Option(help: "Iterations: each samples responses to a batch of prompts, scores them and updates the policy.") var steps = O().steps
    @Option(help: "Learning rate of the policy.") var lr = O().lr
    @Option(help: "Sampling temperature.") var temperature = O().temperature
    @Option(help: "Longest response, in tokens.") var maxNewTokens = O().maxNewTokens

    func apply(to o: inout O) {
        o.steps = steps; o.lr = lr; o.temperature = temperature; o.maxNewTokens = maxNewTokens
    }
}

/// Held-out prompts to measure a stage's policy on, before and after.
struct EvalFlag: ParsableArguments {
    @Option(help: "Held-out prompts with answers (JSONL) for task accuracy before and after.") var eval: String?
}

/// A training command: its options are the stage's defaults, then the shared flags
/// (`stage`), then its own (`configure`); its check is theirs.
protocol TrainingCommand: ParsableCommand {
    associatedtype Options: StageOptionSet
    var stage: StageOptions { get }
    func configure(_ o: inout Options)
}

extension TrainingCommand {
    var options: Options {
        var o: Options = stage.options()
        configure(&o)
        return o
    }

    func validate() throws { try options.validate() }
}
