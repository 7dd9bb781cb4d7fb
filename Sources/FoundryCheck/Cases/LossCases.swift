import Foundation
import FoundryCore

extension KernelSuite {
    /// Cross-entropy over rows of logits.
    static func lossCases(small: Bool) -> [ParityCase] {
        var all: [ParityCase] = []
        for (rows, cols) in rowShapes(small) {
            let shape = "\(rows)x\(cols)"
            all.append(ParityCase(kernel: "cross_entropy", shape: shape, tolerance: 2e-5) { d, mem in
                var g = Inputs(seed: 5)
                let x = try mem.upload(g.normal(rows * cols, scale: 3))
                let targets = try mem.upload(ints: (0..<rows).map { r in r % 5 == 3 ? -1 : Int32(g.rng.below(cols)) })
                let losses = try mem.makeTensor(count: rows), grad = try mem.makeTensor(count: rows * cols)
                d.crossEntropy(logits: x, targets: targets, losses: losses, dlogits: grad, rows: rows, vocab: cols, gradScale: 0.5)
                let lossesNoGrad = try mem.makeTensor(count: rows)
                d.crossEntropy(logits: x, targets: targets, losses: lossesNoGrad, dlogits: nil, rows: rows, vocab: cols, gradScale: 1)
                let scales = try mem.upload(g.normal(rows)), scaled = try mem.makeTensor(count: rows * cols)
                d.crossEntropy(logits: x, targets: targets, losses: try mem.makeTensor(count: rows), dlogits: scaled,
                               rows: rows, vocab: cols, gradScale: 2, rowScales: scales)
                return try d.read(losses) + d.read(grad) + d.read(lossesNoGrad) + d.read(scaled)
            })
        }
        return all
    }
}
