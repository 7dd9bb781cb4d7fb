import Foundation
import FoundryCore

/// One row of the parity table.
public struct KernelCheckResult {
    public let kernel: String
    public let shape: String
    /// max |candidate − reference| / (1 + |reference|) over all outputs.
    public let maxError: Double
    public let tolerance: Double
    public var passed: Bool { maxError <= tolerance }
}

/// A parity case: the same op with the same inputs on two devices, outputs compared.
struct ParityCase {
    let kernel: String
    let shape: String
    let tolerance: Double
    /// Runs the op on a device, its buffers from `Guarded`, and returns every output it wrote
    /// (ints as floats).
    let run: (Device, Guarded) throws -> [Float]
}

/// The kernel parity suite: every op of the device contract at awkward sizes (1, 3, 7, 33,
/// 100, 257) and a transformer-shaped case, candidate against the CPU reference. Library code,
/// so `foundry kernels test` can run it where no Swift toolchain exists.
public enum KernelSuite {
    /// `small` keeps shapes tiny (for oclgrind, which is ~100× slower).
    /// `only`: run just the kernels whose name contains this text.
    public static func run(reference: Device, candidate: Device, small: Bool = false, only: String? = nil,
                           progress: ((KernelCheckResult) -> Void)? = nil) throws -> [KernelCheckResult] {
        var results: [KernelCheckResult] = []
        for c in cases(small: small) where only.map({ c.kernel.contains($0) }) ?? true {
            let referenceMemory = Guarded(reference), candidateMemory = Guarded(candidate)
            let want = try c.run(reference, referenceMemory)
            let got = try c.run(candidate, candidateMemory)
            var worst = 0.0, shape = c.shape
            if try !referenceMemory.intact() || !candidateMemory.intact() {
                worst = .infinity
                shape += " (wrote outside its buffers)"
            } else if want.count != got.count {
                worst = .infinity
            } else {
                for (a, b) in zip(got, want) {
                    let e = Double(abs(a - b)) / (1 + Double(abs(b)))
                    if e.isNaN || a.isNaN != b.isNaN { worst = .infinity } else { worst = max(worst, e) }
                }
            }
            let r = KernelCheckResult(kernel: c.kernel, shape: shape, maxError: worst, tolerance: c.tolerance)
            progress?(r)
            results.append(r)
        }
        return results
    }

    static let sizes = [1, 3, 7, 33, 100, 257]

    static func cases(small: Bool) -> [ParityCase] {
        var all: [ParityCase] = []
        let sizes = small ? [1, 3, 7] : KernelSuite.sizes
        // GEMM in all four transpose forms, with and without bias / accumulation.
        var gemmShapes: [(Int, Int, Int)] = small ? [(1, 1, 1), (3, 7, 5), (7, 3, 9)]
            : [(1, 1, 1), (3, 7, 33), (7, 33, 3), (33, 100, 7), (100, 257, 33), (257, 33, 100)]
        // ... and a long k, summed in slices by both the Aᵀ and the A forms (launchSliced).
        if !small { gemmShapes += [(768, 384, 128), (768, 128, 512), (128, 512, 768), (33, 40, 2500)] }
        for (m, n, k) in gemmShapes {
            for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
                let withBias = (m + n) % 2 == 1, beta: Float = k % 2 == 0 ? 1 : 0
                all.append(ParityCase(kernel: "gemm_\(ta ? "t" : "n")\(tb ? "t" : "n")",
                                      shape: "\(m)x\(n)x\(k)\(withBias ? "+bias" : "")\(beta != 0 ? " beta=1" : "")",
                                      tolerance: 1e-5 * Double(k).squareRoot() + 2e-6) { d, mem in
                    var g = Inputs(seed: UInt64(m * 31 + n * 7 + k))
                    let a = try mem.upload(g.normal(m * k)), b = try mem.upload(g.normal(k * n))
                    let c = try mem.upload(g.normal(m * n)), bias = try mem.upload(g.normal(n))
                    d.gemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: 0.75, a: a, b: b, beta: beta, c: c,
                           bias: withBias ? bias : nil)
                    return try d.read(c)
                })
            }
        }
        // Few rows (up to dotProductRows) times a transposed B (decoding through the tied LM head
        // and the cache's transposed layer weights): dot products along k, at vocabulary widths
        // (GPT-2's 50257, llama2.c's stories 32000-class), layer shapes and ragged k.
        let decodeShapes: [(Int, Int, Int)] = small ? [(1, 7, 9), (2, 33, 5), (8, 3, 7)]
            : [(1, 50257, 64), (2, 3001, 288), (5, 33, 7), (3, 257, 1), (8, 1152, 288), (1, 288, 1152), (7, 100, 33)]
        for (m, n, k) in decodeShapes {
            all.append(ParityCase(kernel: "gemm_nt_rows", shape: "\(m)x\(n)x\(k)\(n % 2 == 1 ? "+bias" : "")",
                                  tolerance: 1e-5 * Double(k).squareRoot() + 2e-6) { d, mem in
                var g = Inputs(seed: UInt64(m * 17 + n + k))
                let a = try mem.upload(g.normal(m * k)), b = try mem.upload(g.normal(n * k)), bias = try mem.upload(g.normal(n))
                let c = try mem.upload(g.normal(m * n))
                d.gemm(transA: false, transB: true, m: m, n: n, k: k, alpha: 0.5, a: a, b: b, beta: k % 2 == 0 ? 1 : 0, c: c,
                       bias: n % 2 == 1 ? bias : nil)
                return try d.read(c)
            })
        }
        // Half weights for decoding: packed (plain and transposed, odd counts leave a last half
        // slot) and read back bit for bit as halves, then products from them with each epilogue
        // (bias, GELU, a residual add through beta) at vocabulary and layer widths, several rows
        // (prompts, the server's batch) and k that is not a whole number of vectors.
        let packShapes: [(Int, Int)] = small ? [(1, 1), (3, 7)] : [(1, 1), (3, 7), (33, 257), (2, 50257)]
        for (rows, cols) in packShapes {
            for transpose in [false, true] {
                all.append(ParityCase(kernel: "pack_halves", shape: "\(rows)x\(cols)\(transpose ? " transposed" : "")", tolerance: 0) { d, mem in
                    var g = Inputs(seed: UInt64(rows * 3 + cols))
                    // Values that round, one near the top of half's range and one below its normals.
                    var x = g.normal(rows * cols).map { $0 * 3 }
                    x[0] = 60000.3
                    if x.count > 1 { x[1] = -1e-6 }
                    let src = try mem.upload(x), out = try mem.makeTensor(count: (rows * cols + 1) / 2)
                    d.packHalves(src, rows: rows, cols: cols, transpose: transpose, out: out)
                    return unpackHalves(try d.read(out), count: rows * cols)
                })
            }
        }
        // With a LayerNorm of A first: one row (normalised in the kernel, k up to 1024), several
        // rows and a row longer than that (their own launch). A vocabulary-wide row takes the
        // plain product only (the suite runs in debug builds in the tests).
        let halfShapes: [(Int, Int, Int)] = small ? [(1, 7, 9), (2, 33, 5), (5, 3, 7)]
            : [(1, 50257, 16), (1, 3001, 288), (2, 257, 288), (5, 33, 7), (3, 257, 1), (8, 100, 64), (1, 288, 1152), (7, 100, 33),
               (33, 40, 17), (1, 33, 1024), (1, 7, 1025)]
        for (m, n, k) in halfShapes {
            for format in DecodeWeights.allCases {
                for (gelu, beta, normed) in [(false, Float(0), false), (true, 0, false), (false, 1, false), (true, 0, true), (false, 1, true)]
                where (!normed || k > 1) && (n < 10000 || (!gelu && beta == 0 && !normed)) {
                    let withBias = gelu || n % 2 == 1
                    let shape = "\(m)x\(n)x\(k)\(normed ? " norm" : "")\(withBias ? "+bias" : "")\(gelu ? " gelu" : "")\(beta != 0 ? " beta=1" : "")"
                    all.append(ParityCase(kernel: format == .f16 ? "decode_product_f16" : "decode_product_f32", shape: shape,
                                          tolerance: 1e-5 * Double(k).squareRoot() + 2e-6) { d, mem in
                        var g = Inputs(seed: UInt64(m * 11 + n + k))
                        let a = try mem.upload(g.normal(m * k, scale: 2, shift: 0.5)), wt = try mem.upload(g.normal(k * n))
                        let bias = try mem.upload(g.normal(n)), c = try mem.upload(g.normal(m * n))
                        let norm = RowNorm(weight: try mem.upload(g.normal(k, scale: 0.5, shift: 1)), bias: try mem.upload(g.normal(k, scale: 0.1)),
                                           eps: 1e-5)
                        // W one row per output: the [k, n] matrix transposed (as floats) or packed.
                        let w = try mem.makeTensor(count: format == .f16 ? (n * k + 1) / 2 : n * k)
                        if format == .f16 { d.packHalves(wt, rows: k, cols: n, transpose: true, out: w) } else { d.transpose(wt, rows: k, cols: n, out: w) }
                        d.gemmDecode(m: m, n: n, k: k, a: a, norm: normed ? norm : nil, w: w, format: format, bias: withBias ? bias : nil,
                                     gelu: gelu, beta: beta, c: c)
                        return try d.read(c)
                    })
                }
            }
        }
        // The MLP's fused product + bias + GELU: a ragged right edge, a tile-sized product, fewer
        // rows than a tile (the generation path), and the training shape.
        let geluShapes: [(Int, Int, Int)] = small ? [(1, 3, 2), (7, 33, 5)] : [(1, 3, 2), (7, 33, 5), (33, 100, 7), (768, 512, 128)]
        for (m, n, k) in geluShapes {
            all.append(ParityCase(kernel: "gemm_nn_gelu", shape: "\(m)x\(n)x\(k)+bias", tolerance: 1e-5 * Double(k).squareRoot() + 2e-6) { d, mem in
                var g = Inputs(seed: UInt64(m * 13 + n * 5 + k))
                let a = try mem.upload(g.normal(m * k)), b = try mem.upload(g.normal(k * n)), bias = try mem.upload(g.normal(n))
                let pre = try mem.makeTensor(count: m * n), out = try mem.makeTensor(count: m * n)
                d.gemmBiasGelu(m: m, n: n, k: k, a: a, b: b, bias: bias, pre: pre, out: out)
                return try d.read(pre) + d.read(out)
            })
        }
        // A weight gradient with its bias gradient (one launch on OpenCL), and the product
        // through GELU's derivative: ragged edges, fewer inputs than a tile, and more rows than
        // one slice of the batch (2500 > 1024: three slices added into the gradients).
        let gradShapes: [(Int, Int, Int)] = small ? [(3, 2, 5), (9, 7, 33)]
            : [(3, 2, 5), (9, 7, 33), (7, 33, 100), (100, 130, 257), (768, 128, 384), (2500, 33, 40)]
        for (rows, inputs, outputs) in gradShapes {
            all.append(ParityCase(kernel: "weight_gradient", shape: "\(rows) rows \(inputs)->\(outputs)",
                                  tolerance: 1e-5 * Double(rows).squareRoot() + 2e-6) { d, mem in
                var g = Inputs(seed: UInt64(rows * 7 + inputs * 3 + outputs))
                let x = try mem.upload(g.normal(rows * inputs)), dy = try mem.upload(g.normal(rows * outputs))
                let dw = try mem.upload(g.normal(inputs * outputs)), db = try mem.upload(g.normal(outputs))
                d.weightGradient(inp: x, dout: dy, rows: rows, inputs: inputs, outputs: outputs, dweight: dw, dbias: db)
                return try d.read(dw) + d.read(db)
            })
            all.append(ParityCase(kernel: "gemm_gelu_backward", shape: "\(rows)x\(outputs)x\(inputs)",
                                  tolerance: 1e-5 * Double(inputs).squareRoot() + 2e-6) { d, mem in
                var g = Inputs(seed: UInt64(rows * 5 + inputs + outputs * 3))
                let a = try mem.upload(g.normal(rows * inputs)), b = try mem.upload(g.normal(outputs * inputs))
                let pre = try mem.upload(g.normal(rows * outputs)), out = try mem.upload(g.normal(rows * outputs))
                d.gemmGeluBackward(m: rows, n: outputs, k: inputs, a: a, b: b, pre: pre, out: out)
                return try d.read(out)
            })
        }
        let rowShapes: [(Int, Int)] = small ? [(1, 1), (3, 7), (7, 3)]
            : [(1, 1), (3, 7), (7, 33), (33, 100), (100, 257), (257, 3), (768, 128), (1, 50257), (2, 32000)]
        for (rows, cols) in rowShapes {
            let shape = "\(rows)x\(cols)"
            all.append(ParityCase(kernel: "bias_backward", shape: shape, tolerance: 1e-5 * Double(rows).squareRoot()) { d, mem in
                var g = Inputs(seed: 1)
                let dout = try mem.upload(g.normal(rows * cols)), db = try mem.upload(g.normal(cols))
                d.biasBackward(dout: dout, rows: rows, cols: cols, dbias: db)
                return try d.read(db)
            })
            all.append(ParityCase(kernel: "layernorm_forward", shape: shape, tolerance: 2e-5) { d, mem in
                var g = Inputs(seed: 2)
                let x = try mem.upload(g.normal(rows * cols, scale: 2, shift: 0.5))
                let w = try mem.upload(g.normal(cols)), b = try mem.upload(g.normal(cols))
                let out = try mem.makeTensor(count: rows * cols), mean = try mem.makeTensor(count: rows), rstd = try mem.makeTensor(count: rows)
                d.layerNormForward(x, weight: w, bias: b, out: out, mean: mean, rstd: rstd, rows: rows, cols: cols, eps: 1e-5)
                return try d.read(out) + d.read(mean) + d.read(rstd).map { $0 * 1e-2 }
            })
            all.append(ParityCase(kernel: "residual_layernorm", shape: shape, tolerance: 2e-5) { d, mem in
                var g = Inputs(seed: 3)
                let x = try mem.upload(g.normal(rows * cols, scale: 2, shift: 0.5)), y = try mem.upload(g.normal(rows * cols))
                let w = try mem.upload(g.normal(cols)), b = try mem.upload(g.normal(cols))
                let sum = try mem.makeTensor(count: rows * cols), out = try mem.makeTensor(count: rows * cols)
                let mean = try mem.makeTensor(count: rows), rstd = try mem.makeTensor(count: rows)
                d.residualLayerNormForward(x, y, sum: sum, weight: w, bias: b, out: out, mean: mean, rstd: rstd, rows: rows, cols: cols, eps: 1e-5)
                return try d.read(sum) + d.read(out) + d.read(mean) + d.read(rstd).map { $0 * 1e-2 }
            })
            all.append(ParityCase(kernel: "layernorm_backward", shape: shape, tolerance: 5e-5 * Double(rows).squareRoot()) { d, mem in
                var g = Inputs(seed: 3)
                let x = try mem.upload(g.normal(rows * cols, scale: 2)), w = try mem.upload(g.normal(cols)), b = try mem.upload(g.normal(cols))
                let out = try mem.makeTensor(count: rows * cols), mean = try mem.makeTensor(count: rows), rstd = try mem.makeTensor(count: rows)
                d.layerNormForward(x, weight: w, bias: b, out: out, mean: mean, rstd: rstd, rows: rows, cols: cols, eps: 1e-5)
                let dout = try mem.upload(g.normal(rows * cols)), dx = try mem.upload(g.normal(rows * cols))
                let dw = try mem.upload(g.normal(cols)), db = try mem.upload(g.normal(cols))
                d.layerNormBackward(dout: dout, inp: x, weight: w, mean: mean, rstd: rstd, dinp: dx, dweight: dw, dbias: db, rows: rows, cols: cols)
                return try d.read(dx) + d.read(dw) + d.read(db)
            })
            all.append(ParityCase(kernel: "softmax", shape: shape, tolerance: 1e-6) { d, mem in
                var g = Inputs(seed: 4)
                let x = try mem.upload(g.normal(rows * cols, scale: 4)), out = try mem.makeTensor(count: rows * cols)
                d.softmax(x, out: out, rows: rows, cols: cols, temperature: 0.7)
                return try d.read(out)
            })
            all.append(ParityCase(kernel: "cross_entropy", shape: shape, tolerance: 2e-5) { d, mem in
                var g = Inputs(seed: 5)
                let x = try mem.upload(g.normal(rows * cols, scale: 3))
                let targets = try mem.upload(ints: (0..<rows).map { r in r % 5 == 3 ? -1 : Int32(g.rng.below(cols)) })
                let losses = try mem.makeTensor(count: rows), grad = try mem.makeTensor(count: rows * cols)
                d.crossEntropy(logits: x, targets: targets, losses: losses, dlogits: grad, rows: rows, vocab: cols, gradScale: 0.5)
                let lossesNoGrad = try mem.makeTensor(count: rows)
                d.crossEntropy(logits: x, targets: targets, losses: lossesNoGrad, dlogits: nil, rows: rows, vocab: cols, gradScale: 1)
                let scales = try mem.upload(g.normal(rows)), scaled = try mem.makeTensor(count: rows * cols)
                d.crossEntropy(logits: x, targets: targets, losses: try mem.makeTensor(count: rows), dlogits: scaled,
                               rows: rows, vocab: cols, gradScale: 2, rowScales: scales)
                return try d.read(losses) + d.read(grad) + d.read(lossesNoGrad) + d.read(scaled)
            })
            all.append(ParityCase(kernel: "copy_rows", shape: shape, tolerance: 0) { d, mem in
                var g = Inputs(seed: 6)
                let src = try mem.upload(g.normal(rows * (cols + 2))), dst = try mem.upload(g.normal(rows * (cols + 3)))
                d.copyRows(src.slice(1, rows * (cols + 2) - 1), srcStride: cols + 2, to: dst, dstStride: cols + 3, rows: rows, cols: cols)
                return try d.read(dst)
            })
            all.append(ParityCase(kernel: "transpose", shape: shape, tolerance: 0) { d, mem in
                var g = Inputs(seed: 16)
                let src = try mem.upload(g.normal(rows * cols + 1)), out = try mem.upload(g.normal(rows * cols + 2))
                d.transpose(src.slice(1, rows * cols), rows: rows, cols: cols, out: out.slice(1, rows * cols))
                return try d.read(out)
            })
            all.append(ParityCase(kernel: "argmax", shape: shape, tolerance: 0) { d, mem in
                var g = Inputs(seed: 7)
                let x = try mem.upload(g.normal(rows * cols)), out = try mem.makeTensor(count: rows)
                d.argmax(x, out: out, rows: rows, vocab: cols)
                return try d.readInts(out).map(Float.init)
            })
            let filters: [(String, SamplingFilter)] = [
                ("greedy", SamplingFilter(temperature: 0)), ("T=1", SamplingFilter()),
                ("T=0.7 top-k 5", SamplingFilter(temperature: 0.7, topK: 5)),
                ("top-p 0.9", SamplingFilter(topP: 0.9)), ("min-p 0.05", SamplingFilter(minP: 0.05)),
                ("T=1.3 k=40 p=0.95 min-p 0.02", SamplingFilter(temperature: 1.3, topK: 40, topP: 0.95, minP: 0.02)),
            ]
            for (label, filter) in filters {
                all.append(ParityCase(kernel: "sampling_probs", shape: "\(shape) \(label)", tolerance: 1e-5) { d, mem in
                    var g = Inputs(seed: 8)
                    let x = try mem.upload(g.normal(rows * cols, scale: 3)), p = try mem.makeTensor(count: rows * cols)
                    d.samplingProbs(logits: x, probs: p, rows: rows, vocab: cols, filter: filter)
                    return try d.read(p)
                })
            }
            all.append(ParityCase(kernel: "sample_draw", shape: shape, tolerance: 0) { d, mem in
                var g = Inputs(seed: 9)
                // Probabilities with zeros, so the draw must skip removed entries.
                let probs = (0..<rows * cols).map { i -> Float in i % 3 == 1 ? 0 : g.rng.uniform() }
                let p = try mem.upload(probs), u = try mem.upload((0..<rows).map { _ in g.rng.uniform() })
                let out = try mem.makeTensor(count: rows)
                d.sampleDraw(probs: p, uniforms: u, out: out, rows: rows, vocab: cols)
                return try d.readInts(out).map(Float.init)
            })
        }
        for n in sizes + (small ? [] : [12 * 64 * 512]) {
            let shape = "\(n)"
            all.append(ParityCase(kernel: "add", shape: shape, tolerance: 0) { d, mem in
                var g = Inputs(seed: 10)
                let a = try mem.upload(g.normal(n)), b = try mem.upload(g.normal(n)), o = try mem.makeTensor(count: n)
                d.add(a, b, out: o)
                return try d.read(o)
            })
            all.append(ParityCase(kernel: "axpy", shape: shape, tolerance: 1e-7) { d, mem in
                var g = Inputs(seed: 11)
                let x = try mem.upload(g.normal(n)), y = try mem.upload(g.normal(n))
                d.axpy(alpha: -0.3, x: x, y: y)
                return try d.read(y)
            })
            all.append(ParityCase(kernel: "fill", shape: shape, tolerance: 0) { d, mem in
                let x = try mem.makeTensor(count: n + 2)
                d.fill(x.slice(1, n), value: 2.5)
                return try d.read(x)
            })
            all.append(ParityCase(kernel: "gelu_forward", shape: shape, tolerance: 1e-5) { d, mem in
                var g = Inputs(seed: 12)
                let x = try mem.upload(g.normal(n, scale: 3)), o = try mem.makeTensor(count: n)
                d.geluForward(x, out: o)
                return try d.read(o)
            })
            all.append(ParityCase(kernel: "gelu_backward", shape: shape, tolerance: 5e-5) { d, mem in
                var g = Inputs(seed: 13)
                let x = try mem.upload(g.normal(n, scale: 3)), dout = try mem.upload(g.normal(n)), o = try mem.makeTensor(count: n)
                d.geluBackward(x, dout: dout, dinp: o)
                return try d.read(o)
            })
            // A clip scale of 0.8; and 0 (a non-finite norm), which must leave parameters and
            // moments untouched, bit for bit.
            for (kernel, scale, tolerance) in [("adamw", Float(0.8), 1e-6), ("adamw_skip", 0, 0)] {
                all.append(ParityCase(kernel: kernel, shape: shape, tolerance: tolerance) { d, mem in
                    var g = Inputs(seed: 14)
                    let p = try mem.upload(g.normal(n)), gr = try mem.upload(g.normal(n))
                    let m = try mem.upload(g.normal(n, scale: 0.1)), v = try mem.upload(g.normal(n, scale: 0.1).map { $0 * $0 })
                    d.adamw(params: p, grads: gr, m: m, v: v, decayCount: n / 2, lr: 1e-2, beta1: 0.9, beta2: 0.999,
                            eps: 1e-8, weightDecay: 0.1, step: 3, gradScale: try mem.upload([scale]))
                    return try d.read(p) + d.read(m) + d.read(v)
                })
            }
            // The norm divided by √n (so the tolerance is relative), and the clip scale with the
            // clip below the norm, above it, and off; then a NaN gradient, which must give scale 0.
            all.append(ParityCase(kernel: "grad_norm", shape: shape, tolerance: 1e-6) { d, mem in
                var g = Inputs(seed: 15)
                let values = g.normal(n)
                let x = try mem.upload(values), out = try mem.makeTensor(count: 2)
                var result: [Float] = []
                for clip: Float in [0.5, 1e9, 0] {
                    d.gradNorm(x, clip: clip, out: out)
                    let r = try d.read(out)
                    result += [r[0] / Float(n).squareRoot(), r[1]]
                }
                var bad = values
                bad[n / 2] = .nan
                d.gradNorm(try mem.upload(bad), clip: 1, out: out)
                result.append(try d.read(out)[1])
                return result
            })
            all.append(ParityCase(kernel: "repetition_penalty", shape: shape, tolerance: 0) { d, mem in
                var g = Inputs(seed: 16)
                let x = try mem.upload(g.normal(n))
                let toks = try mem.upload(ints: (0..<min(n, 20)).map { _ in Int32(g.rng.below(n)) })
                d.repetitionPenalty(logits: x, vocab: n, tokens: toks, count: min(n, 20), penalty: 1.3)
                return try d.read(x)
            })
        }
        // Embeddings: (batch, seq, channels, vocab).
        let embShapes: [(Int, Int, Int, Int)] = small ? [(1, 1, 1, 1), (2, 3, 7, 5)]
            : [(1, 1, 1, 1), (1, 3, 7, 3), (2, 7, 33, 100), (3, 33, 100, 7), (1, 257, 3, 33), (12, 64, 128, 65)]
        for (b, t, c, v) in embShapes {
            let shape = "B\(b) T\(t) C\(c) V\(v)"
            all.append(ParityCase(kernel: "embedding_forward", shape: shape, tolerance: 0) { d, mem in
                var g = Inputs(seed: 17)
                let toks = try mem.upload(ints: (0..<b * t).map { _ in Int32(g.rng.below(v)) })
                let wte = try mem.upload(g.normal(v * c)), wpe = try mem.upload(g.normal(t * c)), out = try mem.makeTensor(count: b * t * c)
                d.embeddingForward(tokens: toks, wte: wte, wpe: wpe, out: out, batch: b, seq: t, channels: c)
                return try d.read(out)
            })
            all.append(ParityCase(kernel: "embedding_backward", shape: shape, tolerance: 2e-6 * Double(b * t).squareRoot()) { d, mem in
                var g = Inputs(seed: 18)
                let toks = try mem.upload(ints: (0..<b * t).map { _ in Int32(g.rng.below(v)) })
                let dout = try mem.upload(g.normal(b * t * c)), dwte = try mem.upload(g.normal(v * c)), dwpe = try mem.upload(g.normal(t * c))
                d.embeddingBackward(dout: dout, tokens: toks, dwte: dwte, dwpe: dwpe, batch: b, seq: t, channels: c)
                return try d.read(dwte) + d.read(dwpe)
            })
        }
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

/// The buffers of one parity case, each with `pad` sentinels before and after the view the op
/// is given: a kernel that writes past either end of any buffer changes a sentinel, and the case
/// fails however right the values inside are.
/// The first `count` halves of packed storage (`Device.packHalves`) as floats.
func unpackHalves(_ packed: [Float], count: Int) -> [Float] {
    (0..<count).map { i in
        let bits = packed[i / 2].bitPattern
        return Float(Float16(bitPattern: UInt16(truncatingIfNeeded: i % 2 == 0 ? bits : bits >> 16)))
    }
}

final class Guarded {
    static let pad = 16
    /// Not a value any op computes from the suite's inputs.
    static let sentinel: Float = -1.2345678e29
    let device: Device
    private var padded: [TensorRef] = []

    init(_ device: Device) { self.device = device }

    /// A view of `values` inside a padded buffer, written in one piece with its sentinels
    /// (oclgrind 21.10 reports data written at an offset into a buffer as uninitialised).
    func upload(_ values: [Float]) throws -> TensorRef {
        let whole = try device.makeTensor(count: values.count + 2 * Self.pad)
        let edge = [Float](repeating: Self.sentinel, count: Self.pad)
        try device.write(edge + values + edge, to: whole)
        padded.append(whole)
        return whole.slice(Self.pad, values.count)
    }
    /// A zeroed view of `count` elements inside a padded buffer.
    func makeTensor(count: Int) throws -> TensorRef { try upload([Float](repeating: 0, count: count)) }
    func upload(ints: [Int32]) throws -> TensorRef { try upload(ints.map { Float(bitPattern: UInt32(bitPattern: $0)) }) }

    /// Whether every sentinel is as written.
    func intact() throws -> Bool {
        for whole in padded {
            let v = try device.read(whole)
            let edges = v.prefix(Self.pad) + v.suffix(Self.pad)
            if edges.contains(where: { $0.bitPattern != Self.sentinel.bitPattern }) { return false }
        }
        return true
    }
}

/// Deterministic test inputs, identical on every device.
struct Inputs {
    var rng: RNG
    init(seed: UInt64) { rng = RNG(seed: seed) }
    mutating func normal(_ n: Int, scale: Float = 1, shift: Float = 0) -> [Float] {
        (0..<n).map { _ in Float(rng.normal()) * scale + shift }
    }
}
