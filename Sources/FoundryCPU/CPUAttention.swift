import Foundation
import FoundryCore

extension CPUDevice {
    /// The textbook computation, one query row at a time: scores, softmax, weighted sum of
    /// values. Only the row's log-sum-exp is kept (the OpenCL kernel's online softmax must
    /// agree with this two-pass one).
    public func attentionForward(q: TensorRef, k: TensorRef, v: TensorRef, out: TensorRef, lse: TensorRef,
                                 layout L: AttentionLayout) {
        let Q = f(q), K = f(k), V = f(v), O = f(out), LSE = f(lse)
        let hd = L.headDim, scale = 1 / Float(hd).squareRoot()
        parallelRows(L.batch * L.heads, work: L.batch * L.heads * L.tq * L.tk * hd) { bh in
            let b = bh / L.heads, h = bh % L.heads
            var p = [Float](repeating: 0, count: L.tk)
            for i in 0..<L.tq {
                let qi = Q + b * L.qBatchStride + i * L.qRowStride + h * hd
                // Keys after the query's own position are invisible in a causal model.
                let visible = L.causal ? min(L.tk, L.queryStart + i + 1) : L.tk
                var mx = -Float.infinity
                for j in 0..<visible {
                    let kj = K + b * L.kvBatchStride + j * L.kvRowStride + h * hd
                    var s: Float = 0
                    for d in 0..<hd { s += qi[d] * kj[d] }
                    p[j] = s * scale
                    mx = max(mx, p[j])
                }
                var sum: Float = 0
                for j in 0..<visible { p[j] = expf(p[j] - mx); sum += p[j] }
                for j in 0..<visible { p[j] /= sum }
                LSE[bh * L.tq + i] = mx + logf(sum)
                let oi = O + b * L.outBatchStride + i * L.outRowStride + h * hd
                for d in 0..<hd { oi[d] = 0 }
                for j in 0..<visible {
                    let vj = V + b * L.kvBatchStride + j * L.kvRowStride + h * hd
                    for d in 0..<hd { oi[d] += p[j] * vj[d] }
                }
            }
        }
    }

    /// Per (batch, head): the probabilities recomputed from the scores and `lse`, the softmax
    /// backward ds = p (dp − Σ p dp) with dp = dout · v, then dq, dk, dv as plain sums.
    public func attentionBackward(dout: TensorRef, qkv: TensorRef, out: TensorRef, lse: TensorRef, dqkv: TensorRef,
                                  scratch: TensorRef, layout L: AttentionLayout) {
        let D = f(dout), X = f(qkv), LSE = f(lse), DX = f(dqkv), S = f(scratch)
        let hd = L.headDim, C = L.heads * hd, T = L.tq, scale = 1 / Float(hd).squareRoot()
        func row(_ base: UnsafeMutablePointer<Float>, _ b: Int, _ t: Int, _ part: Int, _ h: Int) -> UnsafeMutablePointer<Float> {
            base + b * L.qBatchStride + t * L.qRowStride + part * C + h * hd
        }
        func dot(_ x: UnsafeMutablePointer<Float>, _ y: UnsafeMutablePointer<Float>) -> Float {
            var s: Float = 0
            for d in 0..<hd { s += x[d] * y[d] }
            return s
        }
        parallelRows(L.batch * L.heads, work: L.batch * L.heads * T * T * hd) { bh in
            let b = bh / L.heads, h = bh % L.heads
            var p = [Float](repeating: 0, count: T * T), ds = p
            for i in 0..<T {
                let di = D + b * L.outBatchStride + i * L.outRowStride + h * hd
                let visible = L.causal ? i + 1 : T
                var pdp: Float = 0
                for j in 0..<visible {
                    p[i * T + j] = expf(dot(row(X, b, i, 0, h), row(X, b, j, 1, h)) * scale - LSE[bh * T + i])
                    ds[i * T + j] = dot(di, row(X, b, j, 2, h))          // d loss / d p[i, j]
                    pdp += p[i * T + j] * ds[i * T + j]
                }
                S[bh * T + i] = pdp
                for j in 0..<visible { ds[i * T + j] = p[i * T + j] * (ds[i * T + j] - pdp) }   // d loss / d score[i, j]
            }
            for t in 0..<T {
                let dq = row(DX, b, t, 0, h), dk = row(DX, b, t, 1, h), dv = row(DX, b, t, 2, h)
                for d in 0..<hd { dq[d] = 0; dk[d] = 0; dv[d] = 0 }
                for u in 0..<T {
                    // dq_t gathers over keys u; dk_t and dv_t over queries u (masked pairs are 0).
                    let kq = ds[t * T + u] * scale, qk = ds[u * T + t] * scale, pv = p[u * T + t]
                    let ku = row(X, b, u, 1, h), qu = row(X, b, u, 0, h)
                    let du = D + b * L.outBatchStride + u * L.outRowStride + h * hd
                    for d in 0..<hd { dq[d] += kq * ku[d]; dk[d] += qk * qu[d]; dv[d] += pv * du[d] }
                }
            }
        }
    }
}
