import Foundation
import FoundryCore
import FoundryFiles
import FoundryData

/// A checkpoint as a GGUF file for llama.cpp: its GPT-2 architecture (llama.cpp's tensor
/// names, Conv1D matrices transposed to [out, in] as llama.cpp's own converter does, the tied
/// embedding also written as `output.weight`), F32 or F16 matrices (vectors stay F32), and the
/// tokenizer as GPT-2 byte-level BPE metadata (`tokenizer.ggml.*`, pre-tokenizer "gpt-2").
public enum GGUF {
    public enum Precision: String, CaseIterable, Sendable { case f32, f16 }

    static let alignment = 32

    public static func write(_ model: GPT2, tokenizer: Tokenizer, precision: Precision, name: String, to path: String) throws {
        let c = model.config
        guard c.objective == .causal else { throw FoundryError("a masked (BERT-style) model has no GPT-2 GGUF form: export a causal one") }
        let values = try model.device.read(model.params)
        func tensor(_ n: String) -> [Float] { let e = model.layout.entry(n)!; return Array(values[e.offset..<e.offset + e.count]) }
        /// Row-major [rows, cols] → [cols, rows].
        func transposed(_ x: [Float], _ rows: Int, _ cols: Int) -> [Float] {
            var out = [Float](repeating: 0, count: x.count)
            for r in 0..<rows { for k in 0..<cols { out[k * rows + r] = x[r * cols + k] } }
            return out
        }
        let C = c.channels
        // (name, shape outermost first, values, may be F16)
        var tensors: [(String, [Int], [Float], Bool)] = [
            ("token_embd.weight", [c.vocabSize, C], tensor(ParameterLayout.tokenEmbedding), true),
            ("position_embd.weight", [c.maxSeq, C], tensor(ParameterLayout.positionEmbedding), true),
        ]
        for l in 0..<c.layers {
            func w(_ t: BlockTensor) -> [Float] { tensor(t.name(layer: l)) }
            let b = "blk.\(l)."
            tensors += [
                (b + "attn_norm.weight", [C], w(.ln1Weight), false), (b + "attn_norm.bias", [C], w(.ln1Bias), false),
                (b + "attn_qkv.weight", [3 * C, C], transposed(w(.attention), C, 3 * C), true), (b + "attn_qkv.bias", [3 * C], w(.attentionBias), false),
                (b + "attn_output.weight", [C, C], transposed(w(.attentionProjection), C, C), true),
                (b + "attn_output.bias", [C], w(.attentionProjectionBias), false),
                (b + "ffn_norm.weight", [C], w(.ln2Weight), false), (b + "ffn_norm.bias", [C], w(.ln2Bias), false),
                (b + "ffn_up.weight", [4 * C, C], transposed(w(.mlp), C, 4 * C), true), (b + "ffn_up.bias", [4 * C], w(.mlpBias), false),
                (b + "ffn_down.weight", [C, 4 * C], transposed(w(.mlpProjection), 4 * C, C), true),
                (b + "ffn_down.bias", [C], w(.mlpProjectionBias), false),
            ]
        }
        tensors += [("output_norm.weight", [C], tensor(ParameterLayout.finalNormWeight), false),
                    ("output_norm.bias", [C], tensor(ParameterLayout.finalNormBias), false),
                    ("output.weight", [c.vocabSize, C], tensor(ParameterLayout.tokenEmbedding), true)]

        let vocab = try TokenizerIO.listing(tokenizer)
        guard vocab.tokens.count <= c.vocabSize else {
            throw FoundryError("the tokenizer has \(vocab.tokens.count) tokens but the model only \(c.vocabSize): they do not belong together")
        }
        var tokens = vocab.tokens, special = vocab.special
        for id in tokens.count..<c.vocabSize { tokens.append("[PAD\(id)]"); special.insert(id) }
        var out = Data()
        func u32(_ v: Int) { var x = UInt32(v).littleEndian; withUnsafeBytes(of: &x) { out.append(contentsOf: $0) } }
        func u64(_ v: Int) { var x = UInt64(v).littleEndian; withUnsafeBytes(of: &x) { out.append(contentsOf: $0) } }
        func str(_ s: String) { let b = Array(s.utf8); u64(b.count); out.append(contentsOf: b) }
        func f32(_ v: Float) { var x = v.bitPattern.littleEndian; withUnsafeBytes(of: &x) { out.append(contentsOf: $0) } }
        enum Value { case u32(Int), f32(Float), string(String), strings([String]), i32s([Int]) }
        let eos = Int(tokenizer.eosToken)
        let metadata: [(String, Value)] = [
            ("general.architecture", .string("gpt2")), ("general.name", .string(name)), ("general.alignment", .u32(alignment)),
            ("general.file_type", .u32(precision == .f16 ? 1 : 0)),
            ("gpt2.context_length", .u32(c.maxSeq)), ("gpt2.embedding_length", .u32(C)), ("gpt2.feed_forward_length", .u32(4 * C)),
            ("gpt2.block_count", .u32(c.layers)), ("gpt2.attention.head_count", .u32(c.heads)),
            ("gpt2.attention.layer_norm_epsilon", .f32(c.layerNormEps)),
            ("tokenizer.ggml.model", .string("gpt2")), ("tokenizer.ggml.pre", .string("gpt-2")),
            ("tokenizer.ggml.tokens", .strings(tokens)), ("tokenizer.ggml.token_type", .i32s(tokens.indices.map { special.contains($0) ? 3 : 1 })),
            ("tokenizer.ggml.merges", .strings(vocab.merges)),
            ("tokenizer.ggml.bos_token_id", .u32(eos)), ("tokenizer.ggml.eos_token_id", .u32(eos)),
        ]
        out.append(contentsOf: Array("GGUF".utf8)); u32(3); u64(tensors.count); u64(metadata.count)
        for (key, value) in metadata {
            str(key)
            switch value {
            case .u32(let v): u32(4); u32(v)
            case .f32(let v): u32(6); f32(v)
            case .string(let s): u32(8); str(s)
            case .strings(let a): u32(9); u32(8); u64(a.count); a.forEach(str)
            case .i32s(let a): u32(9); u32(5); u64(a.count); a.forEach { u32($0) }
            }
        }
        // Tensor infos: ggml lists dimensions innermost first.
        var offset = 0
        var layout: [(values: [Float], half: Bool)] = []
        for (name, shape, values, halvable) in tensors {
            let half = halvable && precision == .f16
            str(name); u32(shape.count); shape.reversed().forEach { u64($0) }; u32(half ? 1 : 0); u64(offset)
            offset += (values.count * (half ? 2 : 4) + alignment - 1) / alignment * alignment
            layout.append((values, half))
        }
        func pad() { while out.count % alignment != 0 { out.append(0) } }
        pad()
        for (values, half) in layout {
            if half {
                for v in values { var x = Float16(v).bitPattern.littleEndian; withUnsafeBytes(of: &x) { out.append(contentsOf: $0) } }
            } else {
                for v in values { f32(v) }
            }
            pad()
        }
        try AtomicFile.write(out, to: path)
    }
}
