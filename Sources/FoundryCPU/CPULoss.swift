import Foundation
import FoundryCore

// Kernels/loss.cl's op: cross-entropy and its gradient.
extension CPUDevice {
    public func crossEntropy(logits: TensorRef, targets: TensorRef, losses: TensorRef, dlogits: TensorRef?,
                             rows: Int, vocab: Int, gradScale: Float, rowScales: TensorRef?) {
        let x = f(logits), tg = i(targets), l = f(losses)
        let g = dlogits.map { f($0) }
        let scales = rowScales.map { f($0) }
        for r in 0..<rows {
            let xr = x + r * vocab
            let target = Int(tg[r])
            var mx = -Float.infinity
            for c in 0..<vocab { mx = max(mx, xr[c]) }
            var s = 0.0
            for c in 0..<vocab { s += Double(expf(xr[c] - mx)) }
            if target < 0 {
                l[r] = 0
                if let g { for c in 0..<vocab { g[r * vocab + c] = 0 } }
                continue
            }
            let logSum = Float(log(s)) + mx
            l[r] = logSum - xr[target]
            if let g {
                let gr = g + r * vocab
                let scale = gradScale * (scales?[r] ?? 1)
                for c in 0..<vocab {
                    let p = expf(xr[c] - logSum)
                    gr[c] = scale * (p - (c == target ? 1 : 0))
                }
            }
        }
    }
}
