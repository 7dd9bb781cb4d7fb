import Foundation
import FoundryCore

extension CPUDevice {
    /// The sampler's distribution, computed the obvious way (sorting), so the OpenCL kernel's
    /// sort-free search can be checked against it.
    public func samplingProbs(logits: TensorRef, probs: TensorRef, rows: Int, vocab: Int, filter: SamplingFilter) {
        let x = f(logits), o = f(probs)
        for r in 0..<rows {
            let xr = x + r * vocab, orow = o + r * vocab
            if filter.temperature <= 0 {
                // Greedy: all mass on the first maximum.
                var best = 0
                for c in 1..<max(vocab, 1) where xr[c] > xr[best] { best = c }
                for c in 0..<vocab { orow[c] = c == best ? 1 : 0 }
                continue
            }
            var keep = [Bool](repeating: true, count: vocab)
            if filter.topK > 0 && filter.topK < vocab {
                let kth = (0..<vocab).map { xr[$0] }.sorted(by: >)[filter.topK - 1]
                for c in 0..<vocab where xr[c] < kth { keep[c] = false }
            }
            // Softmax of the kept logits at this temperature (max subtracted: no overflow at small T).
            var mx = -Float.infinity
            for c in 0..<vocab where keep[c] { mx = max(mx, xr[c]) }
            // Sums in double: over a 50k-token vocabulary a float running sum is off by about
            // one token's probability, enough to move the top-p boundary.
            func normalise() {
                var s = 0.0
                for c in 0..<vocab { if keep[c] { s += Double(orow[c]) } else { orow[c] = 0 } }
                for c in 0..<vocab { orow[c] = Float(Double(orow[c]) / s) }
            }
            for c in 0..<vocab { orow[c] = keep[c] ? expf((xr[c] - mx) / filter.temperature) : 0 }
            normalise()
            if filter.topP < 1 {
                // Smallest set of most likely tokens whose mass reaches p (ties kept).
                let sorted = (0..<vocab).filter { keep[$0] }.map { orow[$0] }.sorted(by: >)
                var cum = 0.0, threshold = sorted.last ?? 0
                for p in sorted { cum += Double(p); if cum >= Double(filter.topP) { threshold = p; break } }
                for c in 0..<vocab where orow[c] < threshold { keep[c] = false }
                normalise()
            }
            if filter.minP > 0 {
                var top: Float = 0
                for c in 0..<vocab { top = max(top, orow[c]) }
                for c in 0..<vocab where orow[c] < filter.minP * top { keep[c] = false }
                normalise()
            }
        }
    }

    public func sampleDraw(probs: TensorRef, uniforms: TensorRef, out: TensorRef, rows: Int, vocab: Int) {
        let p = f(probs), u = f(uniforms), o = i(out)
        for r in 0..<rows {
            let pr = p + r * vocab
            var total: Float = 0
            for c in 0..<vocab { total += pr[c] }
            let target = u[r] * total
            var cum: Float = 0, pick = -1, lastNonZero = 0
            for c in 0..<vocab {
                if pr[c] > 0 { lastNonZero = c }
                cum += pr[c]
                if pick < 0 && cum > target && pr[c] > 0 { pick = c }
            }
            o[r] = Int32(pick < 0 ? lastNonZero : pick)
        }
    }

    public func argmax(_ x: TensorRef, out: TensorRef, rows: Int, vocab: Int) {
        let p = f(x), o = i(out)
        for r in 0..<rows {
            var best = 0
            for c in 1..<max(vocab, 1) where p[r * vocab + c] > p[r * vocab + best] { best = c }
            o[r] = Int32(best)
        }
    }

    public func repetitionPenalty(logits: TensorRef, vocab: Int, tokens: TensorRef, count: Int, penalty: Float) {
        let x = f(logits), t = i(tokens)
        var seen = Set<Int32>()
        for j in 0..<count { seen.insert(t[j]) }
        for id in seen where id >= 0 && Int(id) < vocab {
            let v = x[Int(id)]
            x[Int(id)] = v > 0 ? v / penalty : v * penalty
        }
    }
}
