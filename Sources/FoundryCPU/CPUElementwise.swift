import Foundation
import FoundryCore

/// sqrt(2/π), the constant in GPT-2's tanh-approximated GELU.
let geluScale: Float = 0.7978845608028654

extension CPUDevice {
    public func add(_ a: TensorRef, _ b: TensorRef, out: TensorRef) {
        let x = f(a), y = f(b), o = f(out)
        for j in 0..<out.count { o[j] = x[j] + y[j] }
    }

    public func axpy(alpha: Float, x: TensorRef, y: TensorRef) {
        let xp = f(x), yp = f(y)
        for j in 0..<y.count { yp[j] += alpha * xp[j] }
    }

    public func geluForward(_ inp: TensorRef, out: TensorRef) {
        let x = f(inp), o = f(out)
        for j in 0..<out.count {
            let v = x[j]
            let u = geluScale * (v + 0.044715 * v * v * v)
            o[j] = 0.5 * v * (1 + tanhf(u))
        }
    }

    public func geluBackward(_ inp: TensorRef, dout: TensorRef, dinp: TensorRef) {
        let x = f(inp), d = f(dout), o = f(dinp)
        for j in 0..<dinp.count {
            let v = x[j]
            let u = geluScale * (v + 0.044715 * v * v * v)
            let t = tanhf(u)
            let du = geluScale * (1 + 3 * 0.044715 * v * v)
            o[j] = (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * du) * d[j]
        }
    }

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

    public func gemmBiasGelu(m: Int, n: Int, k: Int, a: TensorRef, b: TensorRef, bias: TensorRef, pre: TensorRef, out: TensorRef) {
        gemm(transA: false, transB: false, m: m, n: n, k: k, alpha: 1, a: a, b: b, beta: 0, c: pre, bias: bias)
        geluForward(pre, out: out)
    }

    public func gemmGeluBackward(m: Int, n: Int, k: Int, a: TensorRef, b: TensorRef, pre: TensorRef, out: TensorRef) {
        gemm(transA: false, transB: true, m: m, n: n, k: k, alpha: 1, a: a, b: b, beta: 0, c: out, bias: nil)
        geluBackward(pre, dout: out, dinp: out)
    }

    public func weightGradient(inp: TensorRef, dout: TensorRef, rows: Int, inputs: Int, outputs: Int,
                               dweight: TensorRef, dbias: TensorRef?) {
        gemm(transA: true, transB: false, m: inputs, n: outputs, k: rows, alpha: 1, a: inp, b: dout, beta: 1, c: dweight, bias: nil)
        if let dbias { biasBackward(dout: dout, rows: rows, cols: outputs, dbias: dbias) }
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

    public func embeddingForward(tokens: TensorRef, wte: TensorRef, wpe: TensorRef, out: TensorRef,
                                 batch: Int, seq: Int, channels: Int) {
        let tok = i(tokens), te = f(wte), pe = f(wpe), o = f(out)
        for b in 0..<batch {
            for t in 0..<seq {
                let id = Int(tok[b * seq + t])
                let orow = o + (b * seq + t) * channels
                for c in 0..<channels { orow[c] = te[id * channels + c] + pe[t * channels + c] }
            }
        }
    }

    public func embeddingBackward(dout: TensorRef, tokens: TensorRef, dwte: TensorRef, dwpe: TensorRef,
                                  batch: Int, seq: Int, channels: Int) {
        let tok = i(tokens), d = f(dout), dte = f(dwte), dpe = f(dwpe)
        for b in 0..<batch {
            for t in 0..<seq {
                let id = Int(tok[b * seq + t])
                let drow = d + (b * seq + t) * channels
                for c in 0..<channels {
                    dte[id * channels + c] += drow[c]
                    dpe[t * channels + c] += drow[c]
                }
            }
        }
    }
}
