import Foundation
import FoundryCore

extension KernelSuite {
    /// Token and position embeddings, forward and backward.
    static func embeddingCases(small: Bool) -> [ParityCase] {
        var all: [ParityCase] = []
        // Embeddings: (batch, seq, channels, vocab).
        let embShapes: [(Int, Int, Int, Int)] = small ? [(1, 1, 1, 1), (2, 3, 7, 5)]
            : [(1, 1, 1, 1), (1, 3, 7, 3), (2, 7, 33, 100), (3, 33, 100, 7), (1, 257, 3, 33), (12, 64, 128, 65)]
        for (b, t, c, v) in embShapes {
            let shape = "B\(b) T\(t) C\(c) V\(v)"
            all.append(ParityCase(kernel: "embedding_forward", shape: shape, tolerance: 0) { d, mem in
                var g = Inputs(seed: 17)
                let toks = try mem.upload(ints: (0..<b * t).map { _ in Int32(g.rng.below(v)) })
                let wte = try mem.upload(g.normal(v * c)), wpe = try mem.upload(g.normal(t * c)), out = try mem.makeTensor(count: b * t * c)
                d.embeddingForward(tokens: toks, wte: wte, wpe: wpe, out: out, batch: b, seq: t, channels: c)
                return try d.read(out)
            })
            all.append(ParityCase(kernel: "embedding_backward", shape: shape, tolerance: 2e-6 * Double(b * t).squareRoot()) { d, mem in
                var g = Inputs(seed: 18)
                let toks = try mem.upload(ints: (0..<b * t).map { _ in Int32(g.rng.below(v)) })
                let dout = try mem.upload(g.normal(b * t * c)), dwte = try mem.upload(g.normal(v * c)), dwpe = try mem.upload(g.normal(t * c))
                d.embeddingBackward(dout: dout, tokens: toks, dwte: dwte, dwpe: dwpe, batch: b, seq: t, channels: c)
                return try d.read(dwte) + d.read(dwpe)
            })
        }
        return all
    }
}
