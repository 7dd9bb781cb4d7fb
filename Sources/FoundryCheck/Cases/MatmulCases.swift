import Foundation
import FoundryCore

extension KernelSuite {
    /// GEMM in every form and epilogue: the four transpose forms, the fused bias + GELU product, the weight and bias gradients, the transpose.
    static func matmulCases(small: Bool) -> [ParityCase] {
        var all: [ParityCase] = []
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
        for (rows, cols) in rowShapes(small) {
            let shape = "\(rows)x\(cols)"
            all.append(ParityCase(kernel: "bias_backward", shape: shape, tolerance: 1e-5 * Double(rows).squareRoot()) { d, mem in
                var g = Inputs(seed: 1)
                let dout = try mem.upload(g.normal(rows * cols)), db = try mem.upload(g.normal(cols))
                d.biasBackward(dout: dout, rows: rows, cols: cols, dbias: db)
                return try d.read(db)
            })
            all.append(ParityCase(kernel: "transpose", shape: shape, tolerance: 0) { d, mem in
                var g = Inputs(seed: 16)
                let src = try mem.upload(g.normal(rows * cols + 1)), out = try mem.upload(g.normal(rows * cols + 2))
                d.transpose(src.slice(1, rows * cols), rows: rows, cols: cols, out: out.slice(1, rows * cols))
                return try d.read(out)
            })
        }
        return all
    }
}
