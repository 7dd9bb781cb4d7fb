import Foundation
import FoundryCore

extension KernelSuite {
    /// Decoding's products: few rows times a transposed B, half weights packed and read back, and products from them with each epilogue and a LayerNorm first.
    static func decodeCases(small: Bool) -> [ParityCase] {
        var all: [ParityCase] = []
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
        return all
    }
}
