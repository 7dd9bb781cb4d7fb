import Foundation
import FoundryCore

extension KernelSuite {
    /// Picking tokens: argmax, the filtered distribution, the draw, the repetition penalty.
    static func samplingCases(small: Bool) -> [ParityCase] {
        var all: [ParityCase] = []
        for (rows, cols) in rowShapes(small) {
            let shape = "\(rows)x\(cols)"
            all.append(ParityCase(kernel: "argmax", shape: shape, tolerance: 0) { d, mem in
                var g = Inputs(seed: 7)
                let x = try mem.upload(g.normal(rows * cols)), out = try mem.makeTensor(count: rows)
                d.argmax(x, out: out, rows: rows, vocab: cols)
                return try d.readInts(out).map(Float.init)
            })
            let filters: [(String, SamplingFilter)] = [
                ("greedy", SamplingFilter(temperature: 0)), ("T=1", SamplingFilter()),
                ("T=0.7 top-k 5", SamplingFilter(temperature: 0.7, topK: 5)),
                ("top-p 0.9", SamplingFilter(topP: 0.9)), ("min-p 0.05", SamplingFilter(minP: 0.05)),
                ("T=1.3 k=40 p=0.95 min-p 0.02", SamplingFilter(temperature: 1.3, topK: 40, topP: 0.95, minP: 0.02)),
            ]
            for (label, filter) in filters {
                all.append(ParityCase(kernel: "sampling_probs", shape: "\(shape) \(label)", tolerance: 1e-5) { d, mem in
                    var g = Inputs(seed: 8)
                    let x = try mem.upload(g.normal(rows * cols, scale: 3)), p = try mem.makeTensor(count: rows * cols)
                    d.samplingProbs(logits: x, probs: p, rows: rows, vocab: cols, filter: filter)
                    return try d.read(p)
                })
            }
            all.append(ParityCase(kernel: "sample_draw", shape: shape, tolerance: 0) { d, mem in
                var g = Inputs(seed: 9)
                // Probabilities with zeros, so the draw must skip removed entries.
                let probs = (0..<rows * cols).map { i -> Float in i % 3 == 1 ? 0 : g.rng.uniform() }
                let p = try mem.upload(probs), u = try mem.upload((0..<rows).map { _ in g.rng.uniform() })
                let out = try mem.makeTensor(count: rows)
                d.sampleDraw(probs: p, uniforms: u, out: out, rows: rows, vocab: cols)
                return try d.readInts(out).map(Float.init)
            })
        }
        for n in elementCounts(small) {
            let shape = "\(n)"
            all.append(ParityCase(kernel: "repetition_penalty", shape: shape, tolerance: 0) { d, mem in
                var g = Inputs(seed: 16)
                let x = try mem.upload(g.normal(n))
                let toks = try mem.upload(ints: (0..<min(n, 20)).map { _ in Int32(g.rng.below(n)) })
                d.repetitionPenalty(logits: x, vocab: n, tokens: toks, count: min(n, 20), penalty: 1.3)
                return try d.read(x)
            })
        }
        return all
    }
}
