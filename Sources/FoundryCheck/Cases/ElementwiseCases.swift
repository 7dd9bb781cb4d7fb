import Foundation
import FoundryCore

extension KernelSuite {
    /// Elementwise ops: copies of rows, add, axpy, fill, GELU and its gradient.
    static func elementwiseCases(small: Bool) -> [ParityCase] {
        var all: [ParityCase] = []
        for (rows, cols) in rowShapes(small) {
            let shape = "\(rows)x\(cols)"
            all.append(ParityCase(kernel: "copy_rows", shape: shape, tolerance: 0) { d, mem in
                var g = Inputs(seed: 6)
                let src = try mem.upload(g.normal(rows * (cols + 2))), dst = try mem.upload(g.normal(rows * (cols + 3)))
                d.copyRows(src.slice(1, rows * (cols + 2) - 1), srcStride: cols + 2, to: dst, dstStride: cols + 3, rows: rows, cols: cols)
                return try d.read(dst)
            })
        }
        for n in elementCounts(small) {
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
        }
        return all
    }
}
