import FoundryCore
import FoundryModel

/// What a data-parallel step adds to a single-process one, for the trainers.
extension Collective {
    /// Every rank's gradients summed into each rank's arena, through host memory, so every rank
    /// takes the same optimizer step.
    public func sumGradients(of model: GPT2) throws {
        guard isDistributed else { return }
        var g = try model.device.read(model.grads)
        try sum(&g)
        try model.device.write(g, to: model.grads)
    }

    /// Each rank computes `batch / size` of every batch's `rows`: refused unless it splits evenly.
    public func checkSplits(batch: Int, _ rows: String, flag: String = "--batch") throws {
        guard batch % size == 0 else {
            throw FoundryError("\(flag) \(batch) does not split evenly over \(size) ranks: use a multiple of \(size) (each rank computes \(flag.dropFirst(2)) / ranks \(rows))")
        }
    }

    /// A step's figures, each summed over the ranks (one all-reduce; themselves in one process).
    public func sums(_ figures: [Double]) throws -> [Double] {
        var v = figures
        try sum(&v)
        return v
    }

    /// Whether a signal asked the run to stop, on any rank: the ranks agree (one more tiny
    /// all-reduce), since a signal may reach them at different steps.
    public func stopRequested() throws -> Bool {
        guard isDistributed else { return Interrupt.requested }
        return try sum(Interrupt.requested ? 1 : 0) > 0
    }

    /// The last forward's mean loss over the whole global batch (`valid` targets in all): each
    /// rank's loss sum, summed. One process: the model's own mean, as before.
    public func meanLoss(of model: GPT2, valid: Int) throws -> Double {
        let local = try model.readLoss()
        guard isDistributed else { return local.loss }
        return try sum(local.loss * Double(local.count)) / Double(max(valid, 1))
    }
}
