import Foundation
import FoundryCore
import FoundryFiles
import FoundryData
import FoundryModel

/// A stage's progress on disk, so `--resume` continues it exactly: the model (as
/// the stage's normal output: model.safetensors, config.json, tokenizer.json) and, beside it,
/// `stage_state.json` (the step, the batch order, generators, scalars) and
/// `stage_state.safetensors` (optimizer moments, heads, a value model), all published as one
/// unit (`FileSet`). Saved every `saveEvery` steps, and when a signal asks the run to stop.
public struct StageCheckpoint {
    public var dir: String
    public var saveEvery: Int
    public var tokenizer: Tokenizer?
    /// The model the stage started from: named as the base of a LoRA run's adapter/.
    public var baseModel: String?
    static let stateFile = "stage_state.json", tensorsFile = "stage_state.safetensors"

    public init(dir: String, saveEvery: Int = 0, tokenizer: Tokenizer?, baseModel: String? = nil) {
        self.dir = dir; self.saveEvery = saveEvery; self.tokenizer = tokenizer; self.baseModel = baseModel
    }

    /// What a stage records beside its model.
    public struct State: Codable {
        public var stage: Stage
        public var step: Int
        public var order: BatchOrder?
        public var rng: RNG?
        public var scalars: [String: Double] = [:]
        /// Numbers that must come back to the last bit (JSON keeps a Double exactly; a float32 tensor would not).
        public var vectors: [String: [Double]] = [:]
        /// Settings the resumed run must share (by flag), as in pretraining.
        public var settings: [String: String] = [:]
    }

    /// The step a stage's saved progress in `dir` is at, if any.
    public static func savedStep(_ dir: String) -> Int? {
        guard let data = FileManager.default.contents(atPath: Checkpoint.path(dir, stateFile)) else { return LegacyTrainState.savedStep(dir) }
        return (try? JSONDecoder().decode(State.self, from: data))?.step
    }

    /// Whether `dir` holds a stage's saved progress (or an older pretraining run's).
    public static func exists(_ dir: String) -> Bool {
        FileManager.default.fileExists(atPath: Checkpoint.path(dir, stateFile)) || LegacyTrainState.exists(dir)
    }

    func save(model: GPT2, extraModelTensors: [NamedTensor] = [], architecture: String = "GPT2LMHeadModel",
              state: State, tensors: [NamedTensor], lora: LoRAAdapter? = nil) throws {
        var files = try Checkpoint.files(model, tokenizer: tokenizer, step: state.step, extraTensors: extraModelTensors,
                                         architecture: architecture)
        // A LoRA run saves the merged model (a plain GPT-2 directory) and, in adapter/, the
        // adapters alone in PEFT's format (apart, so transformers does not take the directory
        // for an adapter).
        if let lora {
            let classifier = architecture == "GPT2ForSequenceClassification"
            try lora.addAdapterFiles(to: &files, baseModel: baseModel ?? "", taskType: classifier ? "SEQ_CLS" : "CAUSAL_LM",
                                     saved: classifier ? extraModelTensors : [])
        }
        files.add(Self.tensorsFile, writer: try SafeTensors.writer(tensors, metadata: ["step": String(state.step)], name: Self.tensorsFile))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        files.add(Self.stateFile, try encoder.encode(state))
        try files.commit(to: dir)
        // A pretraining run saved before the formats were one, now continued: its old state
        // files describe an earlier step.
        if state.stage == .pretrain {
            for old in [LegacyTrainState.stateFile, LegacyTrainState.optimizerFile] { try? FileManager.default.removeItem(atPath: Checkpoint.path(dir, old)) }
        }
    }

    /// The saved state of stage `stage` and its tensors, checked to be one step's and this stage's.
    func load(stage: Stage, settings: [String: String]) throws -> (State, [String: NamedTensor]) {
        let path = Checkpoint.path(dir, Self.stateFile)
        let modelStep = (try SafeTensors.read(path: Checkpoint.path(dir, "model.safetensors"))).metadata["step"].flatMap(Int.init)
        let state: State, tensors: [String: NamedTensor], stateName: String, tensorsName: String, tensorsStep: Int?
        if let data = FileManager.default.contents(atPath: path) {
            guard let decoded = try? JSONDecoder().decode(State.self, from: data) else {
                throw FoundryError("cannot resume: \(path) is malformed (restore it, or start again with --overwrite)")
            }
            let (read, metadata) = try SafeTensors.read(path: Checkpoint.path(dir, Self.tensorsFile))
            (state, tensors, tensorsStep) = (decoded, read, metadata["step"].flatMap(Int.init))
            (stateName, tensorsName) = (Self.stateFile, Self.tensorsFile)
        } else if stage == .pretrain && LegacyTrainState.exists(dir) {
            (state, tensors, tensorsStep) = try LegacyTrainState.read(dir)
            (stateName, tensorsName) = (LegacyTrainState.stateFile, LegacyTrainState.optimizerFile)
        } else {
            throw FoundryError("cannot resume: \(dir) holds no stage progress (\(Self.stateFile)); run without --resume")
        }
        guard state.stage == stage else {
            throw FoundryError("cannot resume: \(dir) holds a \(state.stage.rawValue) run, not \(stage.rawValue)")
        }
        for (name, step) in [("model.safetensors", modelStep), (tensorsName, tensorsStep)] {
            if let step, step != state.step {
                throw FoundryError("cannot resume: \(dir) mixes steps (\(name) is from step \(step), \(stateName) from step \(state.step)); restore the directory from a backup or start again")
            }
        }
        try Self.checkResumable(saved: state.settings, asked: settings, dir: dir)
        return (state, tensors)
    }

    /// Refuses to continue with other settings than the run was started with (a changed
    /// schedule would not continue the run, it would splice two). Settings the saved run did
    /// not record are not compared.
    static func checkResumable(saved: [String: String], asked: [String: String], dir: String) throws {
        let differing = asked.keys.sorted().filter { saved[$0] != nil && saved[$0] != asked[$0] }
        guard differing.isEmpty else {
            let list = differing.map { "\($0) \(asked[$0]!) (the run has \(saved[$0]!))" }.joined(separator: ", ")
            throw FoundryError("cannot resume \(dir) with other settings: \(list); pass the run's values, or start a new run with --overwrite")
        }
    }

    /// After `step` (1-based) of `total`: whether to save (every `saveEvery`, and at a signal)
    /// and whether to stop (a signal), agreed by every rank of a data-parallel run — a signal
    /// may reach them at different steps.
    func decide(_ step: Int, of total: Int, _ collective: Collective) throws -> (save: Bool, stop: Bool) {
        let stop = try collective.stopRequested()
        return (stop || (saveEvery > 0 && step % saveEvery == 0 && step < total), stop)
    }

    /// The state to resume from (nil when not resuming), after checking it is this stage's.
    static func resuming(_ checkpoint: StageCheckpoint?, _ resume: Bool, stage: Stage,
                         settings: [String: String]) throws -> (State, [String: NamedTensor])? {
        guard resume else { return nil }
        guard let checkpoint else { throw FoundryError("--resume needs the run's directory (--out)") }
        return try checkpoint.load(stage: stage, settings: settings)
    }
}

extension AdamW {
    /// Moments and step as tensors named `prefix`.m, .v, .step, for a stage's checkpoint.
    func stateTensors(_ prefix: String, device: Device) throws -> [NamedTensor] {
        let (m, v, step) = try state(device)
        return [NamedTensor(name: prefix + ".m", shape: [m.count], values: m), NamedTensor(name: prefix + ".v", shape: [v.count], values: v),
                NamedTensor(name: prefix + ".step", shape: [1], values: [Float(step)])]
    }
    func restore(_ prefix: String, from t: [String: NamedTensor], device: Device) throws {
        guard let m = t[prefix + ".m"], let v = t[prefix + ".v"], let s = t[prefix + ".step"] else {
            throw FoundryError("cannot resume: the stage state lacks the \(prefix) optimizer's moments")
        }
        try restore(m: m.values, v: v.values, step: Int(s.values[0]), device: device)
    }
}

/// How a stage's run ended.
public enum StageEnd {
    case finished
    /// A signal asked it to stop; its progress is saved.
    case interrupted(step: Int)
}
