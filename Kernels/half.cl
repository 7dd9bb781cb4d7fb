// Half-precision weights for decoding. At batch 1 a decoding step reads every weight once and
// does two flops with it, so its speed is the memory's: weights stored as IEEE binary16 are
// half the bytes (a 6 × 288 model with a 32000-token vocabulary: 30 MB a token instead of 61).
// Sums stay in float; only the stored weights are rounded. vload_half/vstore_half are core
// OpenCL (no cl_khr_fp16 needed): a `half` pointer is only ever loaded from or stored to.

#define HLOAD CAT(vload_half, GEMM_VW)
// Rows of A one weight vector is used for while it is in registers (prompts of a few tokens,
// the server's batch); a single row (batch-1 decoding) takes its own loop.
#define HALF_ROWS 4

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

static inline float half_out(float s, global float* out, global const float* bias, int has_bias, float beta, int gelu)
{
    if (has_bias) s += *bias;
    if (gelu) s = GELU_OF(s);
    if (beta != 0.0f) s += beta * *out;
    return s;
}

// Rows one work-item multiplies as a dot product each: A's row from global memory, or from a
// private copy normalised in the kernel (a LayerNorm fused into the product: one launch a
// norm fewer; decoding's launches cost more in PoCL's scheduling than these norms in compute).
#define HALF_DOT_RUN(arow) \
    for (int j = j0; j < j1; j++) { \
        global const half* wj = w + (long)j * k; \
        VEC acc0 = (VEC)(0.0f), acc1 = (VEC)(0.0f); \
        int p = 0; \
        for (; p + 2 * GEMM_VW <= k; p += 2 * GEMM_VW) { \
            acc0 = fma(VLOAD(0, arow + p), HLOAD(0, wj + p), acc0); \
            acc1 = fma(VLOAD(1, arow + p), HLOAD(1, wj + p), acc1); \
        } \
        if (p < kv) acc0 = fma(VLOAD(0, arow + p), HLOAD(0, wj + p), acc0); \
        float s = VSUM(acc0 + acc1); \
        for (p = kv; p < k; p++) s = fma(arow[p], vload_half(p, wj), s); \
        c[j] = half_out(s, c + j, bias + bias_off + j, has_bias, beta, gelu); \
    }

// The longest row a fused LayerNorm normalises (GPT-2 124M's 768 fits; wider models normalise
// in their own launch).
#define HALF_LN_K 1024

// C[r, j] = act(Σ_p A[r, p] · W[j, p] + bias[j]) + beta · C[r, j], W packed halves [n, k] (one
// contiguous row per output); with has_ln, A's single row is first normalised (LayerNorm with
// ln_w, ln_b, eps; k ≤ HALF_LN_K). A work-item takes `run` consecutive outputs (on a CPU a few
// long runs stream W front to back) for HALF_ROWS rows of A.
kernel void gemm_half_nt(int m, int n, int k, global const float* A, long A_off, global const float* W, long W_off,
                         global float* C, long C_off, global const float* bias, long bias_off, int has_bias,
                         float beta, int gelu, global const float* ln_w, long ln_w_off, global const float* ln_b, long ln_b_off,
                         int has_ln, float eps, int run)
{
    const int j0 = get_global_id(0) * run, r0 = get_global_id(1) * HALF_ROWS;
    if (j0 >= n || r0 >= m) return;
    const int j1 = min(n, j0 + run), rows = min(HALF_ROWS, m - r0);
    global const half* w = (global const half*)(W + W_off);
    global const float* a = A + A_off + r0 * k;
    global float* c = C + C_off + r0 * n;
    const int kv = k / GEMM_VW * GEMM_VW;
    if (has_ln) {
        // Two passes as layernorm_forward, the mean, then the variance about it, in vectors:
        // every work-item normalises the row itself, so its cost is paid once per work-item.
        global const float* lw = ln_w + ln_w_off;
        global const float* lb = ln_b + ln_b_off;
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
        float xn[HALF_LN_K];
        for (int p = 0; p < kv; p += GEMM_VW) VSTORE((VLOAD(0, a + p) - mean) * rstd * VLOAD(0, lw + p) + VLOAD(0, lb + p), 0, xn + p);
        for (int p = kv; p < k; p++) xn[p] = (a[p] - mean) * rstd * lw[p] + lb[p];
        HALF_DOT_RUN(xn)
        return;
    }
    if (rows == 1) {
        HALF_DOT_RUN(a)
        return;
    }
    for (int j = j0; j < j1; j++) {
        global const half* wj = w + (long)j * k;
        VEC acc[HALF_ROWS];
        #pragma unroll
        for (int i = 0; i < HALF_ROWS; i++) acc[i] = (VEC)(0.0f);
        for (int p = 0; p < kv; p += GEMM_VW) {
            const VEC wv = HLOAD(0, wj + p);
            #pragma unroll
            for (int i = 0; i < HALF_ROWS; i++) if (i < rows) acc[i] = fma(VLOAD(0, a + i * k + p), wv, acc[i]);
        }
        #pragma unroll
        for (int i = 0; i < HALF_ROWS; i++) if (i < rows) {
            float s = VSUM(acc[i]);
            for (int p = kv; p < k; p++) s = fma(a[i * k + p], vload_half(p, wj), s);
            c[i * n + j] = half_out(s, c + i * n + j, bias + bias_off + j, has_bias, beta, gelu);
        }
    }
}
