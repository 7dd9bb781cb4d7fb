import Foundation
import FoundryCore
import FoundryFiles
import FoundryData

/// A scalar head on a GPT-2 backbone: r = w · h, where h is the final LayerNorm's output at a
/// position. Used as the reward model (read at each sequence's last token) and as PPO's value
/// model (read at every token). Like transformers' GPT2ForSequenceClassification the head has
/// no bias; its weights start as N(0, 1/√(d+1)) (TRL's reward-head initialisation).
/// The head is d numbers, so it lives on the host with its own AdamW state.
public final class ScalarHead {
    public var weight: [Float]
    var m: [Float], v: [Float], step = 0

    /// Weights, moments and step, for a stage's checkpoint (`prefix` names them).
    public func stateTensors(_ prefix: String) -> [NamedTensor] {
        [NamedTensor(name: prefix + ".weight", shape: [weight.count], values: weight),
         NamedTensor(name: prefix + ".m", shape: [m.count], values: m), NamedTensor(name: prefix + ".v", shape: [v.count], values: v),
         NamedTensor(name: prefix + ".step", shape: [1], values: [Float(step)])]
    }
    public func restore(_ prefix: String, from t: [String: NamedTensor]) throws {
        guard let w = t[prefix + ".weight"], let mm = t[prefix + ".m"], let vv = t[prefix + ".v"], let s = t[prefix + ".step"],
              w.values.count == weight.count, mm.values.count == weight.count, vv.values.count == weight.count else {
            throw FoundryError("cannot resume: the stage state lacks the \(prefix) head's weights or moments")
        }
        weight = w.values; m = mm.values; v = vv.values; step = Int(s.values[0])
    }

    public init(channels: Int, seed: UInt64) {
        var rng = RNG(seed: seed)
        let std = 1 / Double(channels + 1).squareRoot()
        weight = (0..<channels).map { _ in Float(rng.normal() * std) }
        m = .init(repeating: 0, count: channels); v = m
    }

    public init(weight: [Float]) {
        self.weight = weight
        m = .init(repeating: 0, count: weight.count); v = m
    }

    /// Scores of the given rows of a hidden-state matrix [rows, C].
    public func scores(hidden: [Float], rows: [Int]) -> [Double] {
        let C = weight.count
        return rows.map { r in
            var s = 0.0
            for c in 0..<C { s += Double(hidden[r * C + c]) * Double(weight[c]) }
            return s
        }
    }

    /// Given d(loss)/d(score) at `rows`, returns d(loss)/d(hidden) ([allRows, C]) and
    /// accumulates the head's own gradient into `grad`.
    public func backward(hidden: [Float], rows: [Int], dScores: [Double], allRows: Int, grad: inout [Float]) -> [Float] {
        let C = weight.count
        var dHidden = [Float](repeating: 0, count: allRows * C)
        for (r, ds) in zip(rows, dScores) {
            for c in 0..<C {
                dHidden[r * C + c] += Float(ds) * weight[c]
                grad[c] += Float(ds) * hidden[r * C + c]
            }
        }
        return dHidden
    }

    /// AdamW (PyTorch semantics) on the head, no weight decay.
    public func update(grad: [Float], lr: Float, gradScale: Float = 1, beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8) {
        step += 1
        let bc1 = 1 - powf(beta1, Float(step)), bc2 = 1 - powf(beta2, Float(step))
        for c in weight.indices {
            let g = grad[c] * gradScale
            m[c] = beta1 * m[c] + (1 - beta1) * g
            v[c] = beta2 * v[c] + (1 - beta2) * g * g
            weight[c] -= (lr / bc1) * m[c] / (v[c].squareRoot() / bc2.squareRoot() + eps)
        }
    }
}

/// A backbone with a scalar head, saved as transformers' GPT2ForSequenceClassification
/// (num_labels = 1, "score.weight" [1, C]).
public final class RewardModel {
    public let backbone: GPT2
    public let head: ScalarHead

    public init(backbone: GPT2, head: ScalarHead) { self.backbone = backbone; self.head = head }

    /// The reward of each sequence, read at its last real token.
    public func rewards(_ b: SequenceBatch) throws -> [Double] {
        try backbone.forward(tokens: b.tokens, batch: b.batch, seq: b.seq, logits: false)
        let h = try backbone.device.read(backbone.hidden)
        return head.scores(hidden: h, rows: b.lastRows)
    }

    /// How transformers names a reward model, and its head's tensor.
    public static let architecture = "GPT2ForSequenceClassification"
    public var scoreTensor: NamedTensor { NamedTensor(name: "score.weight", shape: [1, head.weight.count], values: head.weight) }

    public func save(tokenizer: Tokenizer?, to dir: String) throws {
        try Checkpoint.save(backbone, tokenizer: tokenizer, to: dir, extraTensors: [scoreTensor], architecture: Self.architecture)
    }

    public static func load(_ dir: String, device: Device) throws -> RewardModel {
        let backbone = try Checkpoint.load(dir, device: device)
        let (tensors, _) = try SafeTensors.read(path: Checkpoint.path(dir, "model.safetensors"))
        guard let w = tensors["score.weight"], w.values.count == backbone.config.channels else {
            throw FoundryError("\(dir) has no reward head (score.weight [1, \(backbone.config.channels)]): train one with `foundry reward`")
        }
        return RewardModel(backbone: backbone, head: ScalarHead(weight: w.values))
    }
}
