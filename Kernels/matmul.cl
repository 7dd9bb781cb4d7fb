// General matrix product, the engine's workhorse:
//   C[m,n] = alpha * op(A)[m,k] * op(B)[k,n] + beta * C + bias[n]
// op(A)[r,p] lives at A[r*sar + p*sap] and op(B)[p,j] at B[p*sbp + j*sbj], so one kernel
// serves the forward product and both transposed products of the backward.
// Each work-item owns a GEMM_TM x GEMM_TN block of C in registers (build options).
#ifndef GEMM_TM
#define GEMM_TM 4
#endif
#ifndef GEMM_TN
#define GEMM_TN 4
#endif

kernel void gemm(int m, int n, int k, float alpha, float beta,
                 global const float* A, int A_off, int sar, int sap,
                 global const float* B, int B_off, int sbp, int sbj,
                 global float* C, int C_off,
                 global const float* bias, int bias_off, int has_bias)
{
    const int r0 = get_global_id(1) * GEMM_TM;
    const int c0 = get_global_id(0) * GEMM_TN;
    if (r0 >= m || c0 >= n) return;
    A += A_off; B += B_off; C += C_off; bias += bias_off;

    float acc[GEMM_TM][GEMM_TN];
    for (int i = 0; i < GEMM_TM; i++)
        for (int j = 0; j < GEMM_TN; j++) acc[i][j] = 0.0f;

    for (int p = 0; p < k; p++) {
        float a[GEMM_TM], b[GEMM_TN];
        for (int i = 0; i < GEMM_TM; i++) a[i] = (r0 + i < m) ? A[(r0 + i) * sar + p * sap] : 0.0f;
        for (int j = 0; j < GEMM_TN; j++) b[j] = (c0 + j < n) ? B[p * sbp + (c0 + j) * sbj] : 0.0f;
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
