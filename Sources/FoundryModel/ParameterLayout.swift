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

    public private(set) var entries: [Entry] = []
    public private(set) var decayCount = 0
    public private(set) var total = 0
    private var index: [String: Int] = [:]

    public init(_ c: GPT2Config) {
        let C = c.channels
        add("wte.weight", [c.vocabSize, C])
        add("wpe.weight", [c.maxSeq, C])
        for l in 0..<c.layers {
            add("h.\(l).attn.c_attn.weight", [C, 3 * C])
            add("h.\(l).attn.c_proj.weight", [C, C])
            add("h.\(l).mlp.c_fc.weight", [C, 4 * C])
            add("h.\(l).mlp.c_proj.weight", [4 * C, C])
        }
        decayCount = total
        for l in 0..<c.layers {
            add("h.\(l).ln_1.weight", [C]); add("h.\(l).ln_1.bias", [C])
            add("h.\(l).attn.c_attn.bias", [3 * C]); add("h.\(l).attn.c_proj.bias", [C])
            add("h.\(l).ln_2.weight", [C]); add("h.\(l).ln_2.bias", [C])
            add("h.\(l).mlp.c_fc.bias", [4 * C]); add("h.\(l).mlp.c_proj.bias", [C])
        }
        add("ln_f.weight", [C]); add("ln_f.bias", [C])
    }

    private mutating func add(_ name: String, _ shape: [Int]) {
        index[name] = entries.count
        entries.append(Entry(name: name, shape: shape, offset: total))
        total += shape.reduce(1, *)
    }

    public func entry(_ name: String) -> Entry? { index[name].map { entries[$0] } }
}
