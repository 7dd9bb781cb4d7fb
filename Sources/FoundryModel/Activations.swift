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
        let total = try Activations.checkFits(config: c, device: device, batch: batch, seq: seq)
        let BT = batch * seq, C = c.channels, rows = batch * c.heads * seq
        attention = .fused(batch: batch, seq: seq, channels: C, heads: c.heads, causal: c.objective == .causal)
        let arena = try device.makeTensor(count: total)
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

    /// The elements a [batch, seq] set of activations takes, after checking that the sizes do
    /// not overflow and fit the device: a batch from user settings fails here with one line,
    /// before anything (on the device or the host) is allocated for it.
    @discardableResult
    static func checkFits(config c: GPT2Config, device: Device, batch: Int, seq: Int) throws -> Int {
        let C = c.channels
        // Every size below is at most B·T × (widest row) × (a few per layer): if that product
        // overflows, no device could hold it (and the carving's arithmetic would trap).
        let widest = max(c.vocabSize, 4 * C) * (c.layers + 4) * 16
        let (bt, o1) = batch.multipliedReportingOverflow(by: seq), (_, o2) = bt.multipliedReportingOverflow(by: widest)
        if batch < 1 || seq < 1 || o1 || o2 {
            throw FoundryError("batch \(batch) × context \(seq) is beyond any device's memory: use a smaller --batch or --context")
        }
        var sizes: [Int] = []
        Activations.carve(config: c, batch: batch, seq: seq) { sizes.append($0) }
        if let largest = sizes.max(), largest > device.maxTensorElements {
            // The logits [B·T, vocab] are the largest tensor, then the MLP's [B·T, 4C].
            throw FoundryError("batch \(batch) × context \(seq) needs a tensor of \(largest) elements (the logits are B·T × vocabulary \(c.vocabSize)), past \(device.name)'s limit of \(device.maxTensorElements) per tensor; use a smaller --batch or --context, or --backend cpu")
        }
        let total = sizes.reduce(0, +)
        guard total <= device.memoryBytes / 4 else {
            let gib = { (bytes: Double) in String(format: "%.1f GiB", bytes / 1_073_741_824) }
            throw FoundryError("batch \(batch) × context \(seq) needs \(gib(Double(total) * 4)) of activations, more than \(device.name)'s \(gib(Double(device.memoryBytes))): use a smaller --batch or --context")
        }
        return total
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
