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
    }

    /// config.json as `transformers.GPT2Config` writes it.
    public func json() -> [String: Any] {
        var j: [String: Any] = [
            "model_type": "gpt2", "architectures": ["GPT2LMHeadModel"],
            "vocab_size": vocabSize, "n_positions": maxSeq, "n_ctx": maxSeq, "n_embd": channels,
            "n_layer": layers, "n_head": heads, "n_inner": NSNull(), "activation_function": "gelu_new",
            "layer_norm_epsilon": Double(layerNormEps), "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0,
            "initializer_range": 0.02, "scale_attn_weights": true, "use_cache": true,
            "tie_word_embeddings": true, "torch_dtype": "float32",
            "foundry_objective": objective.rawValue,
        ]
        if let e = eosTokenId { j["eos_token_id"] = e; j["bos_token_id"] = e }
        return j
    }

    public init(json j: [String: Any], path: String) throws {
        func int(_ key: String, _ alt: String? = nil) throws -> Int {
            if let v = j[key] as? Int { return v }
            if let alt, let v = j[alt] as? Int { return v }
            throw FoundryError("\(path): missing or non-integer \"\(key)\" (is this a GPT-2 config.json?)")
        }
        if let type = j["model_type"] as? String, type != "gpt2" {
            throw FoundryError("\(path): model_type \"\(type)\" is not supported; Foundry reads GPT-2 checkpoints (model_type \"gpt2\")")
        }
        if let act = j["activation_function"] as? String, !["gelu_new", "gelu_pytorch_tanh", "gelu_fast"].contains(act) {
            throw FoundryError("\(path): activation_function \"\(act)\" is not supported; Foundry implements GPT-2's tanh GELU (gelu_new)")
        }
        if let inner = j["n_inner"] as? Int, inner != 4 * (j["n_embd"] as? Int ?? 0) {
            throw FoundryError("\(path): n_inner \(inner) is not supported; Foundry's MLP is 4 × n_embd wide")
        }
        self.init(vocabSize: try int("vocab_size"), maxSeq: try int("n_positions", "n_ctx"), channels: try int("n_embd"),
                  layers: try int("n_layer"), heads: try int("n_head"))
        if let eps = j["layer_norm_epsilon"] as? Double { layerNormEps = Float(eps) }
        if let o = j["foundry_objective"] as? String {
            guard let obj = Objective(rawValue: o) else { throw FoundryError("\(path): unknown foundry_objective \"\(o)\"") }
            objective = obj
        }
        eosTokenId = j["eos_token_id"] as? Int
        try validate()
    }

    /// Number of parameters (tied embeddings counted once).
    public var parameterCount: Int { ParameterLayout(self).total }
}
