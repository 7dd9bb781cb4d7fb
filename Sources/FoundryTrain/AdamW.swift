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
    /// [norm, clip scale] of the last update, written and read on the device (`Device.gradNorm`).
    let normState: TensorRef

    public convenience init(model: GPT2, weightDecay: Float) throws {
        try self.init(device: model.device, count: model.layout.total, weightDecay: weightDecay)
    }

    /// Moments for `count` parameters (a LoRA adapter's arena, say).
    public init(device: Device, count: Int, weightDecay: Float) throws {
        self.weightDecay = weightDecay
        m = try device.makeTensor(count: count)
        v = try device.makeTensor(count: count)
        normState = try device.makeTensor(count: 2)
    }

    /// One update, enqueued without waiting: the gradient norm, the clip scale (gradients are
    /// scaled down when their norm exceeds `clip` > 0) and the step all stay on the device.
    /// Read the returned norm once the step's other results are in (`GradNorm.read`); it throws
    /// when the norm was not finite, in which case the device skipped the update.
    public func update(_ model: GPT2, lr: Float, clip: Float = 0) -> GradNorm {
        update(params: model.params, grads: model.grads, decayCount: decayAll ? model.layout.total : model.layout.decayCount,
               device: model.device, lr: lr, clip: clip)
    }

    /// The same update over any arena of parameters and their gradients; the first
    /// `decayCount` parameters are decayed.
    public func update(params: TensorRef, grads: TensorRef, decayCount: Int, device: Device, lr: Float, clip: Float = 0) -> GradNorm {
        step += 1
        device.gradNorm(grads, clip: clip, out: normState)
        device.adamw(params: params, grads: grads, m: m, v: v, decayCount: decayCount,
                     lr: lr, beta1: beta1, beta2: beta2, eps: eps, weightDecay: weightDecay, step: step,
                     gradScale: normState.slice(1, 1))
        return GradNorm(device: device, state: normState)
    }

    /// An update whose gradient norm was computed elsewhere (over every rank's shard, ZeRO-1):
    /// the clip scale follows `gradNorm`'s rule, and a non-finite norm skips the update.
    func update(params: TensorRef, grads: TensorRef, decayCount: Int, device: Device, lr: Float, clip: Float, norm: Double) throws {
        step += 1
        var scale: Float = 1
        if !Float(norm).isFinite { scale = 0 } else if clip > 0 && norm > Double(clip) { scale = Float(Double(clip) / norm) }
        try device.write([Float(norm), scale], to: normState)
        device.adamw(params: params, grads: grads, m: m, v: v, decayCount: decayCount,
                     lr: lr, beta1: beta1, beta2: beta2, eps: eps, weightDecay: weightDecay, step: step,
                     gradScale: normState.slice(1, 1))
    }

    /// Moments and step, for checkpoints.
    public func state(_ device: Device) throws -> (m: [Float], v: [Float], step: Int) {
        (try device.read(m), try device.read(v), step)
    }
    public func restore(m mv: [Float], v vv: [Float], step s: Int, device: Device) throws {
        guard mv.count == m.count, vv.count == v.count else {
            throw FoundryError("optimizer state does not match the model's size: the checkpoint's optimizer moments (stage_state.safetensors) belong to another model")
        }
        // Damaged moments would surface later as a non-finite gradient norm, blamed on the learning rate.
        guard mv.allSatisfy(\.isFinite), vv.allSatisfy({ $0.isFinite && $0 >= 0 }) else {
            throw FoundryError("the checkpoint's optimizer moments (stage_state.safetensors) hold NaN, infinite or negative values: it is damaged; restore it, or start a new run")
        }
        try device.write(mv, to: m); try device.write(vv, to: v); step = s
    }
}

/// The gradient norm of an update still on the device. Reading it waits for the update; read it
/// after the step's loss so the step has one wait, not two.
public struct GradNorm {
    let device: Device, state: TensorRef
    /// The global L2 norm before clipping; throws when it was not finite (the update was skipped).
    public func read() throws -> Double {
        let norm = Double(try device.read(state.slice(0, 1))[0])
        guard norm.isFinite else {
            throw FoundryError("the gradient norm is not finite (NaN or infinity): lower --lr, raise --warmup, or check the data")
        }
        return norm
    }
}

/// Linear warmup, then cosine decay to `minLR` at `total` steps (nanoGPT's schedule).
public struct LRSchedule: Sendable {
    public var maxLR: Float, minLR: Float, warmup: Int, total: Int
    /// Where the cosine ends when no floor is given: the peak divided by this (nanoGPT's 10).
    public static let defaultFloorDivisor: Float = 10

    /// `minLR` nil: `maxLR / defaultFloorDivisor`.
    public init(maxLR: Float, minLR: Float? = nil, warmup: Int, total: Int) {
        self.maxLR = maxLR; self.minLR = minLR ?? maxLR / Self.defaultFloorDivisor; self.warmup = warmup; self.total = total
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
