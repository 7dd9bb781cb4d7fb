import Foundation
import FoundryCore
import FoundryData

/// A checkpoint is a directory in Hugging Face GPT-2 layout:
///   config.json         GPT2Config (plus "foundry_objective")
///   model.safetensors   "transformer.<name>" tensors, Conv1D weights as [in, out]
///   tokenizer.json      the tokenizer, when the model has one
/// so `GPT2LMHeadModel.from_pretrained(dir)` loads what Foundry saves, and Foundry loads what
/// `save_pretrained` writes. Every file is written atomically (temp file, then rename).
public enum Checkpoint {
    static let prefix = "transformer."

    /// `extraTensors` and `architecture` let heads ride along (a reward model is saved as
    /// "GPT2ForSequenceClassification" with "score.weight").
    public static func save(_ model: GPT2, tokenizer: Tokenizer?, to dir: String,
                            extraTensors: [NamedTensor] = [], architecture: String = "GPT2LMHeadModel") throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let values = try model.device.read(model.params)
        let tensors = model.layout.entries.map { e in
            NamedTensor(name: prefix + e.name, shape: e.shape, values: Array(values[e.offset..<e.offset + e.count]))
        }
        try SafeTensors.write(tensors + extraTensors, metadata: ["format": "pt"], to: path(dir, "model.safetensors"))
        var config = model.config.file
        config.architectures = [architecture]
        if architecture == "GPT2ForSequenceClassification" {
            config.numLabels = 1
            config.id2label = ["0": "LABEL_0"]
            config.label2id = ["LABEL_0": 0]
            // transformers reads the score just before the first pad token: padding with
            // end-of-text puts it on the last real token, where Foundry reads it.
            config.padTokenId = model.config.eosTokenId
        }
        try AtomicFile.write(try config.encoded(), to: path(dir, "config.json"))
        try tokenizer?.save(to: path(dir, "tokenizer.json"))
    }

    public static func readConfig(_ dir: String) throws -> GPT2Config {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw FoundryError("model directory not found: \(dir) (train one with `foundry pretrain --out \(dir)`)")
        }
        let configPath = path(dir, "config.json")
        guard let data = FileManager.default.contents(atPath: configPath) else {
            throw FoundryError("\(dir) is not a model directory: it has no config.json (expected a Foundry or Hugging Face GPT-2 checkpoint)")
        }
        return try GPT2Config(file: try ConfigFile.decode(data, path: configPath), path: configPath)
    }

    /// Loads a checkpoint onto `device`.
    public static func load(_ dir: String, device: Device) throws -> GPT2 {
        let config = try readConfig(dir)
        let weightsPath = path(dir, "model.safetensors")
        guard FileManager.default.fileExists(atPath: weightsPath) else {
            throw FoundryError("\(dir) has no model.safetensors (Foundry reads safetensors weights; convert a .bin with transformers' save_pretrained(safe_serialization=True))")
        }
        let (tensors, _) = try SafeTensors.read(path: weightsPath)
        let model = try GPT2(config: config, device: device)
        var values = [Float](repeating: 0, count: model.layout.total)
        for e in model.layout.entries {
            guard let t = tensors[prefix + e.name] ?? tensors[e.name] else {
                throw FoundryError("\(weightsPath) lacks tensor \(prefix + e.name): not a GPT-2 checkpoint matching its config.json")
            }
            guard t.shape == e.shape else {
                throw FoundryError("\(weightsPath): tensor \(t.name) has shape \(t.shape) but config.json implies \(e.shape)")
            }
            values.replaceSubrange(e.offset..<e.offset + e.count, with: t.values)
        }
        try device.write(values, to: model.params)
        return model
    }

    /// The tokenizer saved beside a model, if any.
    public static func loadTokenizer(_ dir: String) throws -> Tokenizer? {
        let p = path(dir, "tokenizer.json")
        return FileManager.default.fileExists(atPath: p) ? try TokenizerIO.load(path: p) : nil
    }

    public static func path(_ dir: String, _ file: String) -> String { (dir as NSString).appendingPathComponent(file) }
}
