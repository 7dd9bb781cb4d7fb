import COpenCL
import Foundation
import FoundryCore

/// The Device ops as kernel launches. Each wrapper only maps arguments; the math is in Kernels/.
extension OpenCLDevice {
    public func copy(_ src: TensorRef, to dst: TensorRef) {
        precondition(src.count == dst.count)
        if src.count == 0 { return }
        let status = clEnqueueCopyBuffer(queue, mem(src), mem(dst), src.offset * 4, dst.offset * 4, src.count * 4, 0, nil, nil)
        if status != CL_SUCCESS, pendingError == nil { pendingError = FoundryError("OpenCL copy failed: \(clErrorName(status))") }
    }

    public func copyRows(_ src: TensorRef, srcStride: Int, to dst: TensorRef, dstStride: Int, rows: Int, cols: Int) {
        launch("copy_rows", [cols, rows], [.tensor(src), .int(srcStride), .tensor(dst), .int(dstStride), .int(rows), .int(cols)])
    }

    public func fill(_ t: TensorRef, value: Float) {
        launch("fill", [t.count], [.tensor(t), .float(value), .int(t.count)])
    }

    public func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                     a: TensorRef, b: TensorRef, beta: Float, c: TensorRef, bias: TensorRef?) {
        if m == 0 || n == 0 { return }
        if transB && !transA && (m < params.gemmTM || m <= dotProductRows) {
            // Few rows (decoding): dot products along k, no transposed copy of B.
            let (run, local) = outputRuns(n)
            launch("gemm_nt_rows", [(n + run - 1) / run, m], [
                .int(m), .int(n), .int(k), .float(alpha), .float(beta), .tensor(a), .tensor(b),
                .tensor(c), bias.map { .tensor($0) } ?? .tensor(TensorRef(dummy)), .int(bias == nil ? 0 : 1), .int(run),
            ], local: local)
            return
        }
        var bRowMajor = b
        if transB {
            guard let t = rowMajorCopy(ofTransposed: b, n: n, k: k) else { return }
            bRowMajor = t
        }
        let biasArg: KernelArg = bias.map { .tensor($0) } ?? .tensor(TensorRef(dummy))
        if params.gemmTiled && m >= params.gemmTM {
            launchTiled("gemm_tiled_\(transA ? "t" : "n")n", m: m, n: n, [
                .int(m), .int(n), .int(k), .float(alpha), .float(beta), .tensor(a), .tensor(bRowMajor), .tensor(c), biasArg,
                .int(bias == nil ? 0 : 1),
            ])
            return
        }
        // Fewer rows than a tile (generation): one row per work-item.
        if m < params.gemmTM {
            let cols = params.gemmColumns
            // On CPUs each work-item its own group: a runtime left to choose put the 9 to 36
            // column strips of a decoding step's product in one group, on one core (6 × 288
            // decoding 523–712 → 741–774 tokens/s with the second core working).
            launch("gemm_\(transA ? "t" : "n")n_1", [(n + cols - 1) / cols, m], [
                .int(m), .int(n), .int(k), .float(alpha), .float(beta), .tensor(a), .tensor(bRowMajor), .tensor(c), biasArg,
                .int(bias == nil ? 0 : 1),
            ], local: workGroups == .runtime ? ([1, 1], "set FOUNDRY_WORKGROUP=runtime") : nil)
            return
        }
        launchSliced(transA ? "gemm_tn" : "gemm_nn", transA: transA, m: m, n: n, k: k, alpha: alpha, a: a, b: bRowMajor,
                     beta: beta, c: c, bias: bias, extra: [])
    }

    /// The register-blocked product, k in slices each added into C, so one slice of both operands
    /// stays in cache while every tile of C reads it: when op(A) = Aᵀ (a weight gradient over
    /// many rows of the batch), and when a row-major A is longer than `gemmSliceKRows` (the LM
    /// head's input gradient sums over the vocabulary: 1024 × 768 × 50257 ran at 59 GFLOP/s
    /// in one pass, 170 in slices of 1024). Summing 4096 rows in one pass ran at 44–87 GFLOP/s
    /// (384 × 1536, AVX-512 EPYC); slices of 1024 at 102–160 and of 256 at 156–168 (the baby
    /// GPT's four weight-gradient shapes 126–154 → 156–168, GPT-2's about the same, alternating
    /// builds; `foundry kernels bench --shapes 384x1536x4096tn,...`). `extra` follows the GEMM
    /// arguments.
    func launchSliced(_ name: String, transA: Bool, m: Int, n: Int, k: Int, alpha: Float, a: TensorRef, b: TensorRef,
                      beta: Float, c: TensorRef, bias: TensorRef?, extra: [KernelArg]) {
        let limit = transA ? Self.gemmSliceK : Self.gemmSliceKRows
        let slice = k > limit ? limit : k
        // A row-major op(A) sliced along k is a column block of A: the kernel takes its row stride.
        let sliced = !transA && slice < k
        var p0 = 0
        repeat {     // at least once: k = 0 still writes beta · C + bias
            let kc = min(slice, k - p0)
            let first = p0 == 0
            let aSlice = transA ? a.slice(p0 * m, kc * m) : sliced ? a.slice(p0, (m - 1) * k + kc) : a
            launchBlocked(sliced ? name + "_sliced" : name, transA: transA, m: m, n: n, k: kc, [
                .int(m), .int(n), .int(kc), .float(alpha), .float(first ? beta : 1),
                .tensor(aSlice), .tensor(b.slice(p0 * n, kc * n)), .tensor(c),
                first ? bias.map { .tensor($0) } ?? .tensor(TensorRef(dummy)) : .tensor(TensorRef(dummy)),
                .int(first && bias != nil ? 1 : 0),
            ] + extra + (sliced ? [.int(k)] : []))
            p0 += kc
        } while p0 < k
    }

    public func weightGradient(inp: TensorRef, dout: TensorRef, rows: Int, inputs: Int, outputs: Int,
                               dweight: TensorRef, dbias: TensorRef?) {
        guard let dbias, !params.gemmTiled, inputs >= params.gemmTM else {
            gemm(transA: true, transB: false, m: inputs, n: outputs, k: rows, alpha: 1, a: inp, b: dout, beta: 1, c: dweight, bias: nil)
            if let dbias { biasBackward(dout: dout, rows: rows, cols: outputs, dbias: dbias) }
            return
        }
        launchSliced("gemm_tn_colsum", transA: true, m: inputs, n: outputs, k: rows, alpha: 1, a: inp, b: dout, beta: 1,
                     c: dweight, bias: nil, extra: [.tensor(dbias)])
    }

    public func gemmGeluBackward(m: Int, n: Int, k: Int, a: TensorRef, b: TensorRef, pre: TensorRef, out: TensorRef) {
        guard !params.gemmTiled, m >= params.gemmTM, m > 0, n > 0 else {
            gemm(transA: false, transB: true, m: m, n: n, k: k, alpha: 1, a: a, b: b, beta: 0, c: out, bias: nil)
            geluBackward(pre, dout: out, dinp: out)
            return
        }
        guard let bRowMajor = rowMajorCopy(ofTransposed: b, n: n, k: k) else { return }
        launchBlocked("gemm_nn_gelu_backward", transA: false, m: m, n: n, k: k, [
            .int(m), .int(n), .int(k), .float(1), .float(0), .tensor(a), .tensor(bRowMajor), .tensor(out), .tensor(TensorRef(dummy)),
            .int(0), .tensor(pre),
        ])
    }

    /// B [n, k] copied to [k, n] in the scratch buffer, so the register-blocked kernels can load
    /// rows of op(B) = Bᵀ as vectors; nil if the scratch could not be allocated (the error is
    /// pending).
    func rowMajorCopy(ofTransposed b: TensorRef, n: Int, k: Int) -> TensorRef? {
        guard let t = scratch(count: k * n) else { return nil }
        transpose(b, rows: n, cols: k, out: t)
        return t
    }

    public func transpose(_ src: TensorRef, rows: Int, cols: Int, out: TensorRef) {
        launch("transpose", [cols, rows], [.tensor(src), .tensor(out), .int(rows), .int(cols)])
    }

    /// Rows of op(B) (and columns of op(A)) one launch of a weight-gradient product sums; see `gemm`.
    static let gemmSliceK = 256
    /// The same for op(A) = A, only when k is longer: each slice re-reads and re-writes C.
    static let gemmSliceKRows = 1024

    /// The register-blocked GEMM's grid (Kernels/matmul.cl): one work-item per TM × (VW·NV)
    /// block of C, `rowsFirst` deciding which way neighbouring work-items step. Neighbours share
    /// one operand's strip from cache and stream the other. Weight gradients (op(A) = Aᵀ, a
    /// slice of the batch) stream A when it is the smaller (m < n); products of a row-major A
    /// step along columns, whatever the shape. Measured (GFLOP/s, columns-first → rows-first):
    /// 384×1536×4096 Aᵀ·B 44 → 87, 768×3072×1024 Aᵀ·B 80–142 → 160, 4096×1152×384 168 →
    /// 116–152; but (rows-first → columns-first) 1024×50257×768 (GPT-2's LM head) 120 → 151–161,
    /// 1024×3072×768 86–131 → 178, 1024×2304×768 143–150 → 170–176, 768×384×128 143–165 → 163–170.
    func launchBlocked(_ name: String, transA: Bool, m: Int, n: Int, k: Int, _ args: [KernelArg]) {
        let cols = params.gemmColumns, tm = params.gemmTM
        let columnBlocks = (n + cols - 1) / cols, rowBlocks = (m + tm - 1) / tm
        let rowsFirst = transA && m < n
        let grid = rowsFirst ? [rowBlocks, columnBlocks] : [columnBlocks, rowBlocks]
        let order: [KernelArg] = [.int(rowsFirst ? 1 : 0)]
        guard workGroups == .runtime else { launch(name, grid, args + order); return }
        // A first-dimension block's own strip: TM rows of op(A) or VW·NV columns of B, k long.
        let shape = LaunchGeometry.cpuPanels(grid: grid, stripBytes: (rowsFirst ? tm : cols) * k * 4,
                                             computeUnits: info.computeUnits, groupLimit: groupLimit(for: name))
        launch(name, shape.global, args + order, local: (shape.local, "set FOUNDRY_WORKGROUP=runtime"))
    }

    public func gemmBiasGelu(m: Int, n: Int, k: Int, a: TensorRef, b: TensorRef, bias: TensorRef, pre: TensorRef, out: TensorRef) {
        guard m >= params.gemmTM else {
            // Fewer rows than a tile (generation): the one-row product, then GELU.
            gemm(transA: false, transB: false, m: m, n: n, k: k, alpha: 1, a: a, b: b, beta: 0, c: pre, bias: bias)
            geluForward(pre, out: out)
            return
        }
        if params.gemmTiled {
            launchTiled("gemm_tiled_nn_gelu", m: m, n: n, [
                .int(m), .int(n), .int(k), .float(1), .float(0), .tensor(a), .tensor(b), .tensor(pre), .tensor(bias), .int(1), .tensor(out),
            ])
            return
        }
        launchBlocked("gemm_nn_gelu", transA: false, m: m, n: n, k: k, [
            .int(m), .int(n), .int(k), .float(1), .float(0), .tensor(a), .tensor(b), .tensor(pre), .tensor(bias), .int(1),
            .tensor(out),
        ])
    }

    /// The tiled GEMM's grid: a 16 × 16 work-group per 64 × 64 tile of C (Kernels/matmul_tiled.cl).
    func launchTiled(_ name: String, m: Int, n: Int, _ args: [KernelArg]) {
        let tile = 64, group = 16
        launch(name, [(n + tile - 1) / tile * group, (m + tile - 1) / tile * group], args,
               local: ([group, group], "use the register-blocked GEMM: FOUNDRY_KERNEL_PARAMS=GT=0"))
    }

    public func biasBackward(dout: TensorRef, rows: Int, cols: Int, dbias: TensorRef) {
        let args: [KernelArg] = [.tensor(dout), .tensor(dbias), .int(rows), .int(cols)]
        if rowsAsGroups { launchColumns("bias_backward_cols", cols: cols, args) } else { launch("bias_backward", [cols], args) }
    }

    /// A column-sum kernel's grid (Kernels/norm_rows.cl): 16 × 16 work-groups, 16 columns each.
    func launchColumns(_ name: String, cols: Int, _ args: [KernelArg]) {
        let tx = 16, ty = 16
        launch(name, [(cols + tx - 1) / tx * tx, ty], args,
               local: ([tx, ty], "use the one-work-item-per-column kernels: FOUNDRY_WORKGROUP=runtime"))
    }

    public func add(_ a: TensorRef, _ b: TensorRef, out: TensorRef) {
        launch("add", [out.count], [.tensor(a), .tensor(b), .tensor(out), .int(out.count)])
    }

    public func axpy(alpha: Float, x: TensorRef, y: TensorRef) {
        launch("axpy", [y.count], [.float(alpha), .tensor(x), .tensor(y), .int(y.count)])
    }

    public func geluForward(_ inp: TensorRef, out: TensorRef) {
        launch("gelu_forward", [out.count], [.tensor(inp), .tensor(out), .int(out.count)])
    }

    public func geluBackward(_ inp: TensorRef, dout: TensorRef, dinp: TensorRef) {
        launch("gelu_backward", [dinp.count], [.tensor(inp), .tensor(dout), .tensor(dinp), .int(dinp.count)])
    }

    public func residualLayerNormForward(_ a: TensorRef, _ b: TensorRef, sum: TensorRef, weight: TensorRef, bias: TensorRef,
                                         out: TensorRef, mean: TensorRef, rstd: TensorRef, rows: Int, cols: Int, eps: Float) {
        let tensors: [KernelArg] = [.tensor(a), .tensor(b), .tensor(sum), .tensor(weight), .tensor(bias), .tensor(out), .tensor(mean), .tensor(rstd)]
        if rowsAsGroups {
            launchRows("residual_layernorm_forward_rows", rows: rows, tensors + [.int(cols), .float(eps)])
        } else {
            launch("residual_layernorm_forward", [rows], tensors + [.int(rows), .int(cols), .float(eps)])
        }
    }

    /// Whether LayerNorm and the column sums run as work-groups (Kernels/norm_rows.cl: GPUs,
    /// where launches take fixed work-groups) or a work-item per row or column (CPUs).
    var rowsAsGroups: Bool {
        if case .fixed = workGroups { return true }
        return false
    }

    public func layerNormForward(_ inp: TensorRef, weight: TensorRef, bias: TensorRef, out: TensorRef,
                                 mean: TensorRef, rstd: TensorRef, rows: Int, cols: Int, eps: Float) {
        let tensors: [KernelArg] = [.tensor(inp), .tensor(weight), .tensor(bias), .tensor(out), .tensor(mean), .tensor(rstd)]
        if rowsAsGroups {
            launchRows("layernorm_forward_rows", rows: rows, tensors + [.int(cols), .float(eps)])
        } else {
            launch("layernorm_forward", [rows], tensors + [.int(rows), .int(cols), .float(eps)])
        }
    }

    public func layerNormBackward(dout: TensorRef, inp: TensorRef, weight: TensorRef, mean: TensorRef, rstd: TensorRef,
                                  dinp: TensorRef, dweight: TensorRef, dbias: TensorRef, rows: Int, cols: Int) {
        let tensors: [KernelArg] = [.tensor(dout), .tensor(inp), .tensor(weight), .tensor(mean), .tensor(rstd), .tensor(dinp)]
        if rowsAsGroups {
            launchRows("layernorm_backward_input_rows", rows: rows, tensors + [.int(cols)])
        } else {
            launch("layernorm_backward_input", [rows], tensors + [.int(rows), .int(cols)])
        }
        let params: [KernelArg] = [.tensor(dout), .tensor(inp), .tensor(mean), .tensor(rstd), .tensor(dweight), .tensor(dbias),
                                   .int(rows), .int(cols)]
        if rowsAsGroups { launchColumns("layernorm_backward_params_cols", cols: cols, params) }
        else { launch("layernorm_backward_params", [cols], params) }
    }

    public func softmax(_ inp: TensorRef, out: TensorRef, rows: Int, cols: Int, temperature: Float) {
        launchRows("softmax_rows", rows: rows, [.tensor(inp), .tensor(out), .int(cols), .float(temperature)])
    }

    public func embeddingForward(tokens: TensorRef, wte: TensorRef, wpe: TensorRef, out: TensorRef,
                                 batch: Int, seq: Int, channels: Int) {
        launch("embedding_forward", [channels, batch * seq], [.tensor(tokens), .tensor(wte), .tensor(wpe), .tensor(out),
                                                              .int(batch * seq), .int(seq), .int(channels)])
    }

    public func embeddingBackward(dout: TensorRef, tokens: TensorRef, dwte: TensorRef, dwpe: TensorRef,
                                  batch: Int, seq: Int, channels: Int) {
        launch("embedding_backward_wte", [channels], [.tensor(dout), .tensor(tokens), .tensor(dwte),
                                                      .int(batch * seq), .int(channels)])
        launch("embedding_backward_wpe", [channels, seq], [.tensor(dout), .tensor(dwpe), .int(batch), .int(seq), .int(channels)])
    }

    public func attentionForward(q: TensorRef, k: TensorRef, v: TensorRef, out: TensorRef, lse: TensorRef,
                                 layout L: AttentionLayout) {
        if attentionTiles(L) {
            // CPUs, prompts and training: tiles of queries against blocks of keys
            // (Kernels/attention_tiles.cl), from a copy of the keys with keys contiguous.
            let ldk = attentionKeyStride(L)
            guard let kt = scratch(count: attentionCopyCount(L)) else { return }
            launchKeysTransposed(k, into: kt, layout: L)
            launch("attention_forward_tiles", [(L.tq + Self.attentionTileRows - 1) / Self.attentionTileRows, L.batch * L.heads], [
                .tensor(q), .tensor(kt), .tensor(v), .tensor(out), .tensor(lse),
                .int(L.batch), .int(L.heads), .int(L.headDim), .int(L.tq), .int(L.tk),
                .int(L.qBatchStride), .int(L.qRowStride), .int(L.kvBatchStride), .int(L.kvRowStride),
                .int(L.outBatchStride), .int(L.outRowStride), .int(L.queryStart), .int(L.causal ? 1 : 0), .int(ldk),
            ])
            return
        }
        launch("attention_forward", [L.tq, L.batch * L.heads], [
            .tensor(q), .tensor(k), .tensor(v), .tensor(out), .tensor(lse),
            .int(L.batch), .int(L.heads), .int(L.headDim), .int(L.tq), .int(L.tk),
            .int(L.qBatchStride), .int(L.qRowStride), .int(L.kvBatchStride), .int(L.kvRowStride),
            .int(L.outBatchStride), .int(L.outRowStride), .int(L.queryStart), .int(L.causal ? 1 : 0),
        ], local: workGroups == .runtime ? ([1, 1], "set FOUNDRY_WORKGROUP=runtime") : nil)
    }

    /// Queries per work-item in attention_forward_tiles (AQ in Kernels/attention_tiles.cl).
    static let attentionTileRows = 4

    /// Whether attention takes the CPU's query tiles (Kernels/attention_tiles.cl): with the
    /// runtime's work-groups (CPUs), several queries, and heads a whole number of vectors wide.
    func attentionTiles(_ L: AttentionLayout) -> Bool {
        let vw = params.gemmVW
        return workGroups == .runtime && L.tq >= Self.attentionTileRows && L.headDim % vw == 0 && L.headDim <= 8 * vw
    }

    /// A transposed key (or value) copy's row length: the keys, padded to a whole number of vectors.
    func attentionKeyStride(_ L: AttentionLayout) -> Int { (L.tk + params.gemmVW - 1) / params.gemmVW * params.gemmVW }

    /// Floats in one transposed copy: a row of `attentionKeyStride` per (batch, head, channel).
    func attentionCopyCount(_ L: AttentionLayout) -> Int { L.batch * L.heads * L.headDim * attentionKeyStride(L) }

    /// dst[bh][d][key] = src[b, key, h, d] (keys or values, strided as `L` says), rows padded with 0.
    func launchKeysTransposed(_ src: TensorRef, into dst: TensorRef, layout L: AttentionLayout) {
        let rows = L.batch * L.heads * L.headDim
        launch("attention_keys_transposed", [rows], [
            .tensor(src), .tensor(dst), .int(L.heads), .int(L.headDim), .int(L.tk), .int(L.kvBatchStride), .int(L.kvRowStride),
            .int(attentionKeyStride(L)), .int(rows),
        ])
    }

    /// Transposed copies of two tensors of the fused layout's shape (keys and values, or queries
    /// and output gradients), one row per (batch, head, channel), in the scratch buffer; nil when
    /// the tiles do not apply (or the scratch could not be allocated: the error is pending).
    /// Each call reuses the same scratch, so a second pair overwrites the first after the
    /// kernels that read it (one in-order queue).
    func transposedPair(_ a: TensorRef, _ la: AttentionLayout, _ b: TensorRef, _ lb: AttentionLayout) -> (TensorRef, TensorRef, Int)? {
        guard attentionTiles(la) else { return nil }
        let count = attentionCopyCount(la)
        guard let t = scratch(count: 2 * count) else { return nil }
        let at = t.slice(0, count), bt = t.slice(count, count)
        launchKeysTransposed(a, into: at, layout: la)
        launchKeysTransposed(b, into: bt, layout: lb)
        return (at, bt, attentionKeyStride(la))
    }

    public func attentionBackward(dout: TensorRef, qkv: TensorRef, out: TensorRef, lse: TensorRef, dqkv: TensorRef,
                                  scratch: TensorRef, layout L: AttentionLayout) {
        let shape: [KernelArg] = [.int(L.batch), .int(L.heads), .int(L.headDim), .int(L.tq),
                                  .int(L.outBatchStride), .int(L.outRowStride), .int(L.causal ? 1 : 0)]
        let C = L.heads * L.headDim
        let tiles = [(L.tq + Self.attentionTileRows - 1) / Self.attentionTileRows, L.batch * L.heads]
        if let (kt, vt, ldk) = transposedPair(qkv.slice(C, qkv.count - C), L, qkv.slice(2 * C, qkv.count - 2 * C), L) {
            launch("attention_backward_query_tiles", tiles,
                   [.tensor(dout), .tensor(qkv), .tensor(out), .tensor(lse), .tensor(dqkv), .tensor(scratch), .tensor(kt), .tensor(vt)]
                   + shape + [.int(ldk)])
        } else {
            launch("attention_backward_query", [L.tq, L.batch * L.heads],
                   [.tensor(dout), .tensor(qkv), .tensor(out), .tensor(lse), .tensor(dqkv), .tensor(scratch)] + shape)
        }
        // The key side reads queries and output gradients a vector of queries at a time.
        var gradients = L
        gradients.kvBatchStride = L.outBatchStride
        gradients.kvRowStride = L.outRowStride
        if let (qt, dt, ldk) = transposedPair(qkv, L, dout, gradients) {
            launch("attention_backward_key_tiles", tiles,
                   [.tensor(dout), .tensor(qkv), .tensor(lse), .tensor(scratch), .tensor(dqkv), .tensor(qt), .tensor(dt)]
                   + shape + [.int(ldk)])
        } else {
            launch("attention_backward_key", [L.tq, L.batch * L.heads],
                   [.tensor(dout), .tensor(qkv), .tensor(lse), .tensor(scratch), .tensor(dqkv)] + shape)
        }
    }

    public func crossEntropy(logits: TensorRef, targets: TensorRef, losses: TensorRef, dlogits: TensorRef?,
                             rows: Int, vocab: Int, gradScale: Float, rowScales: TensorRef?) {
        launchRows("cross_entropy", rows: rows, [
            .tensor(logits), .tensor(targets), .tensor(losses), .tensor(dlogits ?? TensorRef(dummy)),
            .int(dlogits == nil ? 0 : 1), .int(vocab), .float(gradScale),
            .tensor(rowScales ?? TensorRef(dummy)), .int(rowScales == nil ? 0 : 1),
        ])
    }

    public func gradNorm(_ grads: TensorRef, clip: Float, out: TensorRef) {
        precondition(out.count >= 2, "gradNorm writes two values")
        let workers = 1024
        // Runs of a multiple of 8 elements, so every vector load but the last run's is whole.
        let chunk = ((grads.count + workers - 1) / workers + 7) / 8 * 8
        launch("sum_squares_partial", [workers], [.tensor(grads), .int(grads.count), .mem(normPartials.mem), .int(workers), .int(chunk)])
        launch("grad_norm_finish", [1], [.mem(normPartials.mem), .int(workers), .float(clip), .tensor(out)])
    }

    public func adamw(params: TensorRef, grads: TensorRef, m: TensorRef, v: TensorRef, decayCount: Int,
                      lr: Float, beta1: Float, beta2: Float, eps: Float, weightDecay: Float, step: Int, gradScale: TensorRef) {
        let bc1 = 1 - powf(beta1, Float(step)), bc2 = 1 - powf(beta2, Float(step))
        launch("adamw", [params.count], [
            .tensor(params), .tensor(grads), .tensor(m), .tensor(v), .int(params.count), .int(decayCount),
            .float(lr), .float(beta1), .float(beta2), .float(eps), .float(weightDecay), .float(bc1), .float(bc2), .tensor(gradScale),
        ])
    }

    public func samplingProbs(logits: TensorRef, probs: TensorRef, rows: Int, vocab: Int, filter: SamplingFilter) {
        if filter.temperature <= 0 {
            launchRows("sampling_probs_greedy", rows: rows, [.tensor(logits), .tensor(probs), .int(vocab)])
            return
        }
        launchRows("sampling_probs", rows: rows, [.tensor(logits), .tensor(probs), .int(vocab),
                                                  .float(filter.temperature), .int(filter.topK), .float(filter.topP), .float(filter.minP)])
    }

    public func sampleDraw(probs: TensorRef, uniforms: TensorRef, out: TensorRef, rows: Int, vocab: Int) {
        launch("sample_draw", [rows], [.tensor(probs), .tensor(uniforms), .tensor(out), .int(rows), .int(vocab)])
    }

    public func argmax(_ x: TensorRef, out: TensorRef, rows: Int, vocab: Int) {
        launchRows("argmax_rows", rows: rows, [.tensor(x), .tensor(out), .int(vocab)])
    }

    public func repetitionPenalty(logits: TensorRef, vocab: Int, tokens: TensorRef, count: Int, penalty: Float) {
        launch("repetition_penalty", [vocab], [.tensor(logits), .int(vocab), .tensor(tokens), .int(count), .float(penalty)])
    }
}
