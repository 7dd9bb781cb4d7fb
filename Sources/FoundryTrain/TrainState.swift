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
        let json: [String: Any] = [
            "step": state.step, "optimizer_step": step, "objective": state.objective.rawValue,
            "data_tokens": state.dataTokens,
            // UInt64 words as strings: JSON numbers are doubles and would lose bits.
            "rng": state.rng.words.map { String($0) },
        ]
        try AtomicFile.write(try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys]),
                             to: Checkpoint.path(dir, stateFile))
    }

    public static func load(from dir: String, optimizer: AdamW, device: Device) throws -> TrainState {
        let path = Checkpoint.path(dir, stateFile)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FoundryError("cannot resume: \(path) is missing (this directory holds a model but no training state; start without --resume)")
        }
        guard let j = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
              let step = j["step"] as? Int, let optStep = j["optimizer_step"] as? Int,
              let words = (j["rng"] as? [String])?.compactMap(UInt64.init), words.count == 4,
              let obj = (j["objective"] as? String).flatMap(Objective.init(rawValue:)) else {
            throw FoundryError("cannot resume: \(path) is malformed (delete the directory and start again, or restore the file)")
        }
        let (tensors, _) = try SafeTensors.read(path: Checkpoint.path(dir, optimizerFile))
        guard let m = tensors["adamw.m"], let v = tensors["adamw.v"] else {
            throw FoundryError("cannot resume: \(Checkpoint.path(dir, optimizerFile)) lacks the AdamW moments")
        }
        try optimizer.restore(m: m.values, v: v.values, step: optStep, device: device)
        return TrainState(step: step, rng: RNG(words: words), objective: obj, dataTokens: j["data_tokens"] as? Int ?? 0)
    }
}
