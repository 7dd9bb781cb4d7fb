// General matrix product, the engine's workhorse:
//   C[m,n] = alpha * op(A)[m,k] * op(B)[k,n] + beta * C + bias[n]
// One set of bodies serves the forward product and both transposed products of the backward.
// Each work-item computes a GEMM_TM x (GEMM_VW * GEMM_NV) block of C in registers, loading
// rows of B as GEMM_VW-wide vectors (GEMM_TM <= 16, GEMM_NV <= 4); the three sizes are build options chosen per device
// (KernelParams.swift, `foundry kernels tune`).
// (GEMM_TM, GEMM_VW, GEMM_NV and the VEC macros are in common.h: attention_tiles.cl uses them too.)

// The scalar output rule: alpha * acc (+ beta * C, only when beta != 0, so C may hold garbage
// otherwise) (+ bias).
static inline float gemm_out(float acc, float alpha, float beta, global const float* c, global const float* bias, int has_bias) {
    float v = alpha * acc;
    if (beta != 0.0f) v += beta * *c;
    if (has_bias) v += *bias;
    return v;
}

// B[p*sbp + j], unit stride along j. A is read one scalar at a time
// (A[r*sar + p*sap]) and broadcast against vectors of B: the classic register-blocked
// outer-product micro-kernel. Out-of-range rows read a clamped row and are not written;
// a ragged right edge takes a scalar path (uniform per work-item, no divergence inside).
// TM (rows per work-item, at most GEMM_TM) is a literal at every call. The rows are written
// out by the preprocessor (GEMM_ROWS), one named accumulator per row and vector, instead of
// arrays: PoCL did not unroll loops over accumulator arrays and kept them in memory, a load
// and a store around every FMA.
#define GEMM_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)
#define GEMM_RA(i) const int ra##i = min(r0 + i, m - 1) * sar;
#define GEMM_DECL(i) \
    GEMM_RA(i) \
    VEC acc##i##_0 = (VEC)(0.0f), acc##i##_1 = (VEC)(0.0f), acc##i##_2 = (VEC)(0.0f), acc##i##_3 = (VEC)(0.0f);
#define GEMM_FMA(i) \
    if (i < TM) { \
        const VEC a = (VEC)(A[ra##i + p * sap]); \
        acc##i##_0 = fma(a, b0, acc##i##_0); \
        if (GEMM_NV > 1) acc##i##_1 = fma(a, b1, acc##i##_1); \
        if (GEMM_NV > 2) acc##i##_2 = fma(a, b2, acc##i##_2); \
        if (GEMM_NV > 3) acc##i##_3 = fma(a, b3, acc##i##_3); \
    }
#define GEMM_STORE(i) \
    if (i < TM && r0 + i < m) { \
        global float* out = C + (r0 + i) * n + c0; \
        GEMM_STORE_VEC(acc##i##_0, 0, c0); \
        if (GEMM_NV > 1) GEMM_STORE_VEC(acc##i##_1, 1, c0); \
        if (GEMM_NV > 2) GEMM_STORE_VEC(acc##i##_2, 2, c0); \
        if (GEMM_NV > 3) GEMM_STORE_VEC(acc##i##_3, 3, c0); \
    }
// The ragged right edge's whole vectors: one accumulator a row, B's vector at column cj.
#define GEMM_DECL1(i) VEC e##i = (VEC)(0.0f);
#define GEMM_FMA1(i) if (i < TM) e##i = fma((VEC)(A[ra##i + p * sap]), bv, e##i);
#define GEMM_STORE1(i) \
    if (i < TM && r0 + i < m) { \
        global float* out = C + (r0 + i) * n + cj; \
        GEMM_STORE_VEC(e##i, 0, cj); \
    }
// A macro, not a function: a float16 argument draws an ABI warning from clang on AVX2 hosts.
// GELU 1: G = GELU(C) as well (the MLP's forward); GELU 2: C = product · GELU'(G), G holding
// the pre-activation (the gradient through the MLP's activation).
#define GEMM_STORE_VEC(acc, v, col) { \
        VEC o = alpha * (acc); \
        if (beta != 0.0f) o += beta * VLOAD(v, out); \
        if (has_bias) o += VLOAD(v, bias + (col)); \
        if (GELU == 2) { const VEC x = VLOAD(v, G + (out - C)), t = GELU_TANH(x); o = GELU_GRAD(x, t) * o; } \
        VSTORE(o, v, out); \
        if (GELU == 1) VSTORE(GELU_OF(o), v, G + (out - C)); \
    }

static inline void gemm_rowvec(int m, int n, int k, float alpha, float beta,
                        global const float* A, const int sar, const int sap,
                        global const float* B, const int sbp,
                        global float* C, global const float* bias, int has_bias, const int TM,
                        global float* G, const int GELU, global float* S, const int COLSUM, int rows_first)
{
    // Constant dimensions in get_global_id: PoCL 3.1 emits an unresolved symbol for a variable one.
    const int g0 = get_global_id(0), g1 = get_global_id(1);
    const int r0 = (rows_first ? g0 : g1) * TM;
    const int c0 = (rows_first ? g1 : g0) * GEMM_CW;
    if (r0 >= m || c0 >= n) return;

    if (c0 + GEMM_CW <= n) {
        GEMM_ROWS(GEMM_DECL)
        global const float* bp = B + c0;
        for (int p = 0; p < k; p++, bp += sbp) {
            const VEC b0 = VLOAD(0, bp);
            const VEC b1 = GEMM_NV > 1 ? VLOAD(1, bp) : b0;
            const VEC b2 = GEMM_NV > 2 ? VLOAD(2, bp) : b0;
            const VEC b3 = GEMM_NV > 3 ? VLOAD(3, bp) : b0;
            GEMM_ROWS(GEMM_FMA)
        }
        GEMM_ROWS(GEMM_STORE)
        if (COLSUM && r0 == 0) {
            // The first row of tiles also adds B's column sums into S (a bias gradient: B is the
            // output gradient), while its strip is still in cache. Summed down the rows in
            // order, as bias_backward does.
            VEC s0 = (VEC)(0.0f), s1 = (VEC)(0.0f), s2 = (VEC)(0.0f), s3 = (VEC)(0.0f);
            bp = B + c0;
            for (int p = 0; p < k; p++, bp += sbp) {
                s0 += VLOAD(0, bp);
                if (GEMM_NV > 1) s1 += VLOAD(1, bp);
                if (GEMM_NV > 2) s2 += VLOAD(2, bp);
                if (GEMM_NV > 3) s3 += VLOAD(3, bp);
            }
            VSTORE(VLOAD(0, S + c0) + s0, 0, S + c0);
            if (GEMM_NV > 1) VSTORE(VLOAD(1, S + c0) + s1, 1, S + c0);
            if (GEMM_NV > 2) VSTORE(VLOAD(2, S + c0) + s2, 2, S + c0);
            if (GEMM_NV > 3) VSTORE(VLOAD(3, S + c0) + s3, 3, S + c0);
        }
        return;
    }
    // Ragged right edge: whole vectors first (with NV = 4 a 288-wide product leaves 32 columns
    // here), then one column at a time, one row at a time.
    int cj = c0;
    for (; cj + GEMM_VW <= n; cj += GEMM_VW) {
        GEMM_ROWS(GEMM_RA)
        GEMM_ROWS(GEMM_DECL1)
        for (int p = 0; p < k; p++) {
            const VEC bv = VLOAD(0, B + p * sbp + cj);
            GEMM_ROWS(GEMM_FMA1)
        }
        GEMM_ROWS(GEMM_STORE1)
    }
    for (int i = 0; i < TM && r0 + i < m; i++) {
        global const float* a = A + (r0 + i) * sar;
        for (int j = cj; j < n; j++) {
            float acc = 0.0f;
            for (int p = 0; p < k; p++) acc = fma(a[p * sap], B[p * sbp + j], acc);
            global float* out = C + (r0 + i) * n + j;
            float o = gemm_out(acc, alpha, beta, out, bias + j, has_bias);
            if (GELU == 2) { const float x = G[(r0 + i) * n + j], t = GELU_TANH(x); o = GELU_GRAD(x, t) * o; }
            *out = o;
            if (GELU == 1) G[(r0 + i) * n + j] = GELU_OF(o);
        }
    }
    if (COLSUM && r0 == 0) {
        for (int j = c0; j < n; j++) {
            float s = 0.0f;
            for (int p = 0; p < k; p++) s += B[p * sbp + j];
            S[j] += s;
        }
    }
}

// out[p, j] = in[j, p] for a rows x cols input: turns a transposed op(B) into the row-major
// layout gemm_rowvec reads with vector loads (O(n·k) copies against O(m·n·k) math).
kernel void transpose(global const float* in, long in_off, global float* out, long out_off, int rows, int cols)
{
    const int c = get_global_id(0), r = get_global_id(1);
    if (r >= rows || c >= cols) return;
    out[out_off + c * rows + r] = in[in_off + r * cols + c];
}

#define GEMM_ARGS int m, int n, int k, float alpha, float beta, \
    global const float* A, long A_off, global const float* B, long B_off, \
    global float* C, long C_off, global const float* bias, long bias_off, int has_bias
// op(A)[r,p]: A[r*k + p] (N) or A[p*m + r] (T); B[p*n + j] always (a transposed op(B) is first
// turned row-major by `transpose`). Grid: (n / (GEMM_VW·GEMM_NV), m / GEMM_TM), rounded up.
kernel void gemm_nn(GEMM_ARGS, int rows_first) { gemm_rowvec(m, n, k, alpha, beta, A + A_off, k, 1, B + B_off, n, C + C_off, bias + bias_off, has_bias, GEMM_TM, C, 0, C, 0, rows_first); }
// A slice of k (columns p0.. of A, `lda` apart: launchSliced) when k is long: the LM head's
// input gradient sums over the whole vocabulary.
kernel void gemm_nn_sliced(GEMM_ARGS, int lda, int rows_first) { gemm_rowvec(m, n, k, alpha, beta, A + A_off, lda, 1, B + B_off, n, C + C_off, bias + bias_off, has_bias, GEMM_TM, C, 0, C, 0, rows_first); }
kernel void gemm_tn(GEMM_ARGS, int rows_first) { gemm_rowvec(m, n, k, alpha, beta, A + A_off, 1, m, B + B_off, n, C + C_off, bias + bias_off, has_bias, GEMM_TM, C, 0, C, 0, rows_first); }
// One row per work-item: for the few-row products of token-by-token generation, where a
// GEMM_TM-row tile would mostly recompute clamped rows.
kernel void gemm_nn_1(GEMM_ARGS) { gemm_rowvec(m, n, k, alpha, beta, A + A_off, k, 1, B + B_off, n, C + C_off, bias + bias_off, has_bias, 1, C, 0, C, 0, 0); }
kernel void gemm_tn_1(GEMM_ARGS) { gemm_rowvec(m, n, k, alpha, beta, A + A_off, 1, m, B + B_off, n, C + C_off, bias + bias_off, has_bias, 1, C, 0, C, 0, 0); }
// C = alpha · A · Bᵀ (+ beta · C) (+ bias) for a few rows of A — token-by-token decoding through
// the tied LM head (B = wte, [n, k]) — without transposing B first: both operands are read along
// k, so each work-item takes one (row, column) pair and forms one dot product with vector loads.
// Transposing B for every token cost as much as the product itself (73% of decode time at a
// 32000-token vocabulary).
// A work-item takes `run` consecutive columns (rows of B): on a CPU a few long runs stream B
// from memory front to back, as an OpenMP loop would (one column per work-item left PoCL's
// workers hopping between rows); on a GPU run = 1.
kernel void gemm_nt_rows(GEMM_ARGS, int run)
{
    const int j0 = get_global_id(0) * run, r = get_global_id(1);
    if (j0 >= n || r >= m) return;
    global const float* a = A + A_off + r * k;
    const int j1 = min(n, j0 + run);
    for (int j = j0; j < j1; j++) {
        global const float* b = B + B_off + j * k;
        // Two vectors of running sums (two chains of FMAs, not one: a row is only 18-48 of
        // them), their lanes folded at the end (VSUM), the ragged tail scalar.
        VEC acc0 = (VEC)(0.0f), acc1 = (VEC)(0.0f);
        int p = 0;
        for (; p + 2 * GEMM_VW <= k; p += 2 * GEMM_VW) {
            acc0 = fma(VLOAD(0, a + p), VLOAD(0, b + p), acc0);
            acc1 = fma(VLOAD(1, a + p), VLOAD(1, b + p), acc1);
        }
        if (p + GEMM_VW <= k) { acc0 = fma(VLOAD(0, a + p), VLOAD(0, b + p), acc0); p += GEMM_VW; }
        float s = VSUM(acc0 + acc1);
        for (; p < k; p++) s = fma(a[p], b[p], s);
        global float* out = C + C_off + r * n + j;
        *out = gemm_out(s, alpha, beta, out, bias + bias_off + j, has_bias);
    }
}

// The MLP's first product with its activation fused in: C = A·B + bias (the pre-activation the
// backward needs) and G = GELU(C), in one pass instead of a second launch over C.
kernel void gemm_nn_gelu(GEMM_ARGS, global float* G, long G_off, int rows_first) {
    gemm_rowvec(m, n, k, alpha, beta, A + A_off, k, 1, B + B_off, n, C + C_off, bias + bias_off, has_bias, GEMM_TM, G + G_off, 1, C, 0, rows_first);
}

// The gradient through the MLP's activation in the product that makes it:
// C = (A·B) · GELU'(P) elementwise, P the pre-activation, instead of a second pass over C.
kernel void gemm_nn_gelu_backward(GEMM_ARGS, global float* P, long P_off, int rows_first) {
    gemm_rowvec(m, n, k, alpha, beta, A + A_off, k, 1, B + B_off, n, C + C_off, bias + bias_off, has_bias, GEMM_TM, P + P_off, 2, C, 0, rows_first);
}

// A weight gradient and its bias gradient in one launch: C = alpha·Aᵀ·B + beta·C and
// S[j] += Σ_p B[p, j] (A the layer's input, B its output gradient).
kernel void gemm_tn_colsum(GEMM_ARGS, global float* S, long S_off, int rows_first) {
    gemm_rowvec(m, n, k, alpha, beta, A + A_off, 1, m, B + B_off, n, C + C_off, bias + bias_off, has_bias, GEMM_TM, C, 0, S + S_off, 1, rows_first);
}

// Σ x[r, c] over rows start, start + step, … (one work-item: 0, 1; a GPU work-group splits the
// rows, norm_rows.cl).
static inline float column_sum(global const float* x, int c, int rows, int cols, int start, int step)
{
    float s = 0.0f;
    for (int r = start; r < rows; r += step) s += x[r * cols + c];
    return s;
}

// dbias[c] += sum over rows of dout[r, c]. One work-item per column: no atomics, deterministic.
kernel void bias_backward(global const float* dout, long dout_off, global float* dbias, long dbias_off,
                          int rows, int cols)
{
    const int c = get_global_id(0);
    if (c >= cols) return;
    dbias[dbias_off + c] += column_sum(dout + dout_off, c, rows, cols, 0, 1);
}
