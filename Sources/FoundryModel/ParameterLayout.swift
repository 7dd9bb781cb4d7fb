import FoundryCore

/// The tensors of one transformer block, by their Hugging Face names (after "h.N."). Matrices
/// first, in the arena's order, then vectors.
public enum BlockTensor: Int, CaseIterable, Sendable {
    case attention, attentionProjection, mlp, mlpProjection
    case ln1Weight, ln1Bias, attentionBias, attentionProjectionBias, ln2Weight, ln2Bias, mlpBias, mlpProjectionBias

    public var name: String {
        switch self {
        case .attention: "attn.c_attn.weight"
        case .attentionProjection: "attn.c_proj.weight"
        case .mlp: "mlp.c_fc.weight"
        case .mlpProjection: "mlp.c_proj.weight"
        case .ln1Weight: "ln_1.weight"
        case .ln1Bias: "ln_1.bias"
        case .attentionBias: "attn.c_attn.bias"
        case .attentionProjectionBias: "attn.c_proj.bias"
        case .ln2Weight: "ln_2.weight"
        case .ln2Bias: "ln_2.bias"
        case .mlpBias: "mlp.c_fc.bias"
        case .mlpProjectionBias: "mlp.c_proj.bias"
        }
    }

    /// Conv1D layout, as transformers stores GPT-2: a matrix is [in, out].
    public func shape(channels C: Int) -> [Int] {
        switch self {
        case .attention: [C, 3 * C]
        case .attentionProjection: [C, C]
        case .mlp: [C, 4 * C]
        case .mlpProjection: [4 * C, C]
        case .attentionBias: [3 * C]
        case .mlpBias: [4 * C]
        case .ln1Weight, .ln1Bias, .attentionProjectionBias, .ln2Weight, .ln2Bias, .mlpProjectionBias: [C]
        }
    }

    public var isMatrix: Bool { rawValue <= BlockTensor.mlpProjection.rawValue }
    public static let matrices = allCases.filter(\.isMatrix)

    /// The full name in block `layer`, e.g. "h.0.attn.c_attn.weight".
    public func name(layer: Int) -> String { "h.\(layer).\(name)" }
}

/// Where each named tensor lives in the one parameter arena. Gradients and both AdamW moments
/// use the same layout in arenas of their own.
///
/// Matrices come first and vectors last so that AdamW's weight decay (matrices and embeddings
/// only, as nanoGPT does) is "the first `decayCount` elements" and one launch updates everything.
public struct ParameterLayout {
    public struct Entry {
        /// Hugging Face name without the "transformer." prefix, e.g. "h.0.attn.c_attn.weight".
        public let name: String
        public let shape: [Int]
        public let offset: Int
        public var count: Int { shape.reduce(1, *) }
    }

    /// The tensors outside the blocks.
    public static let tokenEmbedding = "wte.weight", positionEmbedding = "wpe.weight"
    public static let finalNormWeight = "ln_f.weight", finalNormBias = "ln_f.bias"

    public private(set) var entries: [Entry] = []
    public private(set) var decayCount = 0
    public private(set) var total = 0
    private var index: [String: Int] = [:]

    public init(_ c: GPT2Config) {
        let C = c.channels
        add(Self.tokenEmbedding, [c.vocabSize, C])
        add(Self.positionEmbedding, [c.maxSeq, C])
        for l in 0..<c.layers {
            for t in BlockTensor.matrices { add(t.name(layer: l), t.shape(channels: C)) }
        }
        decayCount = total
        for l in 0..<c.layers {
            for t in BlockTensor.allCases where !t.isMatrix { add(t.name(layer: l), t.shape(channels: C)) }
        }
        add(Self.finalNormWeight, [C]); add(Self.finalNormBias, [C])
    }

    private mutating func add(_ name: String, _ shape: [Int]) {
        index[name] = entries.count
        entries.append(Entry(name: name, shape: shape, offset: total))
        total += shape.reduce(1, *)
    }

    public func entry(_ name: String) -> Entry? { index[name].map { entries[$0] } }
}

/// Typed views of one arena (the parameters, or their gradients), built once from the layout:
/// the model reads `weights.blocks[l][.attention]` instead of looking names up at every use.
public struct ModelTensors {
    /// One block's tensors, indexed by `BlockTensor`.
    public struct Block {
        let views: [TensorRef]
        public subscript(_ t: BlockTensor) -> TensorRef { views[t.rawValue] }
    }

    public let tokenEmbedding, positionEmbedding: TensorRef
    public let blocks: [Block]
    public let finalNormWeight, finalNormBias: TensorRef

    public init(layout: ParameterLayout, arena: TensorRef, layers: Int) {
        func view(_ name: String) -> TensorRef {
            guard let e = layout.entry(name) else { preconditionFailure("no tensor \(name) in the layout") }
            return arena.slice(e.offset, e.count)
        }
        tokenEmbedding = view(ParameterLayout.tokenEmbedding)
        positionEmbedding = view(ParameterLayout.positionEmbedding)
        blocks = (0..<layers).map { l in Block(views: BlockTensor.allCases.map { view($0.name(layer: l)) }) }
        finalNormWeight = view(ParameterLayout.finalNormWeight)
        finalNormBias = view(ParameterLayout.finalNormBias)
    }
}
