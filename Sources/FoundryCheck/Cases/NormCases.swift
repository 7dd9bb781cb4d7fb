import Foundation
import FoundryCore

extension KernelSuite {
    /// LayerNorm (plain, with the residual add, backward) and softmax, by rows.
    static func normCases(small: Bool) -> [ParityCase] {
        var all: [ParityCase] = []
        for (rows, cols) in rowShapes(small) {
            let shape = "\(rows)x\(cols)"
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
        }
        return all
    }
}
