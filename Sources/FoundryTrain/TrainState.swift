import Foundation
import FoundryCore
import FoundryData
import FoundryModel

/// Everything beside the model that `--resume` needs to continue exactly: AdamW's moments
/// (optimizer.safetensors) and the step and random-generator state (trainer_state.json).
public struct TrainState {
    public var step: Int
    public var rng: RNG
    public var objective: Objective
    public var dataTokens: Int
    /// The settings a resumed run must share with the one it continues (the schedule and the
    /// batch), by command-line flag: "--steps" → "2000". Empty in checkpoints from before.
    public var settings: [String: String] = [:]

    public init(step: Int, rng: RNG, objective: Objective, dataTokens: Int, settings: [String: String] = [:]) {
        self.step = step; self.rng = rng; self.objective = objective; self.dataTokens = dataTokens; self.settings = settings
    }

    /// Refuses to continue with other settings than the run was started with (a changed
    /// schedule would not continue the run, it would splice two).
    public func checkResumable(with asked: [String: String], dir: String) throws {
        let differing = asked.keys.sorted().filter { settings[$0] != nil && settings[$0] != asked[$0] }
        guard differing.isEmpty else {
            let list = differing.map { "\($0) \(asked[$0]!) (the run has \(settings[$0]!))" }.joined(separator: ", ")
            throw FoundryError("cannot resume \(dir) with other settings: \(list); pass the run's values, or start a new run with --overwrite")
        }
    }

    static let stateFile = "trainer_state.json", optimizerFile = "optimizer.safetensors"

    /// Adds the optimizer's moments and trainer_state.json to a checkpoint's files.
    public static func add(_ state: TrainState, optimizer: AdamW, device: Device, to set: inout FileSet) throws {
        try add(state, moments: try optimizer.state(device), to: &set)
    }

    /// The same with the moments given (a sharded optimizer gathers them first).
    public static func add(_ state: TrainState, moments: (m: [Float], v: [Float], step: Int), to set: inout FileSet) throws {
        let (m, v, step) = moments
        set.add(optimizerFile, writer: try SafeTensors.writer([NamedTensor(name: "adamw.m", shape: [m.count], values: m),
                                                              NamedTensor(name: "adamw.v", shape: [v.count], values: v)],
                                                             metadata: ["step": String(step), "trainer_step": String(state.step)],
                                                             name: optimizerFile))
        let file = StateFile(step: state.step, optimizerStep: step, objective: state.objective, dataTokens: state.dataTokens,
                             rng: state.rng.words.map { String($0) }, settings: state.settings)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        set.add(stateFile, try encoder.encode(file))
    }

    /// trainer_state.json.
    struct StateFile: Codable {
        var step: Int, optimizerStep: Int, objective: Objective
        /// Absent in files from before it was recorded.
        var dataTokens: Int?
        /// The generator's four UInt64 words as strings: JSON numbers are doubles and would lose bits.
        var rng: [String]
        var settings: [String: String]?
        enum CodingKeys: String, CodingKey {
            case step, objective, rng, settings, optimizerStep = "optimizer_step", dataTokens = "data_tokens"
        }
    }

    /// Reads the state saved with the model; `modelStep` is the step model.safetensors records
    /// (nil in checkpoints from before it did): the files must all be that step's.
    public static func load(from dir: String, optimizer: AdamW, device: Device, modelStep: Int? = nil) throws -> TrainState {
        try load(from: dir, modelStep: modelStep) { m, v, step in try optimizer.restore(m: m, v: v, step: step, device: device) }
    }

    /// The same, handing the moments to `restore` (a sharded optimizer keeps its slice).
    public static func load(from dir: String, modelStep: Int? = nil,
                            restore: ([Float], [Float], Int) throws -> Void) throws -> TrainState {
        let path = Checkpoint.path(dir, stateFile)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FoundryError("cannot resume: \(path) is missing (this directory holds a model but no training state; start without --resume)")
        }
        guard let file = try? JSONDecoder().decode(StateFile.self, from: data),
              case let words = file.rng.compactMap(UInt64.init), words.count == 4 else {
            throw FoundryError("cannot resume: \(path) is malformed (delete the directory and start again, or restore the file)")
        }
        let (tensors, metadata) = try SafeTensors.read(path: Checkpoint.path(dir, optimizerFile))
        guard let m = tensors["adamw.m"], let v = tensors["adamw.v"] else {
            throw FoundryError("cannot resume: \(Checkpoint.path(dir, optimizerFile)) lacks the AdamW moments")
        }
        let optimizerTrainerStep = metadata["trainer_step"].flatMap(Int.init)
        for (name, step) in [("model.safetensors", modelStep), (optimizerFile, optimizerTrainerStep)] {
            if let step, step != file.step {
                throw FoundryError("cannot resume: \(dir) mixes steps (\(name) is from step \(step), \(stateFile) from step \(file.step)); restore the directory from a backup or start again")
            }
        }
        try restore(m.values, v.values, file.optimizerStep)
        return TrainState(step: file.step, rng: RNG(words: words), objective: file.objective, dataTokens: file.dataTokens ?? 0,
                          settings: file.settings ?? [:])
    }
}
