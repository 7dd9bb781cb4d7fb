import Foundation
import FoundryCore

extension KernelSuite {
    /// AdamW (with a clip scale, and skipped on a non-finite norm) and the gradient norm.
    static func optimCases(small: Bool) -> [ParityCase] {
        var all: [ParityCase] = []
        for n in elementCounts(small) {
            let shape = "\(n)"
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
        }
        return all
    }
}
