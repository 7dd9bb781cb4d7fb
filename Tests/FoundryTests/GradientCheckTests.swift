import XCTest
import FoundryCore
import FoundryCPU
import FoundryModel

/// Every backward op of the reference backend against central finite differences of its
/// forward op: for a random weighting w, d/dx Σ w·f(x) must equal the op's backward(dout = w).
final class GradientCheckTests: XCTestCase {
    let d = CPUDevice()

    /// Central differences of `f` (a scalar function of `x`) at `coords` distinct coordinates (all
    /// of them when `x` is that small), compared with `analytic`. The error is relative to the
    /// gradient's scale over the whole tensor (its largest |analytic| entry), so a tensor whose
    /// gradients are all far below 1 is held to the same relative standard as one near 1.
    /// Float forward ops limit accuracy to ~1e-3 relative.
    func checkGradient(_ name: String, x: [Float], analytic: [Float], coords: Int = 12, h: Float = 1e-2,
                       tol: Double = 2e-3, _ f: ([Float]) throws -> Double) throws {
        try checkGradient(name, x: x, analytic: analytic, indices: Self.distinct(coords, of: x.count, seed: 99),
                          scale: analytic.map { abs(Double($0)) }.max() ?? 0, h: h, tol: tol, f)
    }

    func checkGradient(_ name: String, x: [Float], analytic: [Float], indices: [Int], scale: Double, h: Float,
                       tol: Double, _ f: ([Float]) throws -> Double) throws {
        XCTAssertGreaterThan(scale, 0, "\(name): an all-zero gradient checks nothing")
        for i in indices {
            var xp = x, xm = x
            xp[i] += h; xm[i] -= h
            let numeric = (try f(xp) - f(xm)) / Double(2 * h)
            let err = abs(numeric - Double(analytic[i])) / scale
            XCTAssertLessThan(err, tol, "\(name)[\(i)]: numeric \(numeric) vs analytic \(analytic[i]) (tensor scale \(scale))")
        }
    }

    /// `k` distinct indices below `n` (all of them when n ≤ k), in a seeded random order.
    static func distinct(_ k: Int, of n: Int, seed: UInt64) -> [Int] {
        var all = Array(0..<n), r = RNG(seed: seed)
        for i in stride(from: n - 1, to: 0, by: -1) { all.swapAt(i, r.below(i + 1)) }
        return Array(all.prefix(k))
    }

    func normal(_ n: Int, _ seed: UInt64, scale: Float = 1) -> [Float] {
        var r = RNG(seed: seed)
        return (0..<n).map { _ in Float(r.normal()) * scale }
    }
    func dot(_ a: [Float], _ b: [Float]) -> Double { zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) } }

    func testGELU() throws {
        let n = 33, x = normal(n, 1, scale: 2), w = normal(n, 2)
        let dx = try d.makeTensor(count: n)
        d.geluBackward(try d.upload(x), dout: try d.upload(w), dinp: dx)
        try checkGradient("gelu", x: x, analytic: try d.read(dx), h: 1e-3) { x in
            let o = try self.d.makeTensor(count: n); self.d.geluForward(try self.d.upload(x), out: o)
            return self.dot(try self.d.read(o), w)
        }
    }

    func testLayerNorm() throws {
        let rows = 3, cols = 7
        let x = normal(rows * cols, 3, scale: 2), g = normal(cols, 4), b = normal(cols, 5), w = normal(rows * cols, 6)
        func forward(_ x: [Float], _ g: [Float], _ b: [Float]) throws -> (Double, TensorRef, TensorRef) {
            let o = try d.makeTensor(count: rows * cols), m = try d.makeTensor(count: rows), r = try d.makeTensor(count: rows)
            d.layerNormForward(try d.upload(x), weight: try d.upload(g), bias: try d.upload(b), out: o, mean: m, rstd: r,
                               rows: rows, cols: cols, eps: 1e-5)
            return (dot(try d.read(o), w), m, r)
        }
        let (_, m, r) = try forward(x, g, b)
        let dx = try d.makeTensor(count: rows * cols), dg = try d.makeTensor(count: cols), db = try d.makeTensor(count: cols)
        d.layerNormBackward(dout: try d.upload(w), inp: try d.upload(x), weight: try d.upload(g), mean: m, rstd: r,
                            dinp: dx, dweight: dg, dbias: db, rows: rows, cols: cols)
        try checkGradient("layernorm dx", x: x, analytic: try d.read(dx), h: 1e-3) { try forward($0, g, b).0 }
        try checkGradient("layernorm dweight", x: g, analytic: try d.read(dg), coords: 7, h: 1e-3) { try forward(x, $0, b).0 }
        try checkGradient("layernorm dbias", x: b, analytic: try d.read(db), coords: 7, h: 1e-3) { try forward(x, g, $0).0 }
    }

    func testAttention() throws {
        for causal in [true, false] {
            let B = 2, T = 5, H = 2, hd = 3, C = H * hd
            let layout = AttentionLayout.fused(batch: B, seq: T, channels: C, heads: H, causal: causal)
            let x = normal(B * T * 3 * C, 7), w = normal(B * T * C, 8)
            func forward(_ x: [Float]) throws -> (Double, TensorRef, TensorRef, TensorRef) {
                let qkv = try d.upload(x), out = try d.makeTensor(count: B * T * C), lse = try d.makeTensor(count: B * H * T)
                d.attentionForward(q: qkv, k: qkv.slice(C, qkv.count - C), v: qkv.slice(2 * C, qkv.count - 2 * C),
                                   out: out, lse: lse, layout: layout)
                return (dot(try d.read(out), w), qkv, out, lse)
            }
            let (_, qkv, out, lse) = try forward(x)
            let dqkv = try d.makeTensor(count: x.count), scratch = try d.makeTensor(count: B * H * T)
            d.attentionBackward(dout: try d.upload(w), qkv: qkv, out: out, lse: lse, dqkv: dqkv, scratch: scratch, layout: layout)
            try checkGradient("attention (causal: \(causal))", x: x, analytic: try d.read(dqkv), coords: 40, h: 1e-3) { try forward($0).0 }
        }
    }

    func testCrossEntropy() throws {
        let rows = 4, V = 7, x = normal(rows * V, 9, scale: 2)
        let targets: [Int32] = [3, -1, 0, 6]
        func loss(_ x: [Float]) throws -> Double {
            let l = try d.makeTensor(count: rows)
            d.crossEntropy(logits: try d.upload(x), targets: try d.upload(ints: targets), losses: l, dlogits: nil, rows: rows, vocab: V, gradScale: 1)
            return try d.read(l).reduce(0.0) { $0 + Double($1) } / 3
        }
        let g = try d.makeTensor(count: rows * V)
        d.crossEntropy(logits: try d.upload(x), targets: try d.upload(ints: targets), losses: try d.makeTensor(count: rows),
                       dlogits: g, rows: rows, vocab: V, gradScale: 1.0 / 3)
        try checkGradient("cross_entropy", x: x, analytic: try d.read(g), coords: 20, h: 1e-3) { try loss($0) }
    }

    func testEmbeddingAndBias() throws {
        let B = 2, T = 3, C = 4, V = 5
        let toks: [Int32] = [1, 4, 1, 0, 2, 1], w = normal(B * T * C, 10)
        let wte = normal(V * C, 11), wpe = normal(T * C, 12)
        func forward(_ te: [Float], _ pe: [Float]) throws -> Double {
            let o = try d.makeTensor(count: B * T * C)
            d.embeddingForward(tokens: try d.upload(ints: toks), wte: try d.upload(te), wpe: try d.upload(pe), out: o, batch: B, seq: T, channels: C)
            return dot(try d.read(o), w)
        }
        let dte = try d.makeTensor(count: V * C), dpe = try d.makeTensor(count: T * C)
        d.embeddingBackward(dout: try d.upload(w), tokens: try d.upload(ints: toks), dwte: dte, dwpe: dpe, batch: B, seq: T, channels: C)
        try checkGradient("embedding dwte", x: wte, analytic: try d.read(dte)) { try forward($0, wpe) }
        try checkGradient("embedding dwpe", x: wpe, analytic: try d.read(dpe)) { try forward(wte, $0) }

        // bias: out = x + bias broadcast over rows ⇒ d/dbias Σ w·out = column sums of w.
        let rows = 5, cols = 3, bias = normal(cols, 13), dout = normal(rows * cols, 14)
        let db = try d.makeTensor(count: cols)
        d.biasBackward(dout: try d.upload(dout), rows: rows, cols: cols, dbias: db)
        let one = try d.upload([Float](repeating: 1, count: rows))
        try checkGradient("bias", x: bias, analytic: try d.read(db), coords: 3) { b in
            // C[rows, cols] = ones[rows,1]·0 + bias, via gemm with k = 1 and a zero B operand.
            let c = try self.d.makeTensor(count: rows * cols)
            self.d.gemm(transA: false, transB: false, m: rows, n: cols, k: 1, alpha: 1, a: one,
                        b: try self.d.upload([Float](repeating: 0, count: cols)), beta: 0, c: c, bias: try self.d.upload(b))
            return self.dot(try self.d.read(c), dout)
        }
    }

    /// The whole model: d(loss)/d(parameter) from `backward` against finite differences of the loss.
    func testWholeModelGradient() throws {
        let config = GPT2Config(vocabSize: 11, maxSeq: 6, channels: 8, layers: 2, heads: 2)
        let model = try GPT2(config: config, device: d)
        try model.initialise(seed: 5)
        // Larger weights than GPT-2's init so every path carries signal.
        var p = try d.read(model.params)
        var r = RNG(seed: 6)
        for i in p.indices { p[i] += Float(r.normal() * 0.2) }
        try d.write(p, to: model.params)
        let tokens: [Int32] = [1, 5, 2, 9, 3, 3, 0, 10, 4, 7]
        let targets: [Int32] = [5, 2, 9, 3, -1, 0, 10, 4, 7, 1]
        func loss(_ params: [Float]) throws -> Double {
            try d.write(params, to: model.params)
            try model.forward(tokens: tokens, batch: 2, seq: 5)
            return try model.loss(targets: targets).loss
        }
        model.zeroGrad()
        try model.forward(tokens: tokens, batch: 2, seq: 5)
        try model.loss(targets: targets, gradScale: 1.0 / 9)
        try model.backward()
        let g = try d.read(model.grads)
        // Every tensor of the layout, a few coordinates each, relative to that tensor's scale.
        for e in model.layout.entries {
            let slice = Array(g[e.offset..<e.offset + e.count])
            let idx = Self.distinct(4, of: e.count, seed: UInt64(e.offset + 1)).map { $0 + e.offset }
            try checkGradient("model \(e.name)", x: p, analytic: g, indices: idx, scale: slice.map { abs(Double($0)) }.max()!,
                              h: 1e-2, tol: 1e-2) { try loss($0) }
        }
    }
}
