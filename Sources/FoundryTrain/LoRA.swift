import Foundation
import FoundryCore
import FoundryFiles
import FoundryModel

/// Which of GPT-2's Conv1D matrices get LoRA adapters.
public enum LoRATarget: String, CaseIterable, Sendable {
    /// attn.c_attn (the query/key/value product) and attn.c_proj.
    case attn
    /// mlp.c_fc and mlp.c_proj.
    case mlp

    /// The modules, as in the parameter names ("h.0." + module + ".weight").
    public var modules: [String] { self == .attn ? ["attn.c_attn", "attn.c_proj"] : ["mlp.c_fc", "mlp.c_proj"] }
}

/// Low-rank adaptation (Hu et al. 2021): each chosen weight W [in, out] is trained as
/// W0 + (alpha / rank) · A·B with A [in, rank] and B [rank, out]; W0 and everything else stay fixed.
public struct LoRAOptions: Sendable {
    /// The adapters' rank; 0 trains every parameter instead (full finetuning).
    public var rank = 0
    /// The update is scaled by alpha / rank; nil: twice the rank (scale 2, as TRL's examples' r 16, α 32).
    public var alpha: Float?
    public var targets: [LoRATarget] = LoRATarget.allCases
    /// An adapter directory (Foundry's `adapter/`, or one `peft` saved) to start from, instead
    /// of A random and B zero.
    public var initFrom: String?
    public init() {}

    public var enabled: Bool { rank > 0 }
    public var resolvedAlpha: Float { alpha ?? Float(2 * rank) }
    public var scale: Float { resolvedAlpha / Float(max(rank, 1)) }

    public func validate() throws {
        try require(rank >= 0, "--lora-rank must be 0 (no LoRA) or more, not \(rank)")
        if let alpha { try require(alpha > 0 && alpha.isFinite, "--lora-alpha must be a positive number, not \(alpha)") }
        try require(!targets.isEmpty, "--lora-targets needs at least one of \(LoRATarget.allCases.map(\.rawValue).joined(separator: ", "))")
        if initFrom != nil { try require(rank > 0, "--init-from an adapter needs --lora-rank (its rank)") }
    }

    /// What a resumed run must share.
    var resumeSettings: [String: String] {
        ["--lora-rank": "\(rank)", "--lora-alpha": "\(resolvedAlpha)", "--lora-targets": targets.map(\.rawValue).joined(separator: ",")]
    }
}

/// The adapters of one model, their gradients and their own AdamW. The model's parameter
/// arena always holds the merged weights W0 + scale·A·B, so forward, backward, sampling and
/// saving work unchanged. The backward computes the merged weight's gradient dW as for full
/// finetuning; the adapters' gradients follow from it exactly: dA = scale·dW·Bᵀ and
/// dB = scale·Aᵀ·dW (so LoRA saves the optimizer's memory, not the backward's work).
public final class LoRAAdapter {
    public let options: LoRAOptions
    public let scale: Float
    let model: GPT2

    /// One adapted matrix.
    struct Site {
        let layer: Int
        let module: String        // "attn.c_attn"
        let inputs: Int, outputs: Int
        let weight: TensorRef, weightGrad: TensorRef
        let base: TensorRef       // W0
        let aOffset: Int, bOffset: Int
        var name: String { "h.\(layer).\(module)" }
    }
    let sites: [Site]
    /// Every A then B, site by site; `grads` has the same layout.
    let params: TensorRef, grads: TensorRef
    let optimizer: AdamW

    /// Trainable parameters (the adapters').
    public var parameterCount: Int { params.count }

    /// The adapters' parameters for a model of `layout` (nothing allocated).
    public static func parameterCount(_ layout: ParameterLayout, layers: Int, options: LoRAOptions) -> Int {
        (0..<layers).flatMap { l in options.targets.flatMap(\.modules).map { "h.\(l).\($0).weight" } }
            .compactMap { layout.entry($0) }.reduce(0) { $0 + ($1.shape[0] + $1.shape[1]) * options.rank }
    }

    public init(model: GPT2, options: LoRAOptions, seed: UInt64, weightDecay: Float = 0) throws {
        try options.validate()
        precondition(options.enabled)
        self.model = model; self.options = options; scale = options.scale
        let d = model.device, r = options.rank
        var sites: [Site] = [], offset = 0
        for layer in 0..<model.config.layers {
            for module in options.targets.flatMap(\.modules) {
                let name = "h.\(layer).\(module).weight"
                guard let e = model.layout.entry(name), e.shape.count == 2 else { throw FoundryError("the model has no \(name) to adapt") }
                let (inputs, outputs) = (e.shape[0], e.shape[1])
                guard r <= min(inputs, outputs) else {
                    throw FoundryError("--lora-rank \(r) is larger than \(name)'s smaller side (\(min(inputs, outputs))): pick a rank up to that")
                }
                let base = try d.makeTensor(count: e.count)
                d.copy(model.param(name), to: base)
                sites.append(Site(layer: layer, module: module, inputs: inputs, outputs: outputs, weight: model.param(name),
                                  weightGrad: model.grad(name), base: base, aOffset: offset, bOffset: offset + inputs * r))
                offset += (inputs + outputs) * r
            }
        }
        self.sites = sites
        params = try d.makeTensor(count: offset)
        grads = try d.makeTensor(count: offset)
        optimizer = try AdamW(device: d, count: offset, weightDecay: weightDecay)
        // PEFT's start: A from kaiming-uniform with a = √5 (bound 1/√in), B zero, so the merged
        // model is the base model at step 0.
        var rng = RNG(seed: seed ^ 0x4C6F_5241)
        var values = [Float](repeating: 0, count: offset)
        for s in sites {
            let bound = 1 / Float(s.inputs).squareRoot()
            for j in 0..<(s.inputs * r) { values[s.aOffset + j] = (2 * rng.uniform() - 1) * bound }
        }
        try d.write(values, to: params)
        if let dir = options.initFrom { try load(adapter: dir) }
        materialize()
    }

    func a(_ s: Site, _ arena: TensorRef) -> TensorRef { arena.slice(s.aOffset, s.inputs * options.rank) }
    func b(_ s: Site, _ arena: TensorRef) -> TensorRef { arena.slice(s.bOffset, options.rank * s.outputs) }

    /// Writes W0 + scale·A·B into the model's weights.
    func materialize() {
        let d = model.device, r = options.rank
        for s in sites {
            d.copy(s.base, to: s.weight)
            d.gemm(transA: false, transB: false, m: s.inputs, n: s.outputs, k: r, alpha: scale,
                   a: a(s, params), b: b(s, params), beta: 1, c: s.weight, bias: nil)
        }
    }

    /// The adapters' gradients from the merged weights' (after the model's backward).
    func projectGradients() {
        let d = model.device, r = options.rank
        for s in sites {
            d.gemm(transA: false, transB: true, m: s.inputs, n: r, k: s.outputs, alpha: scale,
                   a: s.weightGrad, b: b(s, params), beta: 0, c: a(s, grads), bias: nil)
            d.gemm(transA: true, transB: false, m: r, n: s.outputs, k: s.inputs, alpha: scale,
                   a: a(s, params), b: s.weightGrad, beta: 0, c: b(s, grads), bias: nil)
        }
    }

    /// One AdamW step on the adapters (clipped by their own gradient norm), then the merged
    /// weights rewritten. Enqueued without waiting, like `AdamW.update`.
    public func update(lr: Float, clip: Float) -> GradNorm {
        projectGradients()
        let norm = optimizer.update(params: params, grads: grads, decayCount: params.count, device: model.device, lr: lr, clip: clip)
        materialize()
        return norm
    }

    // MARK: state

    /// The adapters and their optimizer, for a stage's checkpoint.
    func stateTensors() throws -> [NamedTensor] {
        [NamedTensor(name: "lora.params", shape: [params.count], values: try model.device.read(params))]
            + (try optimizer.stateTensors("lora_adamw", device: model.device))
    }

    func restore(from t: [String: NamedTensor]) throws {
        guard let p = t["lora.params"], p.values.count == params.count else {
            throw FoundryError("cannot resume: the stage state has no LoRA adapters of this rank and targets (was the run started with other --lora-* options?)")
        }
        try model.device.write(p.values, to: params)
        try optimizer.restore("lora_adamw", from: t, device: model.device)
        materialize()
    }

    // MARK: PEFT's adapter format

    /// PEFT's name of a site's A or B ("base_model.model.transformer.h.0.attn.c_attn.lora_A.weight").
    static func peftName(_ s: Site, _ which: String) -> String { "base_model.model.transformer.\(s.name).lora_\(which).weight" }

    /// `adapter_config.json` and `adapter_model.safetensors` as `peft` writes them for GPT-2
    /// (Conv1D weights: fan_in_fan_out, lora_A [rank, in] = Aᵀ, lora_B [out, rank] = Bᵀ), added
    /// to `files` under `dir` so they are published with the checkpoint.
    /// `saved`: whole tensors trained beside the adapters (a reward model's score head), kept as
    /// PEFT's modules_to_save.
    public func addAdapterFiles(to files: inout FileSet, dir: String = "adapter", baseModel: String, taskType: String = "CAUSAL_LM",
                                saved: [NamedTensor] = []) throws {
        let values = try model.device.read(params), r = options.rank
        var tensors: [NamedTensor] = []
        for s in sites {
            let av = Array(values[s.aOffset..<s.aOffset + s.inputs * r]), bv = Array(values[s.bOffset..<s.bOffset + r * s.outputs])
            tensors.append(NamedTensor(name: Self.peftName(s, "A"), shape: [r, s.inputs], values: transposed(av, rows: s.inputs, cols: r)))
            tensors.append(NamedTensor(name: Self.peftName(s, "B"), shape: [s.outputs, r], values: transposed(bv, rows: r, cols: s.outputs)))
        }
        for t in saved { tensors.append(NamedTensor(name: "base_model.model." + t.name, shape: t.shape, values: t.values)) }
        let modules = options.targets.flatMap(\.modules).map { $0 == "attn.c_attn" ? "c_attn" : $0 == "mlp.c_fc" ? "c_fc" : $0 }
        var config = PEFTConfig(base_model_name_or_path: baseModel, r: r, lora_alpha: options.resolvedAlpha,
                                target_modules: modules, task_type: taskType)
        if !saved.isEmpty { config.modules_to_save = saved.map { ($0.name as NSString).deletingPathExtension } }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        files.add(dir + "/adapter_config.json", try encoder.encode(config))
        files.add(dir + "/adapter_model.safetensors",
                  writer: try SafeTensors.writer(tensors, metadata: ["format": "pt"], name: "adapter_model.safetensors"))
    }

    /// Loads A and B from an adapter directory (PEFT's format) of this rank and targets.
    func load(adapter dir: String) throws {
        let configPath = (dir as NSString).appendingPathComponent("adapter_config.json")
        guard let data = FileManager.default.contents(atPath: configPath) else {
            throw FoundryError("\(dir) is not a LoRA adapter: it has no adapter_config.json (Foundry writes one in a LoRA run's adapter/ directory)")
        }
        guard let config = try? JSONDecoder().decode(PEFTConfig.self, from: data) else {
            throw FoundryError("\(configPath) is malformed: restore it, or start the adapter afresh without --init-from")
        }
        guard config.peft_type == "LORA", config.r == options.rank else {
            throw FoundryError("\(dir) holds a \(config.peft_type) adapter of rank \(config.r): pass --lora-rank \(config.r) to continue it")
        }
        guard config.lora_alpha == options.resolvedAlpha else {
            throw FoundryError("\(dir) was trained with lora_alpha \(config.lora_alpha): pass --lora-alpha \(config.lora_alpha) to continue it")
        }
        guard config.fan_in_fan_out ?? true else {
            throw FoundryError("\(dir) was made with fan_in_fan_out false, which GPT-2's Conv1D weights do not use")
        }
        let (tensors, _) = try SafeTensors.read(path: (dir as NSString).appendingPathComponent("adapter_model.safetensors"))
        var values = try model.device.read(params)
        let r = options.rank
        for s in sites {
            guard let a = tensors[Self.peftName(s, "A")], let b = tensors[Self.peftName(s, "B")],
                  a.shape == [r, s.inputs], b.shape == [s.outputs, r] else {
                throw FoundryError("\(dir) has no lora_A/lora_B of rank \(r) for \(s.name): it was trained on another model or with other --lora-targets")
            }
            values.replaceSubrange(s.aOffset..<s.aOffset + s.inputs * r, with: transposed(a.values, rows: r, cols: s.inputs))
            values.replaceSubrange(s.bOffset..<s.bOffset + r * s.outputs, with: transposed(b.values, rows: s.outputs, cols: r))
        }
        try model.device.write(values, to: params)
    }
}

/// The fields of PEFT's adapter_config.json Foundry writes and reads.
struct PEFTConfig: Codable {
    var peft_type = "LORA"
    var base_model_name_or_path: String?
    var r: Int
    var lora_alpha: Float
    var target_modules: [String]?
    var task_type: String?
    var fan_in_fan_out: Bool? = true
    var lora_dropout: Float? = 0
    var bias: String? = "none"
    var inference_mode: Bool? = true
    var init_lora_weights: Bool? = true
    var modules_to_save: [String]? = nil

    init(base_model_name_or_path: String, r: Int, lora_alpha: Float, target_modules: [String], task_type: String) {
        self.base_model_name_or_path = base_model_name_or_path; self.r = r; self.lora_alpha = lora_alpha
        self.target_modules = target_modules; self.task_type = task_type
    }

    enum CodingKeys: String, CodingKey {
        case peft_type, base_model_name_or_path, r, lora_alpha, target_modules, task_type, fan_in_fan_out, lora_dropout, bias,
             inference_mode, init_lora_weights, modules_to_save
    }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        peft_type = try c.decodeIfPresent(String.self, forKey: .peft_type) ?? "LORA"
        base_model_name_or_path = try c.decodeIfPresent(String.self, forKey: .base_model_name_or_path)
        r = try c.decode(Int.self, forKey: .r)
        lora_alpha = try c.decodeIfPresent(Float.self, forKey: .lora_alpha) ?? 8
        // peft writes target_modules as a list, or a set as a list, or one regex string
        target_modules = try? c.decodeIfPresent([String].self, forKey: .target_modules)
        task_type = try c.decodeIfPresent(String.self, forKey: .task_type)
        fan_in_fan_out = try c.decodeIfPresent(Bool.self, forKey: .fan_in_fan_out)
    }
}

/// out[c][r] = m[r][c] for a rows × cols row-major matrix.
func transposed(_ m: [Float], rows: Int, cols: Int) -> [Float] {
    var out = [Float](repeating: 0, count: m.count)
    for r in 0..<rows { for c in 0..<cols { out[c * rows + r] = m[r * cols + c] } }
    return out
}
