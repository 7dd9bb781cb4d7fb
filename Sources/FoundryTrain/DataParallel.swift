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

    /// The last forward's mean loss over the whole global batch (`valid` targets in all): each
    /// rank's loss sum, summed. One process: the model's own mean, as before.
    public func meanLoss(of model: GPT2, valid: Int) throws -> Double {
        let local = try model.readLoss()
        guard isDistributed else { return local.loss }
        return try sum(local.loss * Double(local.count)) / Double(max(valid, 1))
    }
}
