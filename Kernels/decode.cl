// Decoding's products: a few rows of activations times weights stored one row per output
// ([n, k]), as float or as IEEE binary16. At batch 1 a step reads every weight once and does two
// flops with it, so its speed is the memory's: halves are half the bytes (a 6 × 288 model with a
// 32000-token vocabulary: 30 MB a token instead of 61). Sums stay in float either way.
// vload_half/vstore_half are core OpenCL (no cl_khr_fp16 needed): a `half` pointer is only
// ever loaded from or stored to. The LayerNorm before a product, its bias, GELU and a residual
// add run inside it: on a 2-core CPU PoCL spends ~10 µs a launch between kernels, more than
// these cost in compute.

#define HLOAD CAT(vload_half, GEMM_VW)
#define FLOAD1(p, x) ((x)[p])
// Rows of A one weight vector is used for while it is in registers (prompts of a few tokens,
// the server's batch); a single row (batch-1 decoding) takes its own loop.
#define DECODE_ROWS 4

// out (as halves) = in, or inᵀ ([cols, rows]) when `transpose`, rounded to nearest even.
// Two halves share a 4-byte element; the last one's upper half is left as it was when the
// count is odd.
kernel void pack_halves(global const float* in, long in_off, global float* out, long out_off, int rows, int cols, int transpose)
{
    const int c = get_global_id(0), r = get_global_id(1);
    if (r >= rows || c >= cols) return;
    global half* o = (global half*)(out + out_off);
    vstore_half_rte(in[in_off + r * cols + c], transpose ? c * rows + r : r * cols + c, o);
}

static inline float decode_out(float s, global float* out, global const float* bias, int has_bias, float beta, int gelu)
{
    if (has_bias) s += *bias;
    if (gelu) s = GELU_OF(s);
    if (beta != 0.0f) s += beta * *out;
    return s;
}

// Rows one work-item multiplies as a dot product each: A's row from global memory, or from a
// private copy normalised in the kernel (a LayerNorm fused into the product: one launch a
// norm fewer; decoding's launches cost more in PoCL's scheduling than these norms in compute).
#define DECODE_DOT_RUN(arow, WT, WLOAD, WLOAD1) \
    for (int j = j0; j < j1; j++) { \
        global const WT* wj = w + (long)j * k; \
        VEC acc0 = (VEC)(0.0f), acc1 = (VEC)(0.0f); \
        int p = 0; \
        for (; p + 2 * GEMM_VW <= k; p += 2 * GEMM_VW) { \
            acc0 = fma(VLOAD(0, arow + p), WLOAD(0, wj + p), acc0); \
            acc1 = fma(VLOAD(1, arow + p), WLOAD(1, wj + p), acc1); \
        } \
        if (p < kv) acc0 = fma(VLOAD(0, arow + p), WLOAD(0, wj + p), acc0); \
        float s = VSUM(acc0 + acc1); \
        for (p = kv; p < k; p++) s = fma(arow[p], WLOAD1(p, wj), s); \
        c[j] = decode_out(s, c + j, bias + bias_off + j, has_bias, beta, gelu); \
    }

// C[r, j] = act(Σ_p A[r, p] · W[j, p] + bias[j]) + beta · C[r, j], W [n, k] (one contiguous
// row per output) of WT; with has_ln, A's single row is first normalised (LayerNorm with ln_w,
// ln_b, eps; k ≤ DECODE_LN_K). A work-item takes `run` consecutive outputs (on a CPU a few long
// runs stream W front to back) for DECODE_ROWS rows of A.
#define DECODE_PRODUCT(NAME, WT, WLOAD, WLOAD1) \
kernel void NAME(int m, int n, int k, global const float* A, long A_off, global const float* W, long W_off, \
                 global float* C, long C_off, global const float* bias, long bias_off, int has_bias, \
                 float beta, int gelu, global const float* ln_w, long ln_w_off, global const float* ln_b, long ln_b_off, \
                 int has_ln, float eps, int run) \
{ \
    const int j0 = get_global_id(0) * run, r0 = get_global_id(1) * DECODE_ROWS; \
    if (j0 >= n || r0 >= m) return; \
    const int j1 = min(n, j0 + run), rows = min(DECODE_ROWS, m - r0); \
    global const WT* w = (global const WT*)(W + W_off); \
    global const float* a = A + A_off + r0 * k; \
    global float* c = C + C_off + r0 * n; \
    const int kv = k / GEMM_VW * GEMM_VW; \
    if (has_ln) { \
        float xn[DECODE_LN_K]; \
        decode_normalise(a, k, kv, ln_w + ln_w_off, ln_b + ln_b_off, eps, xn); \
        DECODE_DOT_RUN(xn, WT, WLOAD, WLOAD1) \
        return; \
    } \
    if (rows == 1) { \
        DECODE_DOT_RUN(a, WT, WLOAD, WLOAD1) \
        return; \
    } \
    for (int j = j0; j < j1; j++) { \
        global const WT* wj = w + (long)j * k; \
        VEC acc[DECODE_ROWS]; \
        _Pragma("unroll") \
        for (int i = 0; i < DECODE_ROWS; i++) acc[i] = (VEC)(0.0f); \
        for (int p = 0; p < kv; p += GEMM_VW) { \
            const VEC wv = WLOAD(0, wj + p); \
            _Pragma("unroll") \
            for (int i = 0; i < DECODE_ROWS; i++) if (i < rows) acc[i] = fma(VLOAD(0, a + i * k + p), wv, acc[i]); \
        } \
        _Pragma("unroll") \
        for (int i = 0; i < DECODE_ROWS; i++) if (i < rows) { \
            float s = VSUM(acc[i]); \
            for (int p = kv; p < k; p++) s = fma(a[i * k + p], WLOAD1(p, wj), s); \
            c[i * n + j] = decode_out(s, c + i * n + j, bias + bias_off + j, has_bias, beta, gelu); \
        } \
    } \
}

// The longest row a fused LayerNorm normalises (GPT-2 124M's 768 fits; wider models normalise
// in their own launch).
#define DECODE_LN_K 1024

// xn = LayerNorm(a) over k: two passes as layernorm_forward (the mean, then the variance about
// it), in vectors; every work-item normalises the row itself, so this is paid per work-item.
static inline void decode_normalise(global const float* a, int k, int kv, global const float* lw, global const float* lb, float eps,
                                    float* xn)
{
    VEC v1 = (VEC)(0.0f);
    for (int p = 0; p < kv; p += GEMM_VW) v1 += VLOAD(0, a + p);
    float mean = VSUM(v1);
    for (int p = kv; p < k; p++) mean += a[p];
    mean /= k;
    VEC v2 = (VEC)(0.0f);
    for (int p = 0; p < kv; p += GEMM_VW) { const VEC d = VLOAD(0, a + p) - mean; v2 = fma(d, d, v2); }
    float var = VSUM(v2);
    for (int p = kv; p < k; p++) { const float d = a[p] - mean; var += d * d; }
    const float rstd = rsqrt(var / k + eps);
    for (int p = 0; p < kv; p += GEMM_VW) VSTORE((VLOAD(0, a + p) - mean) * rstd * VLOAD(0, lw + p) + VLOAD(0, lb + p), 0, xn + p);
    for (int p = kv; p < k; p++) xn[p] = (a[p] - mean) * rstd * lw[p] + lb[p];
}

DECODE_PRODUCT(decode_product_f16, half, HLOAD, vload_half)
DECODE_PRODUCT(decode_product_f32, float, VLOAD, FLOAD1)
