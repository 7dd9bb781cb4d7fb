import FoundryCore
import FoundryFiles
import FoundryModel

/// How a stage's trained model changes at each step: every parameter by AdamW (frozen parts
/// written back afterwards), or, with LoRA, only the adapters. The trainers call `update` after
/// the backward and checkpoint `stateTensors`, whichever it is.
public final class PolicyUpdate {
    let model: GPT2
    let full: AdamW?
    let freezer: Freezer?
    public let lora: LoRAAdapter?

    public init(model: GPT2, weightDecay: Float, lora: LoRAOptions, seed: UInt64, freezer: Freezer? = nil) throws {
        self.model = model
        if lora.enabled {
            if let freezer, freezer.frozenCount > 0 {
                throw FoundryError("--lora-rank trains only the adapters already: drop --freeze-layers/--freeze-embeddings")
            }
            self.lora = try LoRAAdapter(model: model, options: lora, seed: seed, weightDecay: weightDecay)
            full = nil; self.freezer = nil
        } else {
            full = try AdamW(model: model, weightDecay: weightDecay)
            self.lora = nil; self.freezer = freezer
        }
    }

    /// Parameters that change.
    public var trainableCount: Int { lora?.parameterCount ?? model.layout.total - (freezer?.frozenCount ?? 0) }

    /// One optimizer step from the gradients in `model.grads`, enqueued without waiting.
    public func update(lr: Float, clip: Float) -> GradNorm {
        if let lora { return lora.update(lr: lr, clip: clip) }
        let norm = full!.update(model, lr: lr, clip: clip)
        freezer?.restore()
        return norm
    }

    /// A one-line description for the stage's log ("LoRA rank 8 … : 73,728 of 1,234,567 parameters train").
    public var summary: String? {
        guard let lora else { return nil }
        let o = lora.options
        return "LoRA rank \(o.rank), alpha \(formatMetric(Double(o.resolvedAlpha))) on \(o.targets.map(\.rawValue).joined(separator: "+")): "
            + "\(lora.parameterCount) of \(model.layout.total) parameters train"
    }

    func stateTensors() throws -> [NamedTensor] {
        if let lora { return try lora.stateTensors() }
        return try full!.stateTensors("adamw", device: model.device)
    }

    func restore(from t: [String: NamedTensor]) throws {
        if let lora { try lora.restore(from: t) } else { try full!.restore("adamw", from: t, device: model.device) }
    }
}
