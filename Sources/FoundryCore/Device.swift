import Foundation
/// The device contract: the only thing the model and the stages know about hardware.
///
/// A backend owns buffers of 4-byte elements (fp32, or int32 for token ids) and runs the
/// ops a GPT needs on views into them. Ops are asynchronous where the backend allows it;
/// `read` waits for all queued work. Conventions shared by every op:
///  - tensors are row-major and contiguous inside a `TensorRef`;
///  - an argument named `d…` that the doc says "accumulates" is added to (`+=`), never
///    overwritten, so gradients of shared parameters and micro-batches simply sum;
///  - integer tensors (`tokens`, `targets`) hold int32; target −1 means "ignore".

public protocol DeviceBuffer: AnyObject {
    /// Number of 4-byte elements.
    var count: Int { get }
}

/// A view of `count` elements starting at `offset` in a buffer.
public struct TensorRef {
    public let buffer: DeviceBuffer
    public let offset: Int
    public let count: Int
    public init(_ buffer: DeviceBuffer, offset: Int = 0, count: Int? = nil) {
        self.buffer = buffer
        self.offset = offset
        self.count = count ?? (buffer.count - offset)
        precondition(offset >= 0 && offset + self.count <= buffer.count, "view out of range")
    }
    /// A sub-view, relative to this one.
    public func slice(_ start: Int, _ length: Int) -> TensorRef {
        precondition(start >= 0 && start + length <= count, "slice out of range")
        return TensorRef(buffer, offset: offset + start, count: length)
    }
}

/// The precision a decoding step reads the weights in. `f32`: the trained values, the same
/// arithmetic as the forward pass. `f16`: the layer matrices and the LM head rounded once to
/// IEEE half (`Device.packHalves`), sums still in float. At batch 1 a step reads every weight
/// once for two flops, so its speed is the memory's: half the bytes, 1.6–1.9× the tokens/s
/// on a CPU (llama.cpp's F16 files make the same trade). Prompts longer than `dotProductRows`
/// rows still take the float GEMM.
public enum DecodeWeights: String, CaseIterable, Sendable {
    case f32, f16
}

/// A LayerNorm's parameters, for an op that normalises its input rows first.
public struct RowNorm {
    public let weight: TensorRef, bias: TensorRef, eps: Float
    public init(weight: TensorRef, bias: TensorRef, eps: Float) { self.weight = weight; self.bias = bias; self.eps = eps }
}

/// Strides that place attention's queries, keys and values in memory. Training reads all
/// three from the fused qkv activation ([B, T, 3C]); decoding reads keys and values from
/// the KV cache ([B, maxT, C]).
public struct AttentionLayout {
    public var batch: Int, heads: Int, headDim: Int
    public var tq: Int, tk: Int
    public var qBatchStride: Int, qRowStride: Int
    public var kvBatchStride: Int, kvRowStride: Int
    public var outBatchStride: Int, outRowStride: Int
    /// Absolute position of the first query (keys 0..<tk are at positions 0..<tk).
    public var queryStart: Int
    public var causal: Bool

    public init(batch: Int, heads: Int, headDim: Int, tq: Int, tk: Int,
                qBatchStride: Int, qRowStride: Int, kvBatchStride: Int, kvRowStride: Int,
                outBatchStride: Int, outRowStride: Int, queryStart: Int, causal: Bool) {
        self.batch = batch; self.heads = heads; self.headDim = headDim; self.tq = tq; self.tk = tk
        self.qBatchStride = qBatchStride; self.qRowStride = qRowStride
        self.kvBatchStride = kvBatchStride; self.kvRowStride = kvRowStride
        self.outBatchStride = outBatchStride; self.outRowStride = outRowStride
        self.queryStart = queryStart; self.causal = causal
    }

    /// The training layout: q, k, v interleaved in one [B, T, 3C] tensor, output [B, T, C].
    public static func fused(batch: Int, seq: Int, channels: Int, heads: Int, causal: Bool) -> AttentionLayout {
        AttentionLayout(batch: batch, heads: heads, headDim: channels / heads, tq: seq, tk: seq,
                        qBatchStride: seq * 3 * channels, qRowStride: 3 * channels,
                        kvBatchStride: seq * 3 * channels, kvRowStride: 3 * channels,
                        outBatchStride: seq * channels, outRowStride: channels,
                        queryStart: 0, causal: causal)
    }
}

/// Products of at most this many rows with B transposed (op(B) = Bᵀ, B stored [n, k]) are dot
/// products along k on every backend: decoding's matrix-vector products, for which `KVCache`
/// keeps the layer weights transposed so each output reads one contiguous row (a strip of
/// columns of a [k, n] matrix streamed at 17–26 GB/s on PoCL here, whole rows at 28–35).
public let dotProductRows = 8

/// Which filters a sampler applies before the draw (transformers' order:
/// temperature, top-k, top-p, min-p). Zero/one values disable a filter.
public struct SamplingFilter: Sendable, Equatable {
    public var temperature: Float
    public var topK: Int
    public var topP: Float
    public var minP: Float
    public init(temperature: Float = 1, topK: Int = 0, topP: Float = 1, minP: Float = 0) {
        self.temperature = temperature; self.topK = topK; self.topP = topP; self.minP = minP
    }
}

public protocol Device: AnyObject {
    /// "cpu" or "opencl".
    var backend: String { get }
    /// Human-readable device name.
    var name: String { get }
    /// Whether decoding should multiply by transposed weights (`dotProductRows`): true where a
    /// work-item streaming one contiguous row is fastest (CPUs); GPUs keep the [k, n] layout,
    /// whose column strips neighbouring work-items read together.
    var decodesWithDotProducts: Bool { get }
    /// The most elements one tensor argument of an op may have (OpenCL kernels index inside a
    /// tensor with 32-bit ints; the reference has no limit). Callers that size tensors from
    /// user settings check against it first (see `Activations`).
    var maxTensorElements: Int { get }
    /// The memory its tensors live in, in bytes (the host's RAM for the reference, the device's
    /// global memory for OpenCL): models and batches sized from user settings are checked
    /// against it before anything is allocated.
    var memoryBytes: Int { get }

    // MARK: memory
    /// A zero-filled buffer of `count` 4-byte elements.
    func makeBuffer(count: Int) throws -> DeviceBuffer
    func write(_ values: [Float], to: TensorRef) throws
    func write(ints: [Int32], to: TensorRef) throws
    func read(_ t: TensorRef) throws -> [Float]
    func readInts(_ t: TensorRef) throws -> [Int32]
    /// dst = src (same count).
    func copy(_ src: TensorRef, to dst: TensorRef)
    /// For r in 0..<rows: dst[r*dstStride ..< +cols] = src[r*srcStride ..< +cols].
    func copyRows(_ src: TensorRef, srcStride: Int, to dst: TensorRef, dstStride: Int, rows: Int, cols: Int)
    func fill(_ t: TensorRef, value: Float)
    /// out[c, r] = src[r, c] for a rows × cols matrix (both row-major): weights kept in the
    /// layout a product reads them in (decoding's dot products, `dotProductRows`).
    func transpose(_ src: TensorRef, rows: Int, cols: Int, out: TensorRef)
    /// src (a rows × cols matrix, or its transpose [cols, rows] when `transpose`) rounded to IEEE
    /// binary16, nearest even, packed two to a 4-byte element (value 2i in the low 16 bits of
    /// element i; the upper half of a last odd element is left as it was): decoding's weights in
    /// half the memory and bandwidth (`DecodeWeights.f16`). out needs (rows·cols + 1) / 2 elements.
    func packHalves(_ src: TensorRef, rows: Int, cols: Int, transpose: Bool, out: TensorRef)
    /// Wait for all queued work.
    func finish() throws

    // MARK: linear algebra
    /// C[m,n] = alpha · op(A)[m,k] · op(B)[k,n] + beta · C + bias[n], all row-major.
    /// op(X) is X or Xᵀ. With beta == 0, C is not read. `bias` may be nil.
    func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
              a: TensorRef, b: TensorRef, beta: Float, c: TensorRef, bias: TensorRef?)
    /// Decoding's products, W [n, k] (one row per output) of floats or of packed halves
    /// (`packHalves`) as `format` says: C[r, j] = act(Σ_p A'[r, p] · W[j, p] + bias[j]) + beta · C[r, j],
    /// act = GELU when `gelu` (a residual add is beta = 1 into the stream itself), A' = A, or
    /// LayerNorm(A) with `norm`'s parameters (its own launch saved where the device can). Sums
    /// in float. `bias` may be nil.
    func gemmDecode(m: Int, n: Int, k: Int, a: TensorRef, norm: RowNorm?, w: TensorRef, format: DecodeWeights, bias: TensorRef?,
                    gelu: Bool, beta: Float, c: TensorRef)
    /// dbias[c] += Σ_r dout[r, c] (accumulates).
    func biasBackward(dout: TensorRef, rows: Int, cols: Int, dbias: TensorRef)
    /// pre[m,n] = a[m,k] · b[k,n] + bias[n], then out = GELU(pre): the MLP's first product and
    /// its activation in one launch on OpenCL (the reference does the two steps).
    func gemmBiasGelu(m: Int, n: Int, k: Int, a: TensorRef, b: TensorRef, bias: TensorRef, pre: TensorRef, out: TensorRef)
    /// A linear layer's parameter gradients from `rows` rows of its input inp[rows, inputs] and
    /// output gradient dout[rows, outputs]: dweight[inputs, outputs] += inpᵀ · dout and, when
    /// given, dbias[outputs] += Σ_r dout[r, ·]. One launch on OpenCL (the reference: `gemm`,
    /// then `biasBackward`).
    func weightGradient(inp: TensorRef, dout: TensorRef, rows: Int, inputs: Int, outputs: Int,
                        dweight: TensorRef, dbias: TensorRef?)
    /// out[m,n] = (a[m,k] · bᵀ) ⊙ GELU'(pre[m,n]), b being [n,k]: the gradient through the
    /// MLP's activation, in the product that makes it on OpenCL (the reference: `gemm`, then
    /// `geluBackward`).
    func gemmGeluBackward(m: Int, n: Int, k: Int, a: TensorRef, b: TensorRef, pre: TensorRef, out: TensorRef)

    // MARK: elementwise
    /// out = a + b.
    func add(_ a: TensorRef, _ b: TensorRef, out: TensorRef)
    /// y += alpha · x.
    func axpy(alpha: Float, x: TensorRef, y: TensorRef)
    /// GELU, tanh form (GPT-2's "gelu_new").
    func geluForward(_ inp: TensorRef, out: TensorRef)
    /// dinp = gelu'(inp) · dout (overwrites dinp).
    func geluBackward(_ inp: TensorRef, dout: TensorRef, dinp: TensorRef)

    // MARK: normalisation
    /// Row-wise LayerNorm over `cols`; also writes each row's mean and 1/std for the backward.
    func layerNormForward(_ inp: TensorRef, weight: TensorRef, bias: TensorRef, out: TensorRef,
                          mean: TensorRef, rstd: TensorRef, rows: Int, cols: Int, eps: Float)
    /// sum = a + b, then out = LayerNorm(sum): a residual connection and the LayerNorm that reads
    /// it, in one launch on OpenCL (the reference does the two steps).
    func residualLayerNormForward(_ a: TensorRef, _ b: TensorRef, sum: TensorRef, weight: TensorRef, bias: TensorRef,
                                  out: TensorRef, mean: TensorRef, rstd: TensorRef, rows: Int, cols: Int, eps: Float)
    /// dinp, dweight, dbias all accumulate.
    func layerNormBackward(dout: TensorRef, inp: TensorRef, weight: TensorRef, mean: TensorRef, rstd: TensorRef,
                           dinp: TensorRef, dweight: TensorRef, dbias: TensorRef, rows: Int, cols: Int)
    /// Row-wise softmax of inp / temperature.
    func softmax(_ inp: TensorRef, out: TensorRef, rows: Int, cols: Int, temperature: Float)

    // MARK: embeddings
    /// out[b,t,:] = wte[tokens[b,t], :] + wpe[t, :].
    func embeddingForward(tokens: TensorRef, wte: TensorRef, wpe: TensorRef, out: TensorRef,
                          batch: Int, seq: Int, channels: Int)
    /// dwte, dwpe accumulate.
    func embeddingBackward(dout: TensorRef, tokens: TensorRef, dwte: TensorRef, dwpe: TensorRef,
                           batch: Int, seq: Int, channels: Int)

    // MARK: attention
    /// Multi-head scaled dot-product attention, with no T×T matrix kept: `lse` receives each
    /// query row's log-sum-exp of its scaled scores [B, H, tq], all the backward needs to
    /// recompute the probabilities (so memory grows linearly in T).
    func attentionForward(q: TensorRef, k: TensorRef, v: TensorRef, out: TensorRef, lse: TensorRef,
                          layout: AttentionLayout)
    /// Backward of the fused (training) layout from the forward's `out` and `lse`; dqkv is
    /// overwritten, `scratch` is [B, H, T].
    func attentionBackward(dout: TensorRef, qkv: TensorRef, out: TensorRef, lse: TensorRef, dqkv: TensorRef,
                           scratch: TensorRef, layout: AttentionLayout)

    // MARK: loss
    /// Fused softmax + cross-entropy. losses[r] = −log softmax(logits[r])[targets[r]], or 0 where
    /// targets[r] == −1. If `dlogits` is given it receives gradScale · rowScales[r] · (softmax −
    /// onehot) (0 on ignored rows; rowScales nil means 1); it may alias `logits`. Per-row scales
    /// turn any loss of per-token log-probabilities (DPO, PPO, …) into logit gradients:
    /// d(−log p)/d logits = softmax − onehot.
    func crossEntropy(logits: TensorRef, targets: TensorRef, losses: TensorRef, dlogits: TensorRef?,
                      rows: Int, vocab: Int, gradScale: Float, rowScales: TensorRef?)

    // MARK: optimiser
    /// The global L2 norm of `grads` and the clipping scale, left on the device for `adamw` so a
    /// step needs no host round trip: out[0] = ‖grads‖ (summed in double precision where the
    /// device has it), out[1] = clip / ‖grads‖ when clip > 0 and the norm exceeds it, else 1,
    /// and 0 when the norm is not finite. `out` holds 2 elements.
    func gradNorm(_ grads: TensorRef, clip: Float, out: TensorRef)
    /// One AdamW step over `count` parameters (PyTorch semantics). Weight decay applies to the
    /// first `decayCount` elements only. Gradients are multiplied by gradScale[0] first
    /// (clipping); a scale of 0 (a non-finite norm, see `gradNorm`) leaves everything untouched.
    func adamw(params: TensorRef, grads: TensorRef, m: TensorRef, v: TensorRef, decayCount: Int,
               lr: Float, beta1: Float, beta2: Float, eps: Float, weightDecay: Float, step: Int, gradScale: TensorRef)

    // MARK: sampling
    /// probs = the distribution a sampler draws from: softmax(logits / T) after top-k, top-p and
    /// min-p (removed entries are 0, the rest renormalised). `rows` independent rows of `vocab`.
    func samplingProbs(logits: TensorRef, probs: TensorRef, rows: Int, vocab: Int, filter: SamplingFilter)
    /// out[r] = the first index i with Σ_{j≤i} probs[r,j] > u[r] · Σ probs[r,:] (a categorical draw).
    func sampleDraw(probs: TensorRef, uniforms: TensorRef, out: TensorRef, rows: Int, vocab: Int)
    /// out[r] = argmax (first maximum) of each row.
    func argmax(_ x: TensorRef, out: TensorRef, rows: Int, vocab: Int)
    /// transformers' repetition penalty on one row: for every distinct token in `tokens`
    /// (count n), divide a positive logit by `penalty`, multiply a negative one.
    func repetitionPenalty(logits: TensorRef, vocab: Int, tokens: TensorRef, count: Int, penalty: Float)
}

extension Device {
    public var maxTensorElements: Int { Int.max }
    public var memoryBytes: Int { Int(clamping: ProcessInfo.processInfo.physicalMemory) }
    public func crossEntropy(logits: TensorRef, targets: TensorRef, losses: TensorRef, dlogits: TensorRef?,
                             rows: Int, vocab: Int, gradScale: Float) {
        crossEntropy(logits: logits, targets: targets, losses: losses, dlogits: dlogits, rows: rows, vocab: vocab,
                     gradScale: gradScale, rowScales: nil)
    }
    public func makeTensor(count: Int) throws -> TensorRef { TensorRef(try makeBuffer(count: count)) }
    public func upload(_ values: [Float]) throws -> TensorRef {
        let t = try makeTensor(count: values.count); try write(values, to: t); return t
    }
    public func upload(ints: [Int32]) throws -> TensorRef {
        let t = try makeTensor(count: ints.count); try write(ints: ints, to: t); return t
    }
}
