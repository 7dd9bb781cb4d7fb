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

    static let stateFile = "trainer_state.json", optimizerFile = "optimizer.safetensors"

    public static func save(_ state: TrainState, optimizer: AdamW, device: Device, to dir: String) throws {
        let (m, v, step) = try optimizer.state(device)
        try SafeTensors.write([NamedTensor(name: "adamw.m", shape: [m.count], values: m),
                               NamedTensor(name: "adamw.v", shape: [v.count], values: v)],
                              metadata: ["step": String(step)], to: Checkpoint.path(dir, optimizerFile))
        let file = StateFile(step: state.step, optimizerStep: step, objective: state.objective, dataTokens: state.dataTokens,
                             rng: state.rng.words.map { String($0) })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(file), to: Checkpoint.path(dir, stateFile))
    }

    /// trainer_state.json.
    struct StateFile: Codable {
        var step: Int, optimizerStep: Int, objective: Objective
        /// Absent in files from before it was recorded.
        var dataTokens: Int?
        /// The generator's four UInt64 words as strings: JSON numbers are doubles and would lose bits.
        var rng: [String]
        enum CodingKeys: String, CodingKey {
            case step, objective, rng, optimizerStep = "optimizer_step", dataTokens = "data_tokens"
        }
    }

    public static func load(from dir: String, optimizer: AdamW, device: Device) throws -> TrainState {
        let path = Checkpoint.path(dir, stateFile)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FoundryError("cannot resume: \(path) is missing (this directory holds a model but no training state; start without --resume)")
        }
        guard let file = try? JSONDecoder().decode(StateFile.self, from: data),
              case let words = file.rng.compactMap(UInt64.init), words.count == 4 else {
            throw FoundryError("cannot resume: \(path) is malformed (delete the directory and start again, or restore the file)")
        }
        let (tensors, _) = try SafeTensors.read(path: Checkpoint.path(dir, optimizerFile))
        guard let m = tensors["adamw.m"], let v = tensors["adamw.v"] else {
            throw FoundryError("cannot resume: \(Checkpoint.path(dir, optimizerFile)) lacks the AdamW moments")
        }
        try optimizer.restore(m: m.values, v: v.values, step: file.optimizerStep, device: device)
        return TrainState(step: file.step, rng: RNG(words: words), objective: file.objective, dataTokens: file.dataTokens ?? 0)
    }
}
