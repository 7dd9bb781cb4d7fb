import FoundryCore

/// Keys and values of every position seen so far, per layer ([batch, maxSeq, C] each, written
/// in place as positions arrive), plus the scratch an incremental forward needs.
public final class KVCache {
    public let batch: Int
    /// Positions already in the cache.
    public internal(set) var length = 0
    let keys: [TensorRef], values: [TensorRef]
    let x, ln, qkv, atty, proj, fch, fchGelu, lse, mean, rstd: TensorRef
    let last, lastNorm, lastMean, lastRstd, logits: TensorRef
    /// The token ids of a step, written in place (not a new device buffer every token).
    let tokenIds: TensorRef
    let chunk: Int
    /// Each layer's matrices transposed ([n, k], indexed by `BlockTensor.rawValue`), for steps of at most
    /// `dotProductRows` rows on devices that `decodesWithDotProducts`: each output then reads one
    /// contiguous row of weights. Copied from the model's parameters on the first such step
    /// after `reset()`, so a model trained between two generations is read afresh; allocated on
    /// first use (as much memory again as the layer weights, per cache).
    var transposed: [[TensorRef]] = []
    var transposedFresh = false

    init(config c: GPT2Config, device: Device, batch: Int) throws {
        self.batch = batch
        let C = c.channels, T = c.maxSeq
        chunk = T
        let rows = batch * chunk
        keys = try (0..<c.layers).map { _ in try device.makeTensor(count: batch * T * C) }
        values = try (0..<c.layers).map { _ in try device.makeTensor(count: batch * T * C) }
        x = try device.makeTensor(count: rows * C); ln = try device.makeTensor(count: rows * C)
        qkv = try device.makeTensor(count: rows * 3 * C); atty = try device.makeTensor(count: rows * C)
        proj = try device.makeTensor(count: rows * C)
        fch = try device.makeTensor(count: rows * 4 * C); fchGelu = try device.makeTensor(count: rows * 4 * C)
        lse = try device.makeTensor(count: batch * c.heads * chunk)
        mean = try device.makeTensor(count: rows); rstd = try device.makeTensor(count: rows)
        last = try device.makeTensor(count: batch * C); lastNorm = try device.makeTensor(count: batch * C)
        lastMean = try device.makeTensor(count: batch); lastRstd = try device.makeTensor(count: batch)
        logits = try device.makeTensor(count: batch * c.vocabSize)
        tokenIds = try device.makeTensor(count: rows)
    }

    /// Forget every position (the buffers are reused). The next step copies the weights again
    /// unless `keepingWeights` (the model has not changed: a sliding context window).
    public func reset(keepingWeights: Bool = false) {
        length = 0
        if !keepingWeights { transposedFresh = false }
    }

    /// The transposed layer matrices, copied from `model` if stale.
    func transposedWeights(of model: GPT2) throws -> [[TensorRef]] {
        let C = model.config.channels
        if transposed.isEmpty {
            transposed = try model.weights.blocks.map { block in
                try BlockTensor.matrices.map { try model.device.makeTensor(count: block[$0].count) }
            }
        }
        if !transposedFresh {
            for (l, block) in model.weights.blocks.enumerated() {
                for m in BlockTensor.matrices {
                    let shape = m.shape(channels: C)
                    model.device.transpose(block[m], rows: shape[0], cols: shape[1], out: transposed[l][m.rawValue])
                }
            }
            transposedFresh = true
        }
        return transposed
    }
}

extension GPT2 {
    public func makeCache(batch: Int) throws -> KVCache { try KVCache(config: config, device: device, batch: batch) }

    /// Feeds `tokens` ([batch, n], positions cache.length ..< cache.length + n) through the model,
    /// appending their keys and values to the cache, and returns the logits of the last new
    /// position of each row ([batch, vocab], valid until the next call).
    public func decode(tokens: [Int32], cache kv: KVCache) throws -> TensorRef {
        let B = kv.batch, n = tokens.count / B, start = kv.length
        precondition(tokens.count == B * n && n > 0)
        guard start + n <= config.maxSeq else {
            throw FoundryError("the KV cache is full (\(config.maxSeq) positions); reset it and re-feed a shorter context")
        }
        if let bad = tokens.first(where: { $0 < 0 || Int($0) >= config.vocabSize }) {
            throw FoundryError("token id \(bad) is out of range for a vocabulary of \(config.vocabSize)")
        }
        let d = device, C = config.channels, rows = B * n, eps = config.layerNormEps, w = weights
        let tok = kv.tokenIds.slice(0, tokens.count)
        try device.write(ints: tokens, to: tok)
        let x = kv.x.slice(0, rows * C), ln = kv.ln.slice(0, rows * C), qkv = kv.qkv.slice(0, rows * 3 * C)
        let atty = kv.atty.slice(0, rows * C), proj = kv.proj.slice(0, rows * C)
        let fch = kv.fch.slice(0, rows * 4 * C), fchGelu = kv.fchGelu.slice(0, rows * 4 * C)
        let mean = kv.mean.slice(0, rows), rstd = kv.rstd.slice(0, rows)
        // Positions start..<start+n: embed with the position table shifted by `start`.
        let wpe = w.positionEmbedding
        d.embeddingForward(tokens: tok, wte: w.tokenEmbedding, wpe: wpe.slice(start * C, wpe.count - start * C), out: x,
                           batch: B, seq: n, channels: C)
        let attLayout = AttentionLayout(batch: B, heads: config.heads, headDim: C / config.heads, tq: n, tk: start + n,
                                        qBatchStride: n * 3 * C, qRowStride: 3 * C,
                                        kvBatchStride: config.maxSeq * C, kvRowStride: C,
                                        outBatchStride: n * C, outRowStride: C, queryStart: start,
                                        causal: config.objective == .causal)
        // A step of a few rows (decoding) reads each weight matrix as dot products along k from
        // the cache's transposed copies; a prompt's many rows take the GEMM on the parameters.
        let weightsT = rows <= dotProductRows && d.decodesWithDotProducts ? try kv.transposedWeights(of: self) : nil
        func product(_ a: TensorRef, layer l: Int, _ m: BlockTensor, bias: BlockTensor, out: TensorRef) {
            let shape = m.shape(channels: C), W = w.blocks[l]
            if let weightsT {
                d.gemm(transA: false, transB: true, m: rows, n: shape[1], k: shape[0], alpha: 1, a: a, b: weightsT[l][m.rawValue],
                       beta: 0, c: out, bias: W[bias])
            } else {
                d.gemm(transA: false, transB: false, m: rows, n: shape[1], k: shape[0], alpha: 1, a: a, b: W[m],
                       beta: 0, c: out, bias: W[bias])
            }
        }
        for l in 0..<config.layers {
            let W = w.blocks[l]
            d.layerNormForward(x, weight: W[.ln1Weight], bias: W[.ln1Bias], out: ln, mean: mean, rstd: rstd, rows: rows, cols: C, eps: eps)
            product(ln, layer: l, .attention, bias: .attentionBias, out: qkv)
            for b in 0..<B {   // append this chunk's keys and values at positions start...
                let kvAt = (b * config.maxSeq + start) * C, qkvAt = b * n * 3 * C
                d.copyRows(qkv.slice(qkvAt + C, n * 3 * C - C), srcStride: 3 * C,
                           to: kv.keys[l].slice(kvAt, n * C), dstStride: C, rows: n, cols: C)
                d.copyRows(qkv.slice(qkvAt + 2 * C, n * 3 * C - 2 * C), srcStride: 3 * C,
                           to: kv.values[l].slice(kvAt, n * C), dstStride: C, rows: n, cols: C)
            }
            d.attentionForward(q: qkv, k: kv.keys[l], v: kv.values[l], out: atty,
                               lse: kv.lse.slice(0, B * config.heads * n), layout: attLayout)
            product(atty, layer: l, .attentionProjection, bias: .attentionProjectionBias, out: proj)
            d.residualLayerNormForward(x, proj, sum: x, weight: W[.ln2Weight], bias: W[.ln2Bias], out: ln,
                                       mean: mean, rstd: rstd, rows: rows, cols: C, eps: eps)
            if weightsT != nil {
                product(ln, layer: l, .mlp, bias: .mlpBias, out: fch)
                d.geluForward(fch, out: fchGelu)
            } else {
                d.gemmBiasGelu(m: rows, n: 4 * C, k: C, a: ln, b: W[.mlp], bias: W[.mlpBias], pre: fch, out: fchGelu)
            }
            product(fchGelu, layer: l, .mlpProjection, bias: .mlpProjectionBias, out: proj)
            d.add(x, proj, out: x)
        }
        kv.length = start + n
        // Only the last position of each row needs logits.
        d.copyRows(x.slice((n - 1) * C, rows * C - (n - 1) * C), srcStride: n * C, to: kv.last, dstStride: C, rows: B, cols: C)
        d.layerNormForward(kv.last, weight: w.finalNormWeight, bias: w.finalNormBias, out: kv.lastNorm,
                           mean: kv.lastMean, rstd: kv.lastRstd, rows: B, cols: C, eps: eps)
        d.gemm(transA: false, transB: true, m: B, n: config.vocabSize, k: C, alpha: 1, a: kv.lastNorm, b: w.tokenEmbedding,
               beta: 0, c: kv.logits, bias: nil)
        return kv.logits
    }
}
