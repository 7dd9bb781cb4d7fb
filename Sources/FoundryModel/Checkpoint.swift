import Foundation
import FoundryCore
import FoundryFiles
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
    /// "GPT2ForSequenceClassification" with "score.weight"). The files are published together
    /// (`FileSet`): a kill mid-save leaves the previous checkpoint whole.
    public static func save(_ model: GPT2, tokenizer: Tokenizer?, to dir: String,
                            extraTensors: [NamedTensor] = [], architecture: String = "GPT2LMHeadModel") throws {
        try files(model, tokenizer: tokenizer, extraTensors: extraTensors, architecture: architecture).commit(to: dir)
    }

    /// The checkpoint's files, to commit alone or with a trainer's (optimizer, state). `step`
    /// is recorded in model.safetensors' metadata, so a resume can check that the files agree.
    public static func files(_ model: GPT2, tokenizer: Tokenizer?, step: Int? = nil,
                             extraTensors: [NamedTensor] = [], architecture: String = "GPT2LMHeadModel") throws -> FileSet {
        // Each tensor read from the device on its own: the host holds one copy of the weights
        // (the file's), not the arena and its slices too (at GPT-2 124M, 0.5 GB apiece).
        let tensors = try model.layout.entries.map { e in
            NamedTensor(name: prefix + e.name, shape: e.shape, values: try model.device.read(model.params.slice(e.offset, e.count)))
        }
        var metadata = ["format": "pt"]
        if let step { metadata["step"] = String(step) }
        var set = FileSet()
        set.add("model.safetensors", writer: try SafeTensors.writer(tensors + extraTensors, metadata: metadata, name: "model.safetensors"))
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
        set.add("config.json", try config.encoded())
        if let tokenizer {
            set.add("tokenizer.json", try tokenizer.encoded())
            set.add("tokenizer_config.json", try tokenizerConfig(tokenizer, maxSeq: model.config.maxSeq))
        }
        set.add("generation_config.json", try generationConfig(model.config))
        return set
    }

    /// tokenizer_config.json: tells transformers to use tokenizer.json as it is
    /// (`PreTrainedTokenizerFast`; without it, AutoTokenizer rebuilds a GPT-2 tokenizer from
    /// config.json's model type, which drops the spaces of a character vocabulary), names the
    /// special tokens, and carries a chat template that renders Foundry's chat format exactly.
    static func tokenizerConfig(_ tokenizer: Tokenizer, maxSeq: Int) throws -> Data {
        let eos = TokenizerSpecials.eos, user = TokenizerSpecials.user, assistant = TokenizerSpecials.assistant
        let template = "{% for message in messages %}{% if message['role'] == 'assistant' %}\(assistant){{ message['content'] }}\(eos)"
            + "{% else %}\(user){{ message['content'] }}{% endif %}{% endfor %}{% if add_generation_prompt %}\(assistant){% endif %}"
        var config: [String: Any] = [
            "tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": maxSeq, "clean_up_tokenization_spaces": false,
            "eos_token": eos, "bos_token": eos, "pad_token": eos,
        ]
        if tokenizer.id(ofSpecial: user) != nil && tokenizer.id(ofSpecial: assistant) != nil { config["chat_template"] = template }
        return try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys])
    }

    /// generation_config.json as transformers writes it for GPT-2 (generation stops at end-of-text).
    static func generationConfig(_ c: GPT2Config) throws -> Data {
        var g: [String: Any] = ["_from_model_config": true]
        if let e = c.eosTokenId { g["bos_token_id"] = e; g["eos_token_id"] = e; g["pad_token_id"] = e }
        return try JSONSerialization.data(withJSONObject: g, options: [.prettyPrinted, .sortedKeys])
    }

    public static func readConfig(_ dir: String) throws -> GPT2Config {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw FoundryError("model directory not found: \(dir) (train one with `foundry pretrain --out \(dir)`)")
        }
        try FileSet.recover(dir, reading: true)   // a save a killed process committed but did not finish
        let configPath = path(dir, "config.json")
        guard let data = FileManager.default.contents(atPath: configPath) else {
            throw FoundryError("\(dir) is not a model directory: it has no config.json (expected a Foundry or Hugging Face GPT-2 checkpoint)")
        }
        return try GPT2Config(file: try ConfigFile.decode(data, path: configPath), path: configPath)
    }

    /// Loads a checkpoint onto `device`.
    public static func load(_ dir: String, device: Device) throws -> GPT2 { try loadWithMetadata(dir, device: device).model }

    /// The model and model.safetensors' metadata (where a trainer records the step).
    public static func loadWithMetadata(_ dir: String, device: Device) throws -> (model: GPT2, metadata: [String: String]) {
        let config = try readConfig(dir)
        let weightsPath = path(dir, "model.safetensors")
        guard FileManager.default.fileExists(atPath: weightsPath) else {
            throw FoundryError("\(dir) has no model.safetensors (Foundry reads safetensors weights; convert a .bin with transformers' save_pretrained(safe_serialization=True))")
        }
        let (tensors, metadata) = try SafeTensors.read(path: weightsPath)
        let model = try GPT2(config: config, device: device)
        var values = [Float](repeating: 0, count: model.layout.total)
        for e in model.layout.entries {
            guard let t = tensors[prefix + e.name] ?? tensors[e.name] else {
                throw FoundryError("\(weightsPath) lacks tensor \(prefix + e.name): not a GPT-2 checkpoint matching its config.json")
            }
            guard t.shape == e.shape else {
                throw FoundryError("\(weightsPath): tensor \(t.name) has shape \(t.shape) but config.json implies \(e.shape)")
            }
            guard t.values.allSatisfy(\.isFinite) else {
                throw FoundryError("\(weightsPath): tensor \(t.name) holds NaN or infinite values: the checkpoint is damaged (or saved from a run that diverged)")
            }
            values.replaceSubrange(e.offset..<e.offset + e.count, with: t.values)
        }
        try device.write(values, to: model.params)
        return (model, metadata)
    }

    /// The tokenizer saved beside a model, if any: tokenizer.json, or GPT-2's vocab.json +
    /// merges.txt (what transformers' slow GPT-2 tokenizer saves).
    public static func loadTokenizer(_ dir: String) throws -> Tokenizer? {
        let p = path(dir, "tokenizer.json")
        if FileManager.default.fileExists(atPath: p) { return try TokenizerIO.load(path: p) }
        if FileManager.default.fileExists(atPath: path(dir, "vocab.json")) && FileManager.default.fileExists(atPath: path(dir, "merges.txt")) {
            return try TokenizerIO.load(path: dir)
        }
        return nil
    }

    public static func path(_ dir: String, _ file: String) -> String { (dir as NSString).appendingPathComponent(file) }

    /// The head config.json names ("GPT2LMHeadModel", or "GPT2ForSequenceClassification" for a
    /// reward model), if it names one.
    public static func architecture(_ dir: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path(dir, "config.json")),
              let file = try? ConfigFile.decode(data, path: dir) else { return nil }
        return file.architectures?.first
    }

    /// Whether `dir` already holds a checkpoint (a run that writing there would replace).
    public static func exists(_ dir: String) -> Bool {
        ["config.json", "model.safetensors"].contains { FileManager.default.fileExists(atPath: path(dir, $0)) }
    }

    /// Refuses to write a new run over an existing one unless asked to.
    public static func checkNewRun(_ dir: String, overwrite: Bool) throws {
        if !overwrite && exists(dir) {
            throw FoundryError("\(dir) already holds a model: pass --overwrite to replace it (or --resume, where offered, to continue it), or choose another --out")
        }
    }
}
