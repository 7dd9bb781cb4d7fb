// General matrix product, the engine's workhorse:
//   C[m,n] = alpha * op(A)[m,k] * op(B)[k,n] + beta * C + bias[n]
// One body serves the forward product and both transposed products of the backward.
// Each work-item owns a GEMM_TM x GEMM_TN block of C in registers (build options).
#ifndef GEMM_TM
#define GEMM_TM 4
#endif
#ifndef GEMM_TN
#define GEMM_TN 4
#endif

// The body, inlined into four kernels with the strides as compile-time constants, so the
// compiler sees unit strides and can vectorise. Out-of-range rows/columns read a clamped
// (valid) element and are simply not written: no branches in the inner loop.
inline void gemm_tile(int m, int n, int k, float alpha, float beta,
                      global const float* A, const int sar, const int sap,
                      global const float* B, const int sbp, const int sbj,
                      global float* C, global const float* bias, int has_bias)
{
    const int r0 = get_global_id(1) * GEMM_TM;
    const int c0 = get_global_id(0) * GEMM_TN;
    if (r0 >= m || c0 >= n) return;
    int ra[GEMM_TM], cb[GEMM_TN];
    for (int i = 0; i < GEMM_TM; i++) ra[i] = min(r0 + i, m - 1) * sar;
    for (int j = 0; j < GEMM_TN; j++) cb[j] = min(c0 + j, n - 1) * sbj;

    float acc[GEMM_TM][GEMM_TN];
    for (int i = 0; i < GEMM_TM; i++)
        for (int j = 0; j < GEMM_TN; j++) acc[i][j] = 0.0f;

    for (int p = 0; p < k; p++) {
        float a[GEMM_TM], b[GEMM_TN];
        for (int i = 0; i < GEMM_TM; i++) a[i] = A[ra[i] + p * sap];
        for (int j = 0; j < GEMM_TN; j++) b[j] = B[p * sbp + cb[j]];
        for (int i = 0; i < GEMM_TM; i++)
            for (int j = 0; j < GEMM_TN; j++) acc[i][j] = fma(a[i], b[j], acc[i][j]);
    }
    for (int i = 0; i < GEMM_TM; i++) {
        if (r0 + i >= m) break;
        for (int j = 0; j < GEMM_TN; j++) {
            if (c0 + j >= n) break;
            global float* out = C + (r0 + i) * n + c0 + j;
            float v = alpha * acc[i][j];
            if (beta != 0.0f) v += beta * *out;    // beta == 0: C may hold garbage, never read it
            if (has_bias) v += bias[c0 + j];
            *out = v;
        }
    }
}

#define GEMM_ARGS int m, int n, int k, float alpha, float beta, \
    global const float* A, int A_off, global const float* B, int B_off, \
    global float* C, int C_off, global const float* bias, int bias_off, int has_bias
// op(A)[r,p]: A[r*k + p] (N) or A[p*m + r] (T); op(B)[p,j]: B[p*n + j] (N) or B[j*k + p] (T).
kernel void gemm_nn(GEMM_ARGS) { gemm_tile(m, n, k, alpha, beta, A + A_off, k, 1, B + B_off, n, 1, C + C_off, bias + bias_off, has_bias); }
kernel void gemm_nt(GEMM_ARGS) { gemm_tile(m, n, k, alpha, beta, A + A_off, k, 1, B + B_off, 1, k, C + C_off, bias + bias_off, has_bias); }
kernel void gemm_tn(GEMM_ARGS) { gemm_tile(m, n, k, alpha, beta, A + A_off, 1, m, B + B_off, n, 1, C + C_off, bias + bias_off, has_bias); }
kernel void gemm_tt(GEMM_ARGS) { gemm_tile(m, n, k, alpha, beta, A + A_off, 1, m, B + B_off, 1, k, C + C_off, bias + bias_off, has_bias); }

// dbias[c] += sum over rows of dout[r, c]. One work-item per column: no atomics, deterministic.
kernel void bias_backward(global const float* dout, int dout_off, global float* dbias, int dbias_off,
                          int rows, int cols)
{
    const int c = get_global_id(0);
    if (c >= cols) return;
    dout += dout_off;
    float s = 0.0f;
    for (int r = 0; r < rows; r++) s += dout[r * cols + c];
    dbias[dbias_off + c] += s;
}
