import FoundryCore

/// Everything the forward pass keeps for the backward, for one [batch, seq] shape, plus the
/// backward's scratch space. One buffer, carved into views, layer-major.
final class Activations {
    struct Layer {
        let ln1, ln1Mean, ln1Rstd, qkv, atty, lse, attproj, res2: TensorRef
        let ln2, ln2Mean, ln2Rstd, fch, fchGelu, fcproj, res3: TensorRef
    }

    let batch: Int, seq: Int
    /// What the last forward divided the logits by (its backward uses the same).
    var temperature: Float = 1
    let attention: AttentionLayout
    let tokens, targets: TensorRef
    let encoded: TensorRef
    var layers: [Layer] = []
    let lnf, lnfMean, lnfRstd, logits, losses: TensorRef
    let dresidual, dscratchC, dscratch4C, dqkv, dsum: TensorRef

    init(config c: GPT2Config, device: Device, batch: Int, seq: Int) throws {
        self.batch = batch; self.seq = seq
        let BT = batch * seq, C = c.channels, rows = batch * c.heads * seq
        attention = .fused(batch: batch, seq: seq, channels: C, heads: c.heads, causal: c.objective == .causal)
        // Carve views out of one buffer; the size is whatever the carving below adds up to.
        var sizes: [Int] = []
        Activations.carve(config: c, batch: batch, seq: seq) { sizes.append($0) }
        if let largest = sizes.max(), largest > device.maxTensorElements {
            // The logits [B·T, vocab] are the largest tensor, then the MLP's [B·T, 4C].
            throw FoundryError("batch \(batch) × context \(seq) needs a tensor of \(largest) elements (the logits are B·T × vocabulary \(c.vocabSize)), past \(device.name)'s limit of \(device.maxTensorElements) per tensor; use a smaller --batch or --context, or --backend cpu")
        }
        let arena = try device.makeTensor(count: sizes.reduce(0, +))
        var at = 0
        func take(_ n: Int) -> TensorRef { defer { at += n }; return arena.slice(at, n) }
        tokens = take(BT); targets = take(BT)
        encoded = take(BT * C)
        for _ in 0..<c.layers {
            layers.append(Layer(
                ln1: take(BT * C), ln1Mean: take(BT), ln1Rstd: take(BT), qkv: take(3 * BT * C), atty: take(BT * C),
                lse: take(rows), attproj: take(BT * C), res2: take(BT * C),
                ln2: take(BT * C), ln2Mean: take(BT), ln2Rstd: take(BT), fch: take(4 * BT * C), fchGelu: take(4 * BT * C),
                fcproj: take(BT * C), res3: take(BT * C)))
        }
        lnf = take(BT * C); lnfMean = take(BT); lnfRstd = take(BT)
        logits = take(BT * c.vocabSize); losses = take(BT)
        dresidual = take(BT * C); dscratchC = take(BT * C); dscratch4C = take(4 * BT * C); dqkv = take(3 * BT * C)
        dsum = take(rows)
        precondition(at == arena.count)
    }

    /// The sizes `init` takes, in the same order (kept in step with it by the precondition).
    static func carve(config c: GPT2Config, batch: Int, seq: Int, _ take: (Int) -> Void) {
        let BT = batch * seq, C = c.channels, rows = batch * c.heads * seq   // attention keeps one number per query row
        for n in [BT, BT, BT * C] { take(n) }
        for _ in 0..<c.layers {
            for n in [BT * C, BT, BT, 3 * BT * C, BT * C, rows, BT * C, BT * C,
                      BT * C, BT, BT, 4 * BT * C, 4 * BT * C, BT * C, BT * C] { take(n) }
        }
        for n in [BT * C, BT, BT, BT * c.vocabSize, BT, BT * C, BT * C, 4 * BT * C, 3 * BT * C, rows] { take(n) }
    }
}
