import COpenCL
import Foundation
import FoundryCore

/// The Device ops of Kernels/attention.cl and attention_tiles.cl.
/// Each wrapper only maps arguments and picks the launch shape; the math is in the kernels.
extension OpenCLDevice {
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
}
