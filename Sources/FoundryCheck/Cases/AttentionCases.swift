import Foundation
import FoundryCore

extension KernelSuite {
    /// Attention forward and backward (causal and not) and the decoding layout against a KV cache.
    static func attentionCases(small: Bool) -> [ParityCase] {
        var all: [ParityCase] = []
        // Attention: (batch, seq, heads, headDim), head widths up to GPT-2's 64 (and 40, not a
        // power of two); widths that are multiples of the vector width take the CPU's query
        // tiles (attention_tiles.cl) at ragged lengths too (19, 130).
        let attShapes: [(Int, Int, Int, Int)] = small ? [(1, 1, 1, 1), (2, 3, 2, 3), (1, 6, 2, 16)]
            : [(1, 1, 1, 1), (1, 3, 2, 3), (2, 7, 3, 4), (1, 33, 2, 8), (2, 100, 1, 7), (1, 257, 1, 3), (12, 64, 4, 32),
               (2, 19, 2, 40), (1, 40, 2, 64), (2, 19, 3, 16), (1, 130, 2, 48)]
        for (b, t, h, hd) in attShapes {
            for causal in [true, false] {
                let shape = "B\(b) T\(t) H\(h) hd\(hd)\(causal ? " causal" : " bidirectional")"
                let c = h * hd
                let layout = AttentionLayout.fused(batch: b, seq: t, channels: c, heads: h, causal: causal)
                all.append(ParityCase(kernel: "attention_forward", shape: shape, tolerance: 2e-5) { d, mem in
                    var g = Inputs(seed: 19)
                    let qkv = try mem.upload(g.normal(b * t * 3 * c)), out = try mem.makeTensor(count: b * t * c)
                    let lse = try mem.makeTensor(count: b * h * t)
                    d.attentionForward(q: qkv, k: qkv.slice(c, qkv.count - c), v: qkv.slice(2 * c, qkv.count - 2 * c),
                                       out: out, lse: lse, layout: layout)
                    return try d.read(out) + d.read(lse)
                })
                all.append(ParityCase(kernel: "attention_backward", shape: shape, tolerance: 5e-5) { d, mem in
                    var g = Inputs(seed: 20)
                    let qkv = try mem.upload(g.normal(b * t * 3 * c)), out = try mem.makeTensor(count: b * t * c)
                    let lse = try mem.makeTensor(count: b * h * t), scratch = try mem.makeTensor(count: b * h * t)
                    d.attentionForward(q: qkv, k: qkv.slice(c, qkv.count - c), v: qkv.slice(2 * c, qkv.count - 2 * c),
                                       out: out, lse: lse, layout: layout)
                    let dout = try mem.upload(g.normal(b * t * c)), dqkv = try mem.makeTensor(count: b * t * 3 * c)
                    d.attentionBackward(dout: dout, qkv: qkv, out: out, lse: lse, dqkv: dqkv, scratch: scratch, layout: layout)
                    // scratch holds each row's Σ_j p dp (= dout · out): both backends must agree on it too.
                    return try d.read(dqkv) + d.read(scratch)
                })
            }
            // The decoding layout: queries for the last few positions against a KV cache.
            let tq = min(t, 2), maxT = t + 3, c = h * hd
            all.append(ParityCase(kernel: "attention_decode", shape: "B\(b) past \(t) new \(tq) H\(h) hd\(hd)", tolerance: 2e-5) { d, mem in
                var g = Inputs(seed: 21)
                let q = try mem.upload(g.normal(b * tq * 3 * c)), kc = try mem.upload(g.normal(b * maxT * c)), vc = try mem.upload(g.normal(b * maxT * c))
                let out = try mem.makeTensor(count: b * tq * c), lse = try mem.makeTensor(count: b * h * tq)
                let layout = AttentionLayout(batch: b, heads: h, headDim: hd, tq: tq, tk: t,
                                             qBatchStride: tq * 3 * c, qRowStride: 3 * c, kvBatchStride: maxT * c, kvRowStride: c,
                                             outBatchStride: tq * c, outRowStride: c, queryStart: t - tq, causal: true)
                d.attentionForward(q: q, k: kc, v: vc, out: out, lse: lse, layout: layout)
                return try d.read(out) + d.read(lse)
            })
        }
        return all
    }
}
