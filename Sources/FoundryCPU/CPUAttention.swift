import Foundation
import FoundryCore

extension CPUDevice {
    public func attentionForward(q: TensorRef, k: TensorRef, v: TensorRef, out: TensorRef, att: TensorRef,
                                 layout L: AttentionLayout) {
        let Q = f(q), K = f(k), V = f(v), O = f(out), A = f(att)
        let hd = L.headDim, scale = 1 / Float(hd).squareRoot()
        parallelRows(L.batch * L.heads, work: L.batch * L.heads * L.tq * L.tk * hd) { bh in
            let b = bh / L.heads, h = bh % L.heads
            for i in 0..<L.tq {
                let qi = Q + b * L.qBatchStride + i * L.qRowStride + h * hd
                let arow = A + ((b * L.heads + h) * L.tq + i) * L.tk
                // Keys after the query's own position are invisible in a causal model.
                let visible = L.causal ? min(L.tk, L.queryStart + i + 1) : L.tk
                var mx = -Float.infinity
                for j in 0..<visible {
                    let kj = K + b * L.kvBatchStride + j * L.kvRowStride + h * hd
                    var s: Float = 0
                    for d in 0..<hd { s += qi[d] * kj[d] }
                    arow[j] = s * scale
                    mx = max(mx, arow[j])
                }
                var sum: Float = 0
                for j in 0..<visible { arow[j] = expf(arow[j] - mx); sum += arow[j] }
                for j in 0..<visible { arow[j] /= sum }
                for j in visible..<L.tk { arow[j] = 0 }
                let oi = O + b * L.outBatchStride + i * L.outRowStride + h * hd
                for d in 0..<hd { oi[d] = 0 }
                for j in 0..<visible {
                    let vj = V + b * L.kvBatchStride + j * L.kvRowStride + h * hd
                    for d in 0..<hd { oi[d] += arow[j] * vj[d] }
                }
            }
        }
    }

    public func attentionBackward(dout: TensorRef, qkv: TensorRef, att: TensorRef, dqkv: TensorRef,
                                  scratch: TensorRef, layout L: AttentionLayout) {
        let D = f(dout), X = f(qkv), A = f(att), DX = f(dqkv), P = f(scratch)
        let hd = L.headDim, C = L.heads * hd, T = L.tq, scale = 1 / Float(hd).squareRoot()
        func row(_ base: UnsafeMutablePointer<Float>, _ b: Int, _ t: Int, _ part: Int, _ h: Int) -> UnsafeMutablePointer<Float> {
            base + b * L.qBatchStride + t * L.qRowStride + part * C + h * hd
        }
        parallelRows(L.batch * L.heads, work: L.batch * L.heads * T * T * hd) { bh in
            let b = bh / L.heads, h = bh % L.heads
            // Pass 1, per query i: gradient of the scores (softmax backward), then dq.
            for i in 0..<T {
                let arow = A + (bh * T + i) * T, prow = P + (bh * T + i) * T
                let di = D + b * L.outBatchStride + i * L.outRowStride + h * hd
                var dot: Float = 0
                for j in 0..<T {
                    let vj = row(X, b, j, 2, h)
                    var s: Float = 0
                    for d in 0..<hd { s += di[d] * vj[d] }
                    prow[j] = s            // d loss / d att[i, j]
                    dot += arow[j] * s
                }
                for j in 0..<T { prow[j] = arow[j] * (prow[j] - dot) }  // d loss / d score[i, j]
                let dq = row(DX, b, i, 0, h)
                for d in 0..<hd { dq[d] = 0 }
                for j in 0..<T {
                    let kj = row(X, b, j, 1, h)
                    for d in 0..<hd { dq[d] += prow[j] * scale * kj[d] }
                }
            }
            // Pass 2, per key j: dk and dv gather over the queries that saw it.
            for j in 0..<T {
                let dk = row(DX, b, j, 1, h), dv = row(DX, b, j, 2, h)
                for d in 0..<hd { dk[d] = 0; dv[d] = 0 }
                for i in 0..<T {
                    let p = P[(bh * T + i) * T + j] * scale, a = A[(bh * T + i) * T + j]
                    let qi = row(X, b, i, 0, h)
                    let di = D + b * L.outBatchStride + i * L.outRowStride + h * hd
                    for d in 0..<hd { dk[d] += p * qi[d]; dv[d] += a * di[d] }
                }
            }
        }
    }
}
