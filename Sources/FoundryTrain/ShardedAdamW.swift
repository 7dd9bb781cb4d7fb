import Foundation
import FoundryCore
import FoundryModel

/// ZeRO stage 1 (Rajbhandari et al. 2020): the parameter arena is cut into one block per rank,
/// and each rank keeps AdamW's moments for its own block only. A step: the gradients are
/// reduce-scattered (each rank receives the sum of its block), the clip uses the global norm
/// (the blocks' sums of squares, summed), each rank updates its block, and the blocks are
/// all-gathered so every rank holds the whole updated model. Memory saved a rank: the moments
/// of every block but its own (8 bytes a parameter).
public final class ShardedAdamW {
    let model: GPT2
    let collective: Collective
    /// Block length (the arena padded up to a multiple of the ranks), this rank's block start
    /// and its count of real parameters.
    let block: Int, start: Int, count: Int
    let optimizer: AdamW

    public init(model: GPT2, collective: Collective, weightDecay: Float, beta2: Float) throws {
        self.model = model; self.collective = collective
        let total = model.layout.total
        block = (total + collective.size - 1) / collective.size
        start = min(total, collective.rank * block)
        count = max(0, min(block, total - start))
        optimizer = try AdamW(device: model.device, count: max(count, 1), weightDecay: weightDecay)
        optimizer.beta2 = beta2
    }

    /// Optimizer memory this rank does not hold, against every rank keeping all the moments.
    public var savedBytes: Int { 8 * (model.layout.total - count) }

    var params: TensorRef { model.params.slice(start, count) }
    var grads: TensorRef { model.grads.slice(start, count) }

    /// One step from this rank's gradients in `model.grads`; returns the global gradient norm
    /// before clipping (throws when it is not finite: the update is then skipped everywhere).
    public func step(lr: Float, clip: Float) throws -> Double {
        let d = model.device, total = model.layout.total
        var g = try d.read(model.grads)
        g.append(contentsOf: [Float](repeating: 0, count: block * collective.size - total))
        let mine = try collective.reduceScatter(g, block: block)
        let squares = mine.prefix(count).reduce(0.0) { $0 + Double($1) * Double($1) }
        let norm = (try collective.sum(squares)).squareRoot()
        if count > 0 {
            try d.write(Array(mine.prefix(count)), to: grads)
            try optimizer.update(params: params, grads: grads, decayCount: max(0, min(count, model.layout.decayCount - start)),
                                 device: d, lr: lr, clip: clip, norm: norm)
        } else {
            optimizer.step += 1
        }
        var updated = count > 0 ? try d.read(params) : []
        updated.append(contentsOf: [Float](repeating: 0, count: block - count))
        let all = try collective.allGather(updated)
        try d.write(Array(all.prefix(total)), to: model.params)
        guard norm.isFinite else {
            throw FoundryError("the gradient norm is not finite (NaN or infinity): lower --lr, raise --warmup, or check the data")
        }
        return norm
    }

    /// Every rank's moments, whole (every rank must call it; for the checkpoint rank 0 writes).
    func gatheredState() throws -> (m: [Float], v: [Float], step: Int) {
        let (m, v, step) = try optimizer.state(model.device)
        let pad = { (x: [Float]) in Array(x.prefix(self.count)) + [Float](repeating: 0, count: self.block - self.count) }
        let total = model.layout.total
        return (Array(try collective.allGather(pad(m)).prefix(total)), Array(try collective.allGather(pad(v)).prefix(total)), step)
    }

    /// This rank's block of whole saved moments (any number of ranks may have saved them).
    func restore(m: [Float], v: [Float], step: Int) throws {
        guard m.count == model.layout.total, v.count == model.layout.total else {
            throw FoundryError("optimizer state does not match the model's size: the checkpoint's optimizer moments (stage_state.safetensors) belong to another model")
        }
        let slice = { (x: [Float]) in self.count > 0 ? Array(x[self.start..<self.start + self.count]) : [0] }
        try optimizer.restore(m: slice(m), v: slice(v), step: step, device: model.device)
    }
}
