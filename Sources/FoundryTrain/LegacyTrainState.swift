import Foundation
import FoundryCore
import FoundryFiles
import FoundryData
import FoundryModel

/// Pretraining runs saved before every stage shared one checkpoint format kept their progress in
/// trainer_state.json (step, generator, settings) and optimizer.safetensors (AdamW's moments).
/// They still resume: read here as the stage progress and tensors `StageCheckpoint` saves now.
enum LegacyTrainState {
    static let stateFile = "trainer_state.json", optimizerFile = "optimizer.safetensors"

    /// trainer_state.json.
    struct StateFile: Codable {
        var step: Int, optimizerStep: Int
        /// The generator's four UInt64 words as strings: JSON numbers are doubles and would lose bits.
        var rng: [String]
        var settings: [String: String]?
        enum CodingKeys: String, CodingKey { case step, rng, settings, optimizerStep = "optimizer_step" }
    }

    static func exists(_ dir: String) -> Bool { FileManager.default.fileExists(atPath: Checkpoint.path(dir, stateFile)) }

    static func savedStep(_ dir: String) -> Int? {
        FileManager.default.contents(atPath: Checkpoint.path(dir, stateFile)).flatMap { try? JSONDecoder().decode(StateFile.self, from: $0) }?.step
    }

    /// The progress and the optimizer's tensors (named as `AdamW.stateTensors("adamw")` names
    /// them), and the step the optimizer file says it was saved at.
    static func read(_ dir: String) throws -> (StageProgress, [String: NamedTensor], tensorsStep: Int?) {
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
        let progress = StageProgress(stage: .pretrain, step: file.step, rng: RNG(words: words), settings: file.settings ?? [:])
        let step = NamedTensor(name: "adamw.step", shape: [1], values: [Float(file.optimizerStep)])
        return (progress, ["adamw.m": m, "adamw.v": v, "adamw.step": step], metadata["trainer_step"].flatMap(Int.init))
    }
}
