import Foundation
import FoundryCore

/// GPT-2, written once against the device contract: learned positions, pre-LayerNorm blocks,
/// tanh GELU, biases everywhere, LM head tied to the token embedding. fp32.
///
/// Usage: `forward` computes logits for a [batch, seq] block of tokens; `loss` turns them into
/// the mean cross-entropy over the non-ignored targets and, if asked, leaves d(loss)/d(logits)
/// in place; `backward` then accumulates every parameter's gradient into `grads`.
public final class GPT2 {
    public let config: GPT2Config
    public let device: Device
    public let layout: ParameterLayout
    /// All parameters, one arena; `grads` has the same layout.
    public let params: TensorRef
    public let grads: TensorRef
    /// Typed views of `params` and `grads`.
    public let weights: ModelTensors, gradients: ModelTensors

    var acts: Activations?
    /// Valid targets of the last `computeLoss` (what `readLoss` divides by).
    var lossTargets = 0

    public init(config: GPT2Config, device: Device) throws {
        try config.validate()
        try Self.checkFits(config, on: device)
        self.config = config
        self.device = device
        layout = ParameterLayout(config)
        params = try device.makeTensor(count: layout.total)
        grads = try device.makeTensor(count: layout.total)
        weights = ModelTensors(layout: layout, arena: params, layers: config.layers)
        gradients = ModelTensors(layout: layout, arena: grads, layers: config.layers)
    }

    /// Weights and gradients (8 bytes a parameter) must fit the device, and its largest tensor
    /// (the embedding, or an MLP matrix) one tensor argument, before anything is allocated.
    static func checkFits(_ c: GPT2Config, on device: Device) throws {
        guard let n = c.checkedParameterCount else { return }   // validate() has said why
        let largest = max(c.vocabSize * c.channels, 4 * c.channels * c.channels)
        let gib = { (bytes: Int) in String(format: "%.1f GiB", Double(bytes) / 1_073_741_824) }
        if largest > device.maxTensorElements {
            throw FoundryError("the model's largest tensor has \(largest) elements, past \(device.name)'s limit of \(device.maxTensorElements) per tensor: use a smaller vocabulary or width, or --backend cpu")
        }
        if n > device.memoryBytes / 8 {
            throw FoundryError("a model of \(n) parameters needs \(gib(8 * n)) for its weights and gradients, more than \(device.name)'s \(gib(device.memoryBytes)): use fewer layers, a smaller width or vocabulary")
        }
    }

    /// Checks that a [batch, seq] forward fits the device (sizes from user settings), before
    /// any host or device memory is allocated for it.
    public func checkFits(batch: Int, seq: Int) throws {
        try Activations.checkFits(config: config, device: device, batch: batch, seq: seq)
    }

    /// A view of one named parameter (HF name without "transformer.").
    public func param(_ name: String) -> TensorRef { view(params, name) }
    public func grad(_ name: String) -> TensorRef { view(grads, name) }
    func view(_ arena: TensorRef, _ name: String) -> TensorRef {
        guard let e = layout.entry(name) else { fatalError("no parameter \(name)") }
        return arena.slice(e.offset, e.count)
    }

    /// GPT-2's initialisation: N(0, 0.02) for matrices and embeddings, residual projections
    /// scaled by 1/√(2·layers), zero biases, unit LayerNorm gains.
    public func initialise(seed: UInt64) throws {
        var rng = RNG(seed: seed)
        var values = [Float](repeating: 0, count: layout.total)
        let projStd = 0.02 / (2 * Double(config.layers)).squareRoot()
        for e in layout.entries {
            let isWeight = e.name.hasSuffix(".weight")
            if e.name.contains("ln_") {
                if isWeight { for j in 0..<e.count { values[e.offset + j] = 1 } }
            } else if isWeight {
                let std = e.name.hasSuffix("c_proj.weight") ? projStd : 0.02
                for j in 0..<e.count { values[e.offset + j] = Float(rng.normal() * std) }
            }
        }
        try device.write(values, to: params)
    }

    public func zeroGrad() { device.fill(grads, value: 0) }

    // MARK: forward

    /// Logits [batch·seq, vocab] of the last forward pass.
    public var logits: TensorRef {
        guard let a = acts else { fatalError("forward has not run") }
        return a.logits.slice(0, a.batch * a.seq * config.vocabSize)
    }

    /// The final LayerNorm's output [batch·seq, C] of the last forward: what the LM head (or a
    /// reward/value head) reads.
    public var hidden: TensorRef {
        guard let a = acts else { fatalError("forward has not run") }
        return a.lnf.slice(0, a.batch * a.seq * config.channels)
    }

    /// Scratch [batch·seq, C] for a head's gradient w.r.t. `hidden`; fill it, then call
    /// `backward(fromHidden:)`.
    public var hiddenGradient: TensorRef {
        guard let a = acts else { fatalError("forward has not run") }
        return a.dscratchC.slice(0, a.batch * a.seq * config.channels)
    }

    /// Runs the model on `tokens` ([batch, seq], row-major, ids < vocab). With `logits: false`
    /// it stops at `hidden` (for scalar heads), skipping the vocabulary projection. The logits
    /// are divided by `temperature` (1 = plain): RL stages pass their sampling temperature, as TRL
    /// does, so the log-probabilities they optimise are those of the distribution the responses
    /// were sampled from; `backward` differentiates the same scaled logits.
    public func forward(tokens: [Int32], batch: Int, seq: Int, logits computeLogits: Bool = true, temperature: Float = 1) throws {
        precondition(temperature > 0, "a logit temperature must be positive")
        precondition(tokens.count == batch * seq)
        guard seq <= config.maxSeq else {
            throw FoundryError("sequence of \(seq) tokens is longer than the model's context (\(config.maxSeq))")
        }
        if let bad = tokens.first(where: { $0 < 0 || Int($0) >= config.vocabSize }) {
            throw FoundryError("token id \(bad) is out of range for a vocabulary of \(config.vocabSize)")
        }
        let a = try activations(batch: batch, seq: seq)
        a.temperature = temperature
        try device.write(ints: tokens, to: a.tokens)
        let d = device, C = config.channels, BT = batch * seq, V = config.vocabSize, w = weights, eps = config.layerNormEps
        d.embeddingForward(tokens: a.tokens, wte: w.tokenEmbedding, wpe: w.positionEmbedding, out: a.encoded,
                           batch: batch, seq: seq, channels: C)
        // Block 0's LayerNorm reads the embeddings; every later LayerNorm is fused with the residual
        // add before it (residualLayerNormForward), so each block ends by normalising its output.
        d.layerNormForward(a.encoded, weight: w.blocks[0][.ln1Weight], bias: w.blocks[0][.ln1Bias], out: a.layers[0].ln1,
                           mean: a.layers[0].ln1Mean, rstd: a.layers[0].ln1Rstd, rows: BT, cols: C, eps: eps)
        let final = RowNorm(weight: w.finalNormWeight, bias: w.finalNormBias, eps: eps)
        _ = runBlocks(from: BlockInput(rows: a.layers[0].ln1, pendingNorm: nil),
                      pass: TrainingPass(device: d, blocks: w.blocks, a: a, rows: BT, channels: C, final: final), finalNorm: final) { l, qkv, atty in
            d.attentionForward(q: qkv, k: qkv.slice(C, qkv.count - C), v: qkv.slice(2 * C, qkv.count - 2 * C),
                               out: atty, lse: a.layers[l].lse, layout: a.attention)
        }
        // The LM head is the token embedding, transposed (tied weights).
        guard computeLogits else { return }
        d.gemm(transA: false, transB: true, m: BT, n: V, k: C, alpha: 1 / temperature, a: a.lnf, b: w.tokenEmbedding,
               beta: 0, c: a.logits, bias: nil)
    }

    /// Mean cross-entropy of the last forward's logits against `targets` ([batch·seq], −1 =
    /// ignore). With `gradScale`, also leaves gradScale·d(sum of losses)/d(logits) in the logits
    /// buffer for `backward` (pass 1/validCount for the mean; divide further to accumulate).
    /// Returns the mean loss over valid targets and their count.
    @discardableResult
    public func loss(targets: [Int32], gradScale: Float? = nil) throws -> (loss: Double, count: Int) {
        try computeLoss(targets: targets, gradScale: gradScale)
        return try readLoss()
    }

    /// `loss` without the wait: enqueues the cross-entropy (and the logits' gradient when
    /// `gradScale` is given). A training step calls this, then `backward` and the optimiser, and
    /// reads the loss last (`readLoss`), so the step waits for the device once.
    public func computeLoss(targets: [Int32], gradScale: Float? = nil) throws {
        guard let a = acts else { fatalError("forward has not run") }
        let BT = a.batch * a.seq
        precondition(targets.count == BT)
        if let bad = targets.first(where: { $0 < -1 || Int($0) >= config.vocabSize }) {
            throw FoundryError("target id \(bad) is out of range for a vocabulary of \(config.vocabSize)")
        }
        try device.write(ints: targets, to: a.targets)
        device.crossEntropy(logits: logits, targets: a.targets, losses: a.losses, dlogits: gradScale == nil ? nil : logits,
                            rows: BT, vocab: config.vocabSize, gradScale: gradScale ?? 1)
        lossTargets = targets.filter { $0 >= 0 }.count
    }

    /// The mean loss over the valid targets of the last `computeLoss`, and their count; waits
    /// for the device. Throws when the loss is not finite.
    public func readLoss() throws -> (loss: Double, count: Int) {
        guard let a = acts else { fatalError("forward has not run") }
        let losses = try device.read(a.losses.slice(0, a.batch * a.seq))
        let sum = losses.reduce(0.0) { $0 + Double($1) }
        if !sum.isFinite {
            throw FoundryError("the loss is not finite (NaN or infinity): lower --lr, raise --warmup, or check the data")
        }
        return (lossTargets == 0 ? 0 : sum / Double(lossTargets), lossTargets)
    }

    /// The targets and per-position loss buffers of the current shape (for losses built outside
    /// the model, such as `backward(_:dLogp:)`).
    public var targetsTensor: TensorRef {
        guard let a = acts else { fatalError("forward has not run") }
        return a.targets.slice(0, a.batch * a.seq)
    }
    public var lossesTensor: TensorRef {
        guard let a = acts else { fatalError("forward has not run") }
        return a.losses.slice(0, a.batch * a.seq)
    }

    /// Per-position losses of the last `loss` call.
    public func positionLosses() throws -> [Float] {
        guard let a = acts else { fatalError("forward has not run") }
        return try device.read(a.losses.slice(0, a.batch * a.seq))
    }

    // MARK: backward

    /// Accumulates d(loss)/d(parameters) into `grads`, from the gradient `loss(gradScale:)`
    /// left in the logits. Layer by layer, the mirror image of `forward`.
    public func backward() throws {
        guard let a = acts else { fatalError("forward has not run") }
        let d = device, BT = a.batch * a.seq, V = config.vocabSize
        // logits = lnf · wteᵀ / temperature (the forward's)
        let s = 1 / a.temperature
        d.gemm(transA: false, transB: false, m: BT, n: config.channels, k: V, alpha: s, a: logits, b: weights.tokenEmbedding,
               beta: 0, c: a.dscratchC, bias: nil)
        d.gemm(transA: true, transB: false, m: V, n: config.channels, k: BT, alpha: s, a: logits, b: a.lnf, beta: 1,
               c: gradients.tokenEmbedding, bias: nil)
        try backward(fromHidden: hiddenGradient)
    }

    /// Accumulates parameter gradients given d(loss)/d(hidden) (normally `hiddenGradient`,
    /// which the blocks then reuse as scratch).
    public func backward(fromHidden dHidden: TensorRef) throws {
        guard let a = acts else { fatalError("forward has not run") }
        let d = device, C = config.channels, BT = a.batch * a.seq, w = weights, g = gradients
        let dres = a.dresidual, dC = a.dscratchC, d4C = a.dscratch4C, dqkv = a.dqkv
        if dHidden.offset != dC.offset || dHidden.buffer !== dC.buffer { d.copy(dHidden, to: dC.slice(0, BT * C)) }
        d.fill(dres, value: 0)
        d.layerNormBackward(dout: dC, inp: a.layers[config.layers - 1].res3, weight: w.finalNormWeight, mean: a.lnfMean,
                            rstd: a.lnfRstd, dinp: dres, dweight: g.finalNormWeight, dbias: g.finalNormBias, rows: BT, cols: C)
        for l in stride(from: config.layers - 1, through: 0, by: -1) {
            let L = a.layers[l], W = w.blocks[l], G = g.blocks[l]
            let residual = l == 0 ? a.encoded : a.layers[l - 1].res3
            // res3 = res2 + fcproj: dres is the gradient of both.
            // fcproj = gelu(fch) · W_proj + b
            d.weightGradient(inp: L.fchGelu, dout: dres, rows: BT, inputs: 4 * C, outputs: C,
                             dweight: G[.mlpProjection], dbias: G[.mlpProjectionBias])
            // d(fch) = (dres · W_projᵀ) ⊙ gelu'(fch)
            d.gemmGeluBackward(m: BT, n: 4 * C, k: C, a: dres, b: W[.mlpProjection], pre: L.fch, out: d4C)
            // fch = ln2 · W_fc + b
            d.weightGradient(inp: L.ln2, dout: d4C, rows: BT, inputs: C, outputs: 4 * C, dweight: G[.mlp], dbias: G[.mlpBias])
            d.gemm(transA: false, transB: true, m: BT, n: C, k: 4 * C, alpha: 1, a: d4C, b: W[.mlp], beta: 0, c: dC, bias: nil)
            // ln2 = LN(res2): its gradient joins the skip path in dres, which is now d(res2).
            d.layerNormBackward(dout: dC, inp: L.res2, weight: W[.ln2Weight], mean: L.ln2Mean, rstd: L.ln2Rstd,
                                dinp: dres, dweight: G[.ln2Weight], dbias: G[.ln2Bias], rows: BT, cols: C)
            // res2 = residual + attproj; attproj = atty · W_o + b
            d.weightGradient(inp: L.atty, dout: dres, rows: BT, inputs: C, outputs: C,
                             dweight: G[.attentionProjection], dbias: G[.attentionProjectionBias])
            d.gemm(transA: false, transB: true, m: BT, n: C, k: C, alpha: 1, a: dres, b: W[.attentionProjection],
                   beta: 0, c: dC, bias: nil)
            d.attentionBackward(dout: dC, qkv: L.qkv, out: L.atty, lse: L.lse, dqkv: dqkv, scratch: a.dsum, layout: a.attention)
            // qkv = ln1 · W_qkv + b
            d.weightGradient(inp: L.ln1, dout: dqkv, rows: BT, inputs: C, outputs: 3 * C, dweight: G[.attention], dbias: G[.attentionBias])
            d.gemm(transA: false, transB: true, m: BT, n: C, k: 3 * C, alpha: 1, a: dqkv, b: W[.attention], beta: 0, c: dC, bias: nil)
            // ln1 = LN(residual): dres becomes d(residual), the previous block's output.
            d.layerNormBackward(dout: dC, inp: residual, weight: W[.ln1Weight], mean: L.ln1Mean, rstd: L.ln1Rstd,
                                dinp: dres, dweight: G[.ln1Weight], dbias: G[.ln1Bias], rows: BT, cols: C)
        }
        d.embeddingBackward(dout: dres, tokens: a.tokens, dwte: g.tokenEmbedding, dwpe: g.positionEmbedding,
                            batch: a.batch, seq: a.seq, channels: C)
    }

    func activations(batch: Int, seq: Int) throws -> Activations {
        if let a = acts, a.batch == batch, a.seq == seq { return a }
        acts = nil   // free the old set first: device memory may only hold one
        let a = try Activations(config: config, device: device, batch: batch, seq: seq)
        acts = a
        return a
    }
}

/// Training's pass through the blocks: every layer's activations kept for the backward, each
/// residual sum in its own buffer, and every LayerNorm after the first fused with the residual
/// add before it.
struct TrainingPass: BlockPass {
    let device: Device, blocks: [ModelTensors.Block]
    let a: Activations
    let rows: Int, channels: Int
    /// ln_f, which normalises the last block's output into `a.lnf`.
    let final: RowNorm

    func qkv(_ l: Int) -> TensorRef { a.layers[l].qkv }
    func atty(_ l: Int) -> TensorRef { a.layers[l].atty }
    func mlp(_ l: Int) -> TensorRef { a.layers[l].fchGelu }

    func product(_ l: Int, _ input: BlockInput, _ m: BlockTensor, bias: BlockTensor, gelu: Bool, out: TensorRef) {
        blockProduct(device, blocks[l], rows: rows, channels: channels, input.rows, m, bias: bias, gelu: gelu, pre: a.layers[l].fch, out: out)
    }
    func endAttention(_ l: Int, norm: RowNorm) -> BlockInput {
        let L = a.layers[l], residual = l == 0 ? a.encoded : a.layers[l - 1].res3
        blockProduct(device, blocks[l], rows: rows, channels: channels, L.atty, .attentionProjection, bias: .attentionProjectionBias,
                     gelu: false, pre: L.fch, out: L.attproj)
        device.residualLayerNormForward(residual, L.attproj, sum: L.res2, weight: norm.weight, bias: norm.bias,
                                        out: L.ln2, mean: L.ln2Mean, rstd: L.ln2Rstd, rows: rows, cols: channels, eps: norm.eps)
        return BlockInput(rows: L.ln2, pendingNorm: nil)
    }
    func endBlock(_ l: Int, next: RowNorm?) -> BlockInput {
        let L = a.layers[l], last = l + 1 == a.layers.count
        blockProduct(device, blocks[l], rows: rows, channels: channels, L.fchGelu, .mlpProjection, bias: .mlpProjectionBias,
                     gelu: false, pre: L.fch, out: L.fcproj)
        // The block's output, normalised for the next block (or by the final ln_f).
        let (ln, mean, rstd) = last ? (a.lnf, a.lnfMean, a.lnfRstd) : (a.layers[l + 1].ln1, a.layers[l + 1].ln1Mean, a.layers[l + 1].ln1Rstd)
        let norm = next ?? final
        device.residualLayerNormForward(L.res2, L.fcproj, sum: L.res3, weight: norm.weight, bias: norm.bias,
                                        out: ln, mean: mean, rstd: rstd, rows: rows, cols: channels, eps: norm.eps)
        return BlockInput(rows: ln, pendingNorm: nil)
    }
}
