import FoundryCore

/// A block's input: rows, and the LayerNorm still to apply to them (products that normalise
/// as they read), or none when they are normalised already.
struct BlockInput {
    let rows: TensorRef
    let pendingNorm: RowNorm?
}

/// What differs between the passes through GPT-2's blocks — training's forward (every layer's
/// activations kept for the backward), a prompt's prefill and single-token decoding (scratch
/// reused layer after layer): where a layer's outputs go and how its products and residual adds
/// are formed. Each pass issues exactly the launches its path always has.
protocol BlockPass {
    /// Where layer l's fused query/key/value product, attention output and GELU output go.
    func qkv(_ l: Int) -> TensorRef
    func atty(_ l: Int) -> TensorRef
    func mlp(_ l: Int) -> TensorRef
    /// out = act(input · W + bias).
    func product(_ l: Int, _ input: BlockInput, _ m: BlockTensor, bias: BlockTensor, gelu: Bool, out: TensorRef)
    /// The residual stream plus the attention's projection, made ready for the MLP by `norm`.
    func endAttention(_ l: Int, norm: RowNorm) -> BlockInput
    /// The residual stream plus the MLP's projection, made ready for what follows by `next`
    /// (the next block's LayerNorm, or the final one; nil: left for the caller).
    func endBlock(_ l: Int, next: RowNorm?) -> BlockInput
}

/// out = act(a · W + bias) on the parameters: the GEMM form of a block's product (`pre` keeps
/// the MLP's activations before GELU).
func blockProduct(_ d: Device, _ W: ModelTensors.Block, rows: Int, channels: Int, _ a: TensorRef, _ m: BlockTensor,
                  bias: BlockTensor, gelu: Bool, pre: TensorRef, out: TensorRef) {
    let shape = m.shape(channels: channels)
    if gelu {
        d.gemmBiasGelu(m: rows, n: shape[1], k: shape[0], a: a, b: W[m], bias: W[bias], pre: pre, out: out)
    } else {
        d.gemm(transA: false, transB: false, m: rows, n: shape[1], k: shape[0], alpha: 1, a: a, b: W[m], beta: 0, c: out, bias: W[bias])
    }
}

extension GPT2 {
    /// GPT-2's blocks, written once for training, prefill and decoding (nanoGPT's `Block`):
    /// x += attention(ln_1(x)); x += mlp(ln_2(x)), each LayerNorm applied where the pass applies
    /// it. `input` is block 0's normalised input; returns the last block's output, normalised by
    /// `finalNorm` when given.
    func runBlocks(from input: BlockInput, pass: BlockPass, finalNorm: RowNorm?,
                   attend: (Int, TensorRef, TensorRef) -> Void) -> BlockInput {
        let eps = config.layerNormEps
        var input = input
        for l in 0..<config.layers {
            let W = weights.blocks[l]
            pass.product(l, input, .attention, bias: .attentionBias, gelu: false, out: pass.qkv(l))
            attend(l, pass.qkv(l), pass.atty(l))
            let mlpInput = pass.endAttention(l, norm: RowNorm(weight: W[.ln2Weight], bias: W[.ln2Bias], eps: eps))
            pass.product(l, mlpInput, .mlp, bias: .mlpBias, gelu: true, out: pass.mlp(l))
            let next = l + 1 < config.layers
                ? RowNorm(weight: weights.blocks[l + 1][.ln1Weight], bias: weights.blocks[l + 1][.ln1Bias], eps: eps) : finalNorm
            input = pass.endBlock(l, next: next)
        }
        return input
    }
}
