import Foundation
import FoundryCore
import FoundryData
import FoundryModel

/// A post-training stage's progress on disk, so `--resume` continues it exactly: the model (as
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
        guard let data = FileManager.default.contents(atPath: Checkpoint.path(dir, stateFile)) else { return nil }
        return (try? JSONDecoder().decode(State.self, from: data))?.step
    }

    /// Whether `dir` holds a stage's saved progress.
    public static func exists(_ dir: String) -> Bool {
        FileManager.default.fileExists(atPath: Checkpoint.path(dir, stateFile))
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
    }

    /// The saved state of stage `stage` and its tensors, checked to be one step's and this stage's.
    func load(stage: Stage, settings: [String: String]) throws -> (State, [String: NamedTensor]) {
        let path = Checkpoint.path(dir, Self.stateFile)
        let modelStep = (try SafeTensors.read(path: Checkpoint.path(dir, "model.safetensors"))).metadata["step"].flatMap(Int.init)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FoundryError("cannot resume: \(dir) holds no stage progress (\(Self.stateFile)); run without --resume")
        }
        guard let state = try? JSONDecoder().decode(State.self, from: data) else {
            throw FoundryError("cannot resume: \(path) is malformed (restore it, or start again with --overwrite)")
        }
        guard state.stage == stage else {
            throw FoundryError("cannot resume: \(dir) holds a \(state.stage.rawValue) run, not \(stage.rawValue)")
        }
        let (tensors, metadata) = try SafeTensors.read(path: Checkpoint.path(dir, Self.tensorsFile))
        for (name, step) in [("model.safetensors", modelStep), (Self.tensorsFile, metadata["step"].flatMap(Int.init))] {
            if let step, step != state.step {
                throw FoundryError("cannot resume: \(dir) mixes steps (\(name) is from step \(step), \(Self.stateFile) from step \(state.step))")
            }
        }
        try TrainState(step: state.step, rng: RNG(seed: 0), objective: .causal, dataTokens: 0, settings: state.settings)
            .checkResumable(with: settings, dir: dir)
        return (state, tensors)
    }

    /// After `step` (1-based) of `total`: whether to save (every `saveEvery`, and at a signal)
    /// and whether to stop (a signal), agreed by every rank of a data-parallel run — a signal
    /// may reach them at different steps.
    func decide(_ step: Int, of total: Int, _ collective: Collective = SingleProcess()) throws -> (save: Bool, stop: Bool) {
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
