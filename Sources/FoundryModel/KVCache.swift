import FoundryCore

/// Keys and values of every position seen so far, per layer ([batch, maxSeq, 2C]: a position's
/// key then its value, so one copy from the QKV product appends both; written in place as
/// positions arrive), plus the scratch an incremental forward needs.
public final class KVCache {
    public let batch: Int
    /// Positions already in the cache.
    public internal(set) var length = 0
    let keysValues: [TensorRef]
    let x, ln, qkv, atty, proj, fch, fchGelu, lse, mean, rstd: TensorRef
    let last, lastNorm, lastMean, lastRstd, logits: TensorRef
    /// The token ids of a step, written in place (not a new device buffer every token).
    let tokenIds: TensorRef
    let chunk: Int
    /// What steps of at most `dotProductRows` rows read the weights as (the generator sets it
    /// from `SamplingSettings.weights` before each generation).
    public var weights = DecodeWeights.f32
    /// Per format, the weights those steps read, one contiguous row per output: each layer's
    /// matrices transposed ([n, k], indexed by `BlockTensor.rawValue`) as floats, or packed as
    /// halves with the tied LM head's ([vocab, C]; the float head is the embedding itself).
    /// Allocated on first use (as much memory again as the layer weights, half that as halves)
    /// and copied from the model's parameters on the first such step after `reset()`, so a
    /// model trained between two generations is read afresh.
    var rowCopies: [DecodeWeights: (layers: [[TensorRef]], head: TensorRef?)] = [:]
    var freshCopies: Set<DecodeWeights> = []

    init(config c: GPT2Config, device: Device, batch: Int) throws {
        self.batch = batch
        let C = c.channels, T = c.maxSeq
        chunk = T
        let rows = batch * chunk
        keysValues = try (0..<c.layers).map { _ in try device.makeTensor(count: batch * T * 2 * C) }
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
        if !keepingWeights { freshCopies = [] }
    }

    /// The weights decoding steps read in `format` (layers, LM head), copied from `model` if stale.
    func rowWeights(of model: GPT2, format: DecodeWeights) throws -> (layers: [[TensorRef]], head: TensorRef) {
        let C = model.config.channels, V = model.config.vocabSize, d = model.device
        // Floats in a slot each; halves two to a slot.
        func slots(_ count: Int) -> Int { format == .f16 ? (count + 1) / 2 : count }
        if rowCopies[format] == nil {
            let layers = try model.weights.blocks.map { block in try BlockTensor.matrices.map { try d.makeTensor(count: slots(block[$0].count)) } }
            rowCopies[format] = (layers, format == .f16 ? try d.makeTensor(count: slots(V * C)) : nil)
        }
        guard let copies = rowCopies[format] else { throw FoundryError("the decoding weights were not allocated") }
        let head = copies.head ?? model.weights.tokenEmbedding
        if !freshCopies.contains(format) {
            for (l, block) in model.weights.blocks.enumerated() {
                for m in BlockTensor.matrices {
                    let shape = m.shape(channels: C), out = copies.layers[l][m.rawValue]
                    switch format {
                    case .f32: d.transpose(block[m], rows: shape[0], cols: shape[1], out: out)
                    case .f16: d.packHalves(block[m], rows: shape[0], cols: shape[1], transpose: true, out: out)
                    }
                }
            }
            if format == .f16 { d.packHalves(model.weights.tokenEmbedding, rows: V, cols: C, transpose: false, out: head) }
            freshCopies.insert(format)
        }
        return (copies.layers, head)
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
        let C = config.channels
        // Every row at the same positions: one launch each for the embedding, the appends' rows
        // and the attention, over the whole batch.
        let logits = try decodeRows(tokens, cache: kv, outputs: B, embed: { d, tok, x in
            let wpe = weights.positionEmbedding
            d.embeddingForward(tokens: tok, wte: weights.tokenEmbedding, wpe: wpe.slice(start * C, wpe.count - start * C), out: x,
                               batch: B, seq: n, channels: C)
        }, attend: { d, l, qkv, atty in
            for b in 0..<B { appendKeysValues(d, kv, layer: l, qkvRows: qkv.slice(b * n * 3 * C, n * 3 * C), rows: n,
                                              at: b * config.maxSeq + start) }
            let layout = AttentionLayout(batch: B, heads: config.heads, headDim: C / config.heads, tq: n, tk: start + n,
                                         qBatchStride: n * 3 * C, qRowStride: 3 * C,
                                         kvBatchStride: config.maxSeq * 2 * C, kvRowStride: 2 * C,
                                         outBatchStride: n * C, outRowStride: C, queryStart: start,
                                         causal: config.objective == .causal)
            let cached = kv.keysValues[l]
            d.attentionForward(q: qkv, k: cached, v: cached.slice(C, cached.count - C), out: atty,
                               lse: kv.lse.slice(0, B * config.heads * n), layout: layout)
        }, gather: { d, x in
            // Only the last position of each row needs logits (one token each: x is those rows).
            if n == 1 { return x }
            d.copyRows(x.slice((n - 1) * C, B * n * C - (n - 1) * C), srcStride: n * C, to: kv.last, dstStride: C, rows: B, cols: C)
            return kv.last.slice(0, B * C)
        })
        kv.length = start + n
        return logits
    }

    /// One step for rows of the cache that advance independently (a server's requests): each
    /// segment feeds `tokens` to row `slot` at positions `starts[i] ..< starts[i] + tokens.count`
    /// (a new request's prompt from 0, or one more token of a running one). The weight products
    /// run once over all segments' rows together; the embedding, the key/value appends and the
    /// attention run per segment, since each has its own positions. Returns the logits of each
    /// segment's last position, [segments.count, vocab] in segment order, valid until the next call.
    public func decode(segments: [(slot: Int, start: Int, tokens: [Int32])], cache kv: KVCache) throws -> TensorRef {
        guard !segments.isEmpty, segments.count <= kv.batch else {
            throw FoundryError("a step needs between 1 and \(kv.batch) segments, not \(segments.count)")
        }
        let C = config.channels, H = config.heads, T = config.maxSeq
        var rowStart: [Int] = []
        var rows = 0
        for s in segments {
            guard s.slot >= 0 && s.slot < kv.batch, !s.tokens.isEmpty, s.start >= 0, s.start + s.tokens.count <= T else {
                throw FoundryError("segment for slot \(s.slot) at \(s.start) with \(s.tokens.count) tokens does not fit a cache of \(kv.batch) × \(T)")
            }
            rowStart.append(rows); rows += s.tokens.count
        }
        guard Set(segments.map(\.slot)).count == segments.count else { throw FoundryError("two segments of one step share a slot") }
        return try decodeRows(segments.flatMap(\.tokens), cache: kv, outputs: segments.count, embed: { d, tok, x in
            let wpe = weights.positionEmbedding
            for (i, s) in segments.enumerated() {
                let r = rowStart[i], n = s.tokens.count
                d.embeddingForward(tokens: tok.slice(r, n), wte: weights.tokenEmbedding,
                                   wpe: wpe.slice(s.start * C, wpe.count - s.start * C), out: x.slice(r * C, n * C),
                                   batch: 1, seq: n, channels: C)
            }
        }, attend: { d, l, qkv, atty in
            for (i, s) in segments.enumerated() {
                let r = rowStart[i], n = s.tokens.count
                appendKeysValues(d, kv, layer: l, qkvRows: qkv.slice(r * 3 * C, n * 3 * C), rows: n, at: s.slot * T + s.start)
                let layout = AttentionLayout(batch: 1, heads: H, headDim: C / H, tq: n, tk: s.start + n,
                                             qBatchStride: n * 3 * C, qRowStride: 3 * C, kvBatchStride: T * 2 * C, kvRowStride: 2 * C,
                                             outBatchStride: n * C, outRowStride: C, queryStart: s.start,
                                             causal: config.objective == .causal)
                let slot = kv.keysValues[l].slice(s.slot * T * 2 * C, T * 2 * C)
                d.attentionForward(q: qkv.slice(r * 3 * C, n * 3 * C), k: slot, v: slot.slice(C, slot.count - C), out: atty.slice(r * C, n * C),
                                   lse: kv.lse.slice(r * H, H * n), layout: layout)
            }
        }, gather: { d, x in
            if rows == segments.count { return x }   // one token each: the rows are the outputs already
            for (i, s) in segments.enumerated() {
                d.copyRows(x.slice((rowStart[i] + s.tokens.count - 1) * C, C), srcStride: C, to: kv.last.slice(i * C, C),
                           dstStride: C, rows: 1, cols: C)
            }
            return kv.last.slice(0, segments.count * C)
        })
    }

    /// Writes the keys and values of `rows` consecutive rows of a QKV product at cache row `at`
    /// (a flat index `slot × maxSeq + position`).
    private func appendKeysValues(_ d: Device, _ kv: KVCache, layer l: Int, qkvRows qkv: TensorRef, rows n: Int, at: Int) {
        let C = config.channels
        d.copyRows(qkv.slice(C, n * 3 * C - C), srcStride: 3 * C, to: kv.keysValues[l].slice(at * 2 * C, n * 2 * C), dstStride: 2 * C,
                   rows: n, cols: 2 * C)
    }

    /// The layers over `tokens.count` rows; `embed` fills x, `attend` appends a layer's keys and
    /// values and writes its attention output, `gather` returns the `outputs` rows that need
    /// logits (copied into `kv.last` unless x is those rows already). Returns their logits.
    private func decodeRows(_ tokens: [Int32], cache kv: KVCache, outputs: Int,
                            embed: (Device, TensorRef, TensorRef) -> Void,
                            attend: (Device, Int, TensorRef, TensorRef) -> Void,
                            gather: (Device, TensorRef) -> TensorRef) throws -> TensorRef {
        if let bad = tokens.first(where: { $0 < 0 || Int($0) >= config.vocabSize }) {
            throw FoundryError("token id \(bad) is out of range for a vocabulary of \(config.vocabSize)")
        }
        let d = device, C = config.channels, rows = tokens.count, eps = config.layerNormEps, w = weights
        let tok = kv.tokenIds.slice(0, rows)
        try device.write(ints: tokens, to: tok)
        let x = kv.x.slice(0, rows * C), ln = kv.ln.slice(0, rows * C), qkv = kv.qkv.slice(0, rows * 3 * C)
        let atty = kv.atty.slice(0, rows * C), proj = kv.proj.slice(0, rows * C)
        let fch = kv.fch.slice(0, rows * 4 * C), fchGelu = kv.fchGelu.slice(0, rows * 4 * C)
        let mean = kv.mean.slice(0, rows), rstd = kv.rstd.slice(0, rows)
        embed(d, tok, x)
        let logits = kv.logits.slice(0, outputs * config.vocabSize)
        let final = RowNorm(weight: w.finalNormWeight, bias: w.finalNormBias, eps: eps)
        // A step of a few rows (decoding) reads each weight matrix once, one row per output,
        // from the cache's copies (halves, or transposed floats on devices that decode with dot
        // products), the LayerNorms, GELU and residual adds inside the products: four launches
        // a layer and the attention's two. A prompt's many rows take the GEMM on the parameters.
        // Both run the one GPT-2 block (`runBlocks`); only how a product is formed differs.
        let few = rows <= dotProductRows
        let products: BlockPass
        let first: BlockInput
        let ln1 = RowNorm(weight: w.blocks[0][.ln1Weight], bias: w.blocks[0][.ln1Bias], eps: eps)
        if few && (kv.weights == .f16 || d.decodesWithDotProducts) {
            products = RowProducts(device: d, weights: try kv.rowWeights(of: self, format: kv.weights), format: kv.weights,
                                   blocks: w.blocks, rows: rows, channels: C, x: x, qkvOut: qkv, attyOut: atty, mlpOut: fchGelu)
            first = BlockInput(rows: x, pendingNorm: ln1)
        } else {
            products = MatrixProducts(device: d, blocks: w.blocks, rows: rows, channels: C, x: x, ln: ln, proj: proj, fch: fch,
                                      mean: mean, rstd: rstd, qkvOut: qkv, attyOut: atty, mlpOut: fchGelu)
            d.layerNormForward(x, weight: ln1.weight, bias: ln1.bias, out: ln, mean: mean, rstd: rstd, rows: rows, cols: C, eps: eps)
            first = BlockInput(rows: ln, pendingNorm: nil)
        }
        // The final LayerNorm is left for the rows that need logits.
        _ = runBlocks(from: first, pass: products, finalNorm: nil) { l, qkv, atty in attend(d, l, qkv, atty) }
        if let rowProducts = products as? RowProducts {
            d.gemmDecode(m: outputs, n: config.vocabSize, k: C, a: gather(d, x), norm: final, w: rowProducts.weights.head,
                         format: kv.weights, bias: nil, gelu: false, beta: 0, c: logits)
            return logits
        }
        let last = gather(d, x), lastNorm = kv.lastNorm.slice(0, outputs * C)
        d.layerNormForward(last, weight: final.weight, bias: final.bias, out: lastNorm,
                           mean: kv.lastMean.slice(0, outputs), rstd: kv.lastRstd.slice(0, outputs), rows: outputs, cols: C, eps: eps)
        d.gemm(transA: false, transB: true, m: outputs, n: config.vocabSize, k: C, alpha: 1, a: lastNorm, b: w.tokenEmbedding,
               beta: 0, c: logits, bias: nil)
        return logits
    }
}

/// Products of a few rows from the cache's row-major copies of the weights, one dot product per
/// output, each LayerNorm, bias, GELU and residual add inside a product.
struct RowProducts: BlockPass {
    let device: Device, weights: (layers: [[TensorRef]], head: TensorRef), format: DecodeWeights, blocks: [ModelTensors.Block]
    let rows: Int, channels: Int
    /// The residual stream, and the scratch every layer reuses.
    let x: TensorRef, qkvOut: TensorRef, attyOut: TensorRef, mlpOut: TensorRef

    func qkv(_ l: Int) -> TensorRef { qkvOut }
    func atty(_ l: Int) -> TensorRef { attyOut }
    func mlp(_ l: Int) -> TensorRef { mlpOut }

    func run(_ l: Int, _ a: TensorRef, _ norm: RowNorm?, _ m: BlockTensor, bias: BlockTensor, gelu: Bool, beta: Float, out: TensorRef) {
        let shape = m.shape(channels: channels)
        device.gemmDecode(m: rows, n: shape[1], k: shape[0], a: a, norm: norm, w: weights.layers[l][m.rawValue], format: format,
                          bias: blocks[l][bias], gelu: gelu, beta: beta, c: out)
    }
    func product(_ l: Int, _ input: BlockInput, _ m: BlockTensor, bias: BlockTensor, gelu: Bool, out: TensorRef) {
        run(l, input.rows, input.pendingNorm, m, bias: bias, gelu: gelu, beta: 0, out: out)
    }
    func endAttention(_ l: Int, norm: RowNorm) -> BlockInput {
        run(l, attyOut, nil, .attentionProjection, bias: .attentionProjectionBias, gelu: false, beta: 1, out: x)
        return BlockInput(rows: x, pendingNorm: norm)
    }
    func endBlock(_ l: Int, next: RowNorm?) -> BlockInput {
        run(l, mlpOut, nil, .mlpProjection, bias: .mlpProjectionBias, gelu: false, beta: 1, out: x)
        return BlockInput(rows: x, pendingNorm: next)
    }
}

/// Products of a prompt's rows: GEMM on the parameters, LayerNorms as launches of their own
/// (the attention projection's residual add inside the second one).
struct MatrixProducts: BlockPass {
    let device: Device, blocks: [ModelTensors.Block], rows: Int, channels: Int
    /// The residual stream; scratch: the normalised rows, the projection before its residual
    /// add, the MLP's pre-GELU activations, the LayerNorm's statistics, and every layer's outputs.
    let x: TensorRef, ln: TensorRef, proj: TensorRef, fch: TensorRef, mean: TensorRef, rstd: TensorRef
    let qkvOut: TensorRef, attyOut: TensorRef, mlpOut: TensorRef

    func qkv(_ l: Int) -> TensorRef { qkvOut }
    func atty(_ l: Int) -> TensorRef { attyOut }
    func mlp(_ l: Int) -> TensorRef { mlpOut }

    func product(_ l: Int, _ input: BlockInput, _ m: BlockTensor, bias: BlockTensor, gelu: Bool, out: TensorRef) {
        blockProduct(device, blocks[l], rows: rows, channels: channels, input.rows, m, bias: bias, gelu: gelu, pre: fch, out: out)
    }
    func endAttention(_ l: Int, norm: RowNorm) -> BlockInput {
        blockProduct(device, blocks[l], rows: rows, channels: channels, attyOut, .attentionProjection, bias: .attentionProjectionBias,
                     gelu: false, pre: fch, out: proj)
        device.residualLayerNormForward(x, proj, sum: x, weight: norm.weight, bias: norm.bias, out: ln, mean: mean, rstd: rstd,
                                        rows: rows, cols: channels, eps: norm.eps)
        return BlockInput(rows: ln, pendingNorm: nil)
    }
    func endBlock(_ l: Int, next: RowNorm?) -> BlockInput {
        // The residual add inside the product (beta 1), then the next block's LayerNorm.
        let shape = BlockTensor.mlpProjection.shape(channels: channels)
        device.gemm(transA: false, transB: false, m: rows, n: shape[1], k: shape[0], alpha: 1, a: mlpOut, b: blocks[l][.mlpProjection],
                    beta: 1, c: x, bias: blocks[l][.mlpProjectionBias])
        guard let next else { return BlockInput(rows: x, pendingNorm: nil) }
        device.layerNormForward(x, weight: next.weight, bias: next.bias, out: ln, mean: mean, rstd: rstd, rows: rows, cols: channels, eps: next.eps)
        return BlockInput(rows: ln, pendingNorm: nil)
    }
}
