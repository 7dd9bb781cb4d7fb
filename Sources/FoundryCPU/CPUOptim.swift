import Foundation
import FoundryCore

// Kernels/optim.cl's ops: the global gradient norm and AdamW.
extension CPUDevice {
    public func adamw(params: TensorRef, grads: TensorRef, m: TensorRef, v: TensorRef, decayCount: Int,
                      lr: Float, beta1: Float, beta2: Float, eps: Float, weightDecay: Float, step: Int, gradScale: TensorRef) {
        let gradScale = f(gradScale)[0]
        if gradScale == 0 { return }  // a non-finite norm: leave everything as it was
        let p = f(params), g = f(grads), mp = f(m), vp = f(v)
        let bc1 = 1 - powf(beta1, Float(step)), bc2 = 1 - powf(beta2, Float(step))
        for j in 0..<params.count {
            let grad = g[j] * gradScale
            // PyTorch's order: decoupled decay first, then the moment updates.
            if j < decayCount { p[j] *= 1 - lr * weightDecay }
            mp[j] = beta1 * mp[j] + (1 - beta1) * grad
            vp[j] = beta2 * vp[j] + (1 - beta2) * grad * grad
            let denom = vp[j].squareRoot() / bc2.squareRoot() + eps
            p[j] -= (lr / bc1) * mp[j] / denom
        }
    }

    public func gradNorm(_ grads: TensorRef, clip: Float, out: TensorRef) {
        precondition(out.count >= 2, "gradNorm writes two values")
        let g = f(grads)
        var s = 0.0
        for j in 0..<grads.count { s += Double(g[j]) * Double(g[j]) }
        let norm = s.squareRoot()
        var scale: Float = 1
        if !Float(norm).isFinite { scale = 0 } else if clip > 0 && norm > Double(clip) { scale = Float(Double(clip) / norm) }
        let o = f(out)
        o[0] = Float(norm); o[1] = scale
    }
}
