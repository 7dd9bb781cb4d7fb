import FoundryCore
import FoundryModel

/// AdamW with PyTorch's semantics (bias-corrected moments, decoupled weight decay, eps after the
/// square root), over the model's whole parameter arena in one launch. Weight decay applies to
/// matrices and embeddings only (the arena's first `decayCount` elements), as in nanoGPT.
public final class AdamW {
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var eps: Float = 1e-8
    public var weightDecay: Float
    /// true: decay every parameter (torch.optim.AdamW over model.parameters()).
    public var decayAll = false
    public internal(set) var step = 0
    let m: TensorRef, v: TensorRef

    public init(model: GPT2, weightDecay: Float) throws {
        self.weightDecay = weightDecay
        m = try model.device.makeTensor(count: model.layout.total)
        v = try model.device.makeTensor(count: model.layout.total)
    }

    /// Global L2 norm of the gradients.
    public func gradNorm(_ model: GPT2) throws -> Double { try model.device.sumOfSquares(model.grads).squareRoot() }

    /// One update. Gradients are scaled down first when their norm exceeds `clip` (> 0).
    /// Returns the norm before clipping.
    @discardableResult
    public func update(_ model: GPT2, lr: Float, clip: Float = 0) throws -> Double {
        let norm = try gradNorm(model)
        guard norm.isFinite else {
            throw FoundryError("the gradient norm is not finite (NaN or infinity): lower --lr, raise --warmup, or check the data")
        }
        let scale: Float = clip > 0 && norm > Double(clip) ? Float(Double(clip) / norm) : 1
        step += 1
        model.device.adamw(params: model.params, grads: model.grads, m: m, v: v,
                           decayCount: decayAll ? model.layout.total : model.layout.decayCount,
                           lr: lr, beta1: beta1, beta2: beta2, eps: eps, weightDecay: weightDecay, step: step, gradScale: scale)
        return norm
    }

    /// Moments and step, for checkpoints.
    public func state(_ device: Device) throws -> (m: [Float], v: [Float], step: Int) {
        (try device.read(m), try device.read(v), step)
    }
    public func restore(m mv: [Float], v vv: [Float], step s: Int, device: Device) throws {
        guard mv.count == m.count, vv.count == v.count else {
            throw FoundryError("optimizer state does not match the model's size: the checkpoint's optimizer.safetensors belongs to another model")
        }
        try device.write(mv, to: m); try device.write(vv, to: v); step = s
    }
}

/// Linear warmup, then cosine decay to `minLR` at `total` steps (nanoGPT's schedule).
public struct LRSchedule: Sendable {
    public var maxLR: Float, minLR: Float, warmup: Int, total: Int
    public init(maxLR: Float, minLR: Float, warmup: Int, total: Int) {
        self.maxLR = maxLR; self.minLR = minLR; self.warmup = warmup; self.total = total
    }
    /// Learning rate for 0-based step `it`.
    public func lr(_ it: Int) -> Float {
        if it < warmup { return maxLR * Float(it + 1) / Float(warmup + 1) }
        if it >= total { return minLR }
        let ratio = Double(it - warmup) / Double(max(1, total - warmup))
        let coeff = 0.5 * (1 + cos(Double.pi * ratio))
        return minLR + Float(coeff) * (maxLR - minLR)
    }
}

import Foundation
