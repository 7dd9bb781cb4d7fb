import Foundation
import FoundryCore

// Kernels/norm.cl's ops (norm_rows.cl is their work-group form): LayerNorm, its residual-fused
// form and gradients, softmax over rows.
extension CPUDevice {
    public func layerNormForward(_ inp: TensorRef, weight: TensorRef, bias: TensorRef, out: TensorRef,
                                 mean: TensorRef, rstd: TensorRef, rows: Int, cols: Int, eps: Float) {
        let x = f(inp), w = f(weight), b = f(bias), o = f(out), mu = f(mean), rs = f(rstd)
        for r in 0..<rows {
            let xr = x + r * cols, orow = o + r * cols
            var s = 0.0
            for c in 0..<cols { s += Double(xr[c]) }
            let m = s / Double(cols)
            var v = 0.0
            for c in 0..<cols { let d = Double(xr[c]) - m; v += d * d }
            let inv = 1 / (v / Double(cols) + Double(eps)).squareRoot()
            for c in 0..<cols { orow[c] = Float((Double(xr[c]) - m) * inv) * w[c] + b[c] }
            mu[r] = Float(m); rs[r] = Float(inv)
        }
    }

    public func residualLayerNormForward(_ a: TensorRef, _ b: TensorRef, sum: TensorRef, weight: TensorRef, bias: TensorRef,
                                         out: TensorRef, mean: TensorRef, rstd: TensorRef, rows: Int, cols: Int, eps: Float) {
        add(a, b, out: sum)
        layerNormForward(sum, weight: weight, bias: bias, out: out, mean: mean, rstd: rstd, rows: rows, cols: cols, eps: eps)
    }

    public func layerNormBackward(dout: TensorRef, inp: TensorRef, weight: TensorRef, mean: TensorRef, rstd: TensorRef,
                                  dinp: TensorRef, dweight: TensorRef, dbias: TensorRef, rows: Int, cols: Int) {
        let d = f(dout), x = f(inp), w = f(weight), mu = f(mean), rs = f(rstd)
        let dx = f(dinp), dw = f(dweight), db = f(dbias)
        for r in 0..<rows {
            let dr = d + r * cols, xr = x + r * cols, dxr = dx + r * cols
            let m = mu[r], s = rs[r]
            // The two row means the input gradient needs.
            var meanD = 0.0, meanDN = 0.0
            for c in 0..<cols {
                let norm = (xr[c] - m) * s
                let dnorm = w[c] * dr[c]
                meanD += Double(dnorm); meanDN += Double(dnorm * norm)
            }
            let md = Float(meanD / Double(cols)), mdn = Float(meanDN / Double(cols))
            for c in 0..<cols {
                let norm = (xr[c] - m) * s
                let dnorm = w[c] * dr[c]
                dxr[c] += (dnorm - md - norm * mdn) * s
            }
        }
        for c in 0..<cols {
            var sw = 0.0, sb = 0.0
            for r in 0..<rows {
                let norm = (x[r * cols + c] - mu[r]) * rs[r]
                sw += Double(d[r * cols + c] * norm); sb += Double(d[r * cols + c])
            }
            dw[c] += Float(sw); db[c] += Float(sb)
        }
    }

    public func softmax(_ inp: TensorRef, out: TensorRef, rows: Int, cols: Int, temperature: Float) {
        let x = f(inp), o = f(out)
        for r in 0..<rows {
            let xr = x + r * cols, orow = o + r * cols
            var mx = -Float.infinity
            for c in 0..<cols { mx = max(mx, xr[c]) }
            var s = 0.0
            for c in 0..<cols { let e = expf((xr[c] - mx) / temperature); orow[c] = e; s += Double(e) }
            let inv = Float(1 / s)
            for c in 0..<cols { orow[c] *= inv }
        }
    }
}
