import Foundation
import FoundryCore

/// sqrt(2/π), the constant in GPT-2's tanh-approximated GELU.
let geluScale: Float = 0.7978845608028654

/// GPT-2's GELU, 0.5·v·(1 + tanh(√(2/π)·(v + 0.044715·v³))).
func geluValue(_ v: Float) -> Float { 0.5 * v * (1 + tanhf(geluScale * (v + 0.044715 * v * v * v))) }

// Kernels/elementwise.cl's ops: one element (or one row copy) at a time.
extension CPUDevice {
    public func add(_ a: TensorRef, _ b: TensorRef, out: TensorRef) {
        let x = f(a), y = f(b), o = f(out)
        for j in 0..<out.count { o[j] = x[j] + y[j] }
    }

    public func axpy(alpha: Float, x: TensorRef, y: TensorRef) {
        let xp = f(x), yp = f(y)
        for j in 0..<y.count { yp[j] += alpha * xp[j] }
    }

    public func fill(_ t: TensorRef, value: Float) { f(t).update(repeating: value, count: t.count) }

    public func copyRows(_ src: TensorRef, srcStride: Int, to dst: TensorRef, dstStride: Int, rows: Int, cols: Int) {
        let s = f(src), d = f(dst)
        for r in 0..<rows { (d + r * dstStride).update(from: s + r * srcStride, count: cols) }
    }

    public func geluForward(_ inp: TensorRef, out: TensorRef) {
        let x = f(inp), o = f(out)
        for j in 0..<out.count { o[j] = geluValue(x[j]) }
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
}
