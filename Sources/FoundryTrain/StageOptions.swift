import Foundation
import FoundryCore

/// What every post-training stage's options share: the seed, how often the progress line is
/// printed, and LoRA. Declared once; each stage's options hold one (`StageOptionSet`).
public struct StageCommon: Sendable {
    /// The seed of a stage's batch order, initialisation and sampling.
    public var seed: UInt64 = 1
    public var logEvery: Int
    /// Train LoRA adapters instead of every parameter (rank 0: off).
    public var lora = LoRAOptions()
    public init(logEvery: Int) { self.logEvery = logEvery }

    func validate() throws {
        try require(logEvery >= 1, "--log-every must be 1 or more, not \(logEvery)")
        try lora.validate()
    }

    var resumeSettings: [String: String] {
        ["--seed": "\(seed)"].merging(lora.enabled ? lora.resumeSettings : ["--lora-rank": "0"]) { a, _ in a }
    }
}

/// What a stage's schedule gives the shared checks and resume settings.
public protocol StageSchedule {
    var lr: Float { get }
    /// The option mistakes a user can make, named by their flags; `defaultLR` for the message.
    func validate(defaultLR: Float) throws
    /// What a resumed run must share, by flag.
    var resumeSettings: [String: String] { get }
}

/// The schedule of a stage that passes over a dataset (SFT, reward models, DPO): AdamW at `lr`
/// after a linear warmup, cosine decay, `epochs` passes of `batch` rows (or `maxSteps`).
public struct DataSchedule: StageSchedule, Sendable {
    public var lr: Float
    /// Passes over the data (a fraction allowed: 0.5 is half of it).
    public var epochs: Double
    /// Stop after this many steps even if the epochs are not done (nil: none).
    public var maxSteps: Int?
    public var batch: Int
    public var warmup: Int
    /// The global gradient norm's ceiling.
    public var clip: Float = 1
    public init(lr: Float, epochs: Double, batch: Int, warmup: Int) {
        self.lr = lr; self.epochs = epochs; self.batch = batch; self.warmup = warmup
    }

    public func validate(defaultLR: Float) throws {
        try require(lr >= 0 && lr.isFinite, "--lr must be 0 or more, not \(lr) (the default is \(defaultLR))")
        try require(epochs > 0 && epochs.isFinite, "--epochs must be a positive number (0.5 is half the data), not \(epochs)")
        if let maxSteps { try require(maxSteps >= 1, "--max-steps must be 1 or more, not \(maxSteps)") }
        try require(batch >= 1, "--batch must be 1 or more, not \(batch)")
        try require(warmup >= 0, "--warmup must be 0 or more, not \(warmup)")
    }

    /// Optimizer steps over `rows` rows.
    public func steps(rows: Int) -> Int { BatchOrder.steps(count: rows, batch: batch, epochs: epochs, maxSteps: maxSteps) }
    public func lrSchedule(rows: Int) -> LRSchedule { LRSchedule(maxLR: lr, warmup: warmup, total: steps(rows: rows)) }

    public var resumeSettings: [String: String] {
        ["--lr": "\(lr)", "--epochs": "\(epochs)", "--max-steps": maxSteps.map(String.init) ?? "none", "--batch": "\(batch)"]
    }
}

/// The schedule of the stages that learn from their own samples (PPO, GRPO): how many
/// iterations, at what learning rate, and how the responses are sampled.
public struct RolloutSchedule: StageSchedule, Sendable {
    public var lr: Float
    public var steps: Int
    public var temperature: Float
    /// The longest response, in tokens.
    public var maxNewTokens: Int
    public init(lr: Float, steps: Int, temperature: Float, maxNewTokens: Int) {
        self.lr = lr; self.steps = steps; self.temperature = temperature; self.maxNewTokens = maxNewTokens
    }

    public func validate(defaultLR: Float) throws {
        try require(lr >= 0 && lr.isFinite, "--lr must be 0 or more, not \(lr) (the default is \(defaultLR))")
        try require(steps >= 1, "--steps must be 1 or more, not \(steps)")
        try require(temperature > 0 && temperature.isFinite, "--temperature must be a positive number, not \(temperature)")
        try require(maxNewTokens >= 1, "--max-new-tokens must be 1 or more, not \(maxNewTokens)")
    }

    public var resumeSettings: [String: String] {
        ["--steps": "\(steps)", "--lr": "\(lr)", "--temperature": "\(temperature)", "--max-new-tokens": "\(maxNewTokens)"]
    }
}

/// A stage's options: the shared ones (`common`) and its schedule's read as if declared on the
/// stage's own struct (`o.seed`, `o.lr`), through dynamic member lookup, so each is declared once.
@dynamicMemberLookup
public protocol StageOptionSet {
    associatedtype Schedule: StageSchedule
    init()
    var common: StageCommon { get set }
    var schedule: Schedule { get set }
    /// What a row of its data is, for help and the resume settings ("examples", "pairs", "prompts").
    static var rowName: String { get }
    /// The option mistakes a user can make, named by their command-line flags.
    func validate() throws
}

extension StageOptionSet {
    public subscript<T>(dynamicMember path: WritableKeyPath<StageCommon, T>) -> T {
        get { common[keyPath: path] }
        set { common[keyPath: path] = newValue }
    }

    public subscript<T>(dynamicMember path: WritableKeyPath<Schedule, T>) -> T {
        get { schedule[keyPath: path] }
        set { schedule[keyPath: path] = newValue }
    }

    /// The shared checks: the schedule's and the common options'.
    func validateShared() throws {
        try schedule.validate(defaultLR: Self().schedule.lr)
        try common.validate()
    }

    /// What a resumed run over `rows` rows must share, with the stage's own settings added.
    func resumeSettings(rows: Int, _ own: [String: String]) -> [String: String] {
        own.merging(schedule.resumeSettings) { a, _ in a }.merging(common.resumeSettings) { a, _ in a }
            .merging([Self.rowName: "\(rows)"]) { a, _ in a }
    }
}

/// The options of a stage that passes over a dataset.
public protocol DataStageOptions: StageOptionSet where Schedule == DataSchedule {}
/// The options of a stage that learns from its own samples.
public protocol RolloutStageOptions: StageOptionSet where Schedule == RolloutSchedule {}

/// An objective that passes over `rows` rows of data: its steps, schedule and batch order
/// come from its options' `DataSchedule`.
public protocol DataObjective: StageObjective {
    associatedtype Options: DataStageOptions
    var options: Options { get }
}

extension DataObjective {
    public var steps: Int { options.schedule.steps(rows: rows) }
    public var schedule: LRSchedule { options.schedule.lrSchedule(rows: rows) }
    public var batch: Int { options.batch }
    public var orderSeed: UInt64 { options.seed }
    public var logEvery: Int { options.logEvery }
}

/// An objective that learns from responses it samples to `prompts`: a constant learning rate
/// over `steps` iterations, prompts in a seeded order, sampling from a seeded generator.
public protocol RolloutObjective: StageObjective {
    associatedtype Options: RolloutStageOptions
    var options: Options { get }
    var prompts: [[Int32]] { get }
    /// The end-of-text token: where a response stops.
    var eos: Int32 { get }
}

extension RolloutObjective {
    public var steps: Int { options.steps }
    public var schedule: LRSchedule { .constant(options.lr) }
    public var rows: Int { prompts.count }
    public var orderSeed: UInt64 { options.seed &+ 1 }
    public var generatorSeed: UInt64? { options.seed }
    public var logEvery: Int { options.logEvery }
    var sampler: RolloutSampler { RolloutSampler(eos: eos, temperature: options.temperature, maxNewTokens: options.maxNewTokens) }
}
