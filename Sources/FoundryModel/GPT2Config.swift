import Foundation
import FoundryCore

/// How a model is trained to read its context.
public enum Objective: String, Codable, CaseIterable, Sendable {
    /// Next-token prediction with a causal mask (GPT).
    case causal
    /// Masked-token prediction with bidirectional attention (BERT-style).
    case masked
}

/// GPT-2's hyper-parameters, with Hugging Face's config.json names on disk.
public struct GPT2Config: Equatable, Sendable {
    public var vocabSize: Int
    public var maxSeq: Int
    public var channels: Int
    public var layers: Int
    public var heads: Int
    public var layerNormEps: Float = 1e-5
    public var objective: Objective = .causal
    public var eosTokenId: Int?

    public init(vocabSize: Int, maxSeq: Int, channels: Int, layers: Int, heads: Int,
                objective: Objective = .causal, eosTokenId: Int? = nil) {
        self.vocabSize = vocabSize; self.maxSeq = maxSeq; self.channels = channels
        self.layers = layers; self.heads = heads; self.objective = objective; self.eosTokenId = eosTokenId
    }

    public func validate() throws {
        guard vocabSize > 0, maxSeq > 0, channels > 0, layers > 0, heads > 0 else {
            throw FoundryError("model sizes must be positive (vocab \(vocabSize), context \(maxSeq), width \(channels), layers \(layers), heads \(heads))")
        }
        guard channels % heads == 0 else {
            throw FoundryError("width \(channels) is not divisible by \(heads) heads: pick --embd a multiple of --heads")
        }
        guard maxSeq >= 2 else { throw FoundryError("a context of \(maxSeq) position: n_positions (--context) must be at least 2") }
        guard checkedParameterCount != nil else {
            throw FoundryError("a model of vocabulary \(vocabSize), width \(channels), \(layers) layers and context \(maxSeq) has more parameters than any machine holds: use smaller sizes")
        }
    }

    /// The parameter count computed without overflow (nil if it overflows, or passes 2^40:
    /// four terabytes of weights). Checked in `validate`, so that the layout's sizes cannot trap.
    public var checkedParameterCount: Int? {
        func mul(_ a: Int, _ b: Int) -> Int? { let (r, o) = a.multipliedReportingOverflow(by: b); return o ? nil : r }
        func add(_ a: Int, _ b: Int) -> Int? { let (r, o) = a.addingReportingOverflow(b); return o ? nil : r }
        let C = channels
        guard let cc = mul(C, C), let matrices = mul(cc, 12), let vectors = mul(C, 13), let block = add(matrices, vectors),
              let blocks = mul(block, layers), let wte = mul(vocabSize, C), let wpe = mul(maxSeq, C),
              let embeddings = add(wte, wpe), let all = add(blocks, embeddings), let total = add(all, 2 * C),
              total <= 1 << 40 else { return nil }
        return total
    }

    /// config.json as `transformers.GPT2Config` writes it.
    public var file: ConfigFile { ConfigFile(self) }

    /// Reads a config.json (`path` names it in errors): Foundry's, or any GPT-2 one transformers wrote.
    public init(file f: ConfigFile, path: String) throws {
        func required(_ value: Int?, _ key: String) throws -> Int {
            guard let value else { throw FoundryError("\(path): missing or non-integer \"\(key)\" (is this a GPT-2 config.json?)") }
            return value
        }
        if let type = f.modelType, type != "gpt2" {
            throw FoundryError("\(path): model_type \"\(type)\" is not supported; Foundry reads GPT-2 checkpoints (model_type \"gpt2\")")
        }
        if let act = f.activationFunction, !["gelu_new", "gelu_pytorch_tanh", "gelu_fast"].contains(act) {
            throw FoundryError("\(path): activation_function \"\(act)\" is not supported; Foundry implements GPT-2's tanh GELU (gelu_new)")
        }
        if let inner = f.nInner, inner != 4 * (f.nEmbd ?? 0) {
            throw FoundryError("\(path): n_inner \(inner) is not supported; Foundry's MLP is 4 × n_embd wide")
        }
        self.init(vocabSize: try required(f.vocabSize, "vocab_size"), maxSeq: try required(f.nPositions ?? f.nCtx, "n_positions"),
                  channels: try required(f.nEmbd, "n_embd"), layers: try required(f.nLayer, "n_layer"), heads: try required(f.nHead, "n_head"))
        if let eps = f.layerNormEpsilon { layerNormEps = Float(eps) }
        if let o = f.foundryObjective {
            guard let obj = Objective(rawValue: o) else { throw FoundryError("\(path): unknown foundry_objective \"\(o)\"") }
            objective = obj
        }
        eosTokenId = f.eosTokenId
        // The file's own names in the message: a user who never passed --heads should not read about it.
        let problem: String? = if vocabSize < 1 || maxSeq < 1 || channels < 1 || layers < 1 || heads < 1 {
            "vocab_size, n_positions, n_embd, n_layer and n_head must all be positive"
        } else if channels % heads != 0 {
            "n_embd \(channels) is not divisible by n_head \(heads)"
        } else if maxSeq < 2 {
            "n_positions \(maxSeq) is below 2"
        } else if checkedParameterCount == nil {
            "the sizes (vocab_size \(vocabSize), n_embd \(channels), n_layer \(layers)) give more parameters than any machine holds"
        } else { nil }
        if let problem { throw FoundryError("\(path): \(problem); the file is damaged or not a GPT-2 config") }
        try validate()
    }

    /// Number of parameters (tied embeddings counted once).
    public var parameterCount: Int { ParameterLayout(self).total }
}

/// config.json in Hugging Face's GPT-2 layout. Every field is optional so that files written by
/// other tools decode; `GPT2Config(file:path:)` says which required one is missing. Keys this
/// struct does not name are ignored on reading.
public struct ConfigFile: Codable, Equatable {
    public var modelType: String?
    public var architectures: [String]?
    public var vocabSize: Int?, nPositions: Int?, nCtx: Int?, nEmbd: Int?, nLayer: Int?, nHead: Int?, nInner: Int?
    public var activationFunction: String?
    public var layerNormEpsilon: Double?
    public var residPdrop: Double?, embdPdrop: Double?, attnPdrop: Double?
    public var initializerRange: Double?
    public var scaleAttnWeights: Bool?, useCache: Bool?, tieWordEmbeddings: Bool?
    public var torchDtype: String?
    public var foundryObjective: String?
    public var eosTokenId: Int?, bosTokenId: Int?
    /// A sequence classifier's head (a reward model: GPT2ForSequenceClassification).
    public var numLabels: Int?, id2label: [String: String]?, label2id: [String: Int]?, padTokenId: Int?

    enum CodingKeys: String, CodingKey {
        case modelType = "model_type", architectures, vocabSize = "vocab_size", nPositions = "n_positions", nCtx = "n_ctx"
        case nEmbd = "n_embd", nLayer = "n_layer", nHead = "n_head", nInner = "n_inner"
        case activationFunction = "activation_function", layerNormEpsilon = "layer_norm_epsilon"
        case residPdrop = "resid_pdrop", embdPdrop = "embd_pdrop", attnPdrop = "attn_pdrop", initializerRange = "initializer_range"
        case scaleAttnWeights = "scale_attn_weights", useCache = "use_cache", tieWordEmbeddings = "tie_word_embeddings"
        case torchDtype = "torch_dtype", foundryObjective = "foundry_objective", eosTokenId = "eos_token_id", bosTokenId = "bos_token_id"
        case numLabels = "num_labels", id2label, label2id, padTokenId = "pad_token_id"
    }

    /// What Foundry writes for `c`: GPT-2's constants (no dropout, tanh GELU, tied embeddings).
    public init(_ c: GPT2Config) {
        modelType = "gpt2"; architectures = ["GPT2LMHeadModel"]
        vocabSize = c.vocabSize; nPositions = c.maxSeq; nCtx = c.maxSeq; nEmbd = c.channels; nLayer = c.layers; nHead = c.heads
        activationFunction = "gelu_new"; layerNormEpsilon = Double(c.layerNormEps)
        residPdrop = 0; embdPdrop = 0; attnPdrop = 0; initializerRange = 0.02
        scaleAttnWeights = true; useCache = true; tieWordEmbeddings = true; torchDtype = "float32"
        foundryObjective = c.objective.rawValue
        eosTokenId = c.eosTokenId; bosTokenId = c.eosTokenId
    }

    /// Lenient, as the dictionary reading it replaces was: a field of another type than expected
    /// (a list of end-of-text ids, say) reads as absent, and a required one then fails in
    /// `GPT2Config(file:path:)` with its name.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func field<T: Decodable>(_ key: CodingKeys) -> T? { (try? c.decodeIfPresent(T.self, forKey: key)) ?? nil }
        modelType = field(.modelType); architectures = field(.architectures)
        vocabSize = field(.vocabSize); nPositions = field(.nPositions); nCtx = field(.nCtx); nEmbd = field(.nEmbd)
        nLayer = field(.nLayer); nHead = field(.nHead); nInner = field(.nInner)
        activationFunction = field(.activationFunction); layerNormEpsilon = field(.layerNormEpsilon)
        residPdrop = field(.residPdrop); embdPdrop = field(.embdPdrop); attnPdrop = field(.attnPdrop)
        initializerRange = field(.initializerRange); scaleAttnWeights = field(.scaleAttnWeights); useCache = field(.useCache)
        tieWordEmbeddings = field(.tieWordEmbeddings); torchDtype = field(.torchDtype); foundryObjective = field(.foundryObjective)
        eosTokenId = field(.eosTokenId); bosTokenId = field(.bosTokenId)
        numLabels = field(.numLabels); id2label = field(.id2label); label2id = field(.label2id); padTokenId = field(.padTokenId)
    }

    /// Reads `data`, with a one-line error naming `path`.
    public static func decode(_ data: Data, path: String) throws -> ConfigFile {
        let data = data.starts(with: [0xEF, 0xBB, 0xBF]) ? data.dropFirst(3) : data   // a byte-order mark is not JSON
        guard (try? JSONSerialization.jsonObject(with: data)) is [String: Any],
              let file = try? JSONDecoder().decode(ConfigFile.self, from: data) else {
            throw FoundryError("\(path) is not valid JSON: re-save the model, or restore the file")
        }
        return file
    }

    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }
}
