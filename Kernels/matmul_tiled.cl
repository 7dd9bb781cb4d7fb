// The GEMM for GPUs: the same products as matmul.cl (C = alpha · op(A) · B + beta · C + bias,
// optionally GELU), but a work-group of TT_RTS × TT_RTS work-items shares a TT_TS × TT_TS tile
// of C and stages TT_KT-deep slices of A and B in local memory, so each element of A and B is
// read from global memory once per tile instead of once per work-item. Each work-item computes
// TT_WPT × TT_WPT outputs strided by TT_RTS (neighbouring work-items touch neighbouring
// columns: coalesced loads and stores, no local-memory bank conflicts on B). Chosen per device
// by `foundry kernels tune` (GT=1); CPUs keep the register-blocked kernel, which needs no
// barriers.
#define TT_TS 64
#define TT_TS_LOG2 6
#define TT_WPT 4
#define TT_RTS (TT_TS / TT_WPT)
#define TT_KT 16
#define TT_KT_LOG2 4

// op(A)[r, p] = A[r * sar + p * sap]; B[p, j] = B[p * n + j]. Every work-item reaches every
// barrier: out-of-range rows and columns load zeros and store nothing.
static inline void gemm_tiled_body(int m, int n, int k, float alpha, float beta,
                                   global const float* A, const int sar, const int sap, global const float* B,
                                   global float* C, global const float* bias, int has_bias, global float* G, const int GELU,
                                   local float* As, local float* Bs)
{
    const int tx = get_local_id(0), ty = get_local_id(1), t = ty * TT_RTS + tx;
    const int col0 = get_group_id(0) * TT_TS, row0 = get_group_id(1) * TT_TS;
    float acc[TT_WPT][TT_WPT];
    for (int i = 0; i < TT_WPT; i++) for (int j = 0; j < TT_WPT; j++) acc[i][j] = 0.0f;
    for (int p0 = 0; p0 < k; p0 += TT_KT) {
        // Stage As[kk][rr] = op(A)[row0 + rr, p0 + kk] and Bs[kk][cc] = B[p0 + kk, col0 + cc]:
        // TT_KT × TT_TS elements each, TT_RTS² work-items, read along memory's unit stride.
        // (Shifts and masks, not / and %: oclgrind cannot check the "freeze" LLVM emits for a
        // division and remainder of the same operands.)
        for (int e = t; e < TT_KT * TT_TS; e += TT_RTS * TT_RTS) {
            const int e_kt = e >> TT_KT_LOG2, e_kt_rem = e & (TT_KT - 1);
            const int e_ts = e >> TT_TS_LOG2, e_ts_rem = e & (TT_TS - 1);
            const int kk = sap == 1 ? e_kt_rem : e_ts;
            const int rr = sap == 1 ? e_kt : e_ts_rem;
            const int r = row0 + rr, p = p0 + kk;
            As[kk * TT_TS + rr] = (r < m && p < k) ? A[r * sar + p * sap] : 0.0f;
            const int kb = e_ts, cc = e_ts_rem, pb = p0 + kb, c = col0 + cc;
            Bs[kb * TT_TS + cc] = (pb < k && c < n) ? B[pb * n + c] : 0.0f;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int kk = 0; kk < TT_KT; kk++) {
            float a[TT_WPT], b[TT_WPT];
            for (int i = 0; i < TT_WPT; i++) a[i] = As[kk * TT_TS + ty + i * TT_RTS];
            for (int j = 0; j < TT_WPT; j++) b[j] = Bs[kk * TT_TS + tx + j * TT_RTS];
            for (int i = 0; i < TT_WPT; i++) for (int j = 0; j < TT_WPT; j++) acc[i][j] = fma(a[i], b[j], acc[i][j]);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    for (int i = 0; i < TT_WPT; i++) {
        const int r = row0 + ty + i * TT_RTS;
        for (int j = 0; j < TT_WPT; j++) {
            const int c = col0 + tx + j * TT_RTS;
            if (r < m && c < n) {
                global float* out = C + r * n + c;
                const float v = gemm_out(acc[i][j], alpha, beta, out, bias + c, has_bias);
                *out = v;
                if (GELU) G[r * n + c] = GELU_OF(v);
            }
        }
    }
}

#define TT_LOCALS local float As[TT_KT * TT_TS]; local float Bs[TT_KT * TT_TS];
// Grid: (ceil(n / TT_TS) · TT_RTS, ceil(m / TT_TS) · TT_RTS), work-groups TT_RTS × TT_RTS.
kernel void gemm_tiled_nn(GEMM_ARGS) {
    TT_LOCALS
    gemm_tiled_body(m, n, k, alpha, beta, A + A_off, k, 1, B + B_off, C + C_off, bias + bias_off, has_bias, C, 0, As, Bs);
}
kernel void gemm_tiled_tn(GEMM_ARGS) {
    TT_LOCALS
    gemm_tiled_body(m, n, k, alpha, beta, A + A_off, 1, m, B + B_off, C + C_off, bias + bias_off, has_bias, C, 0, As, Bs);
}
kernel void gemm_tiled_nn_gelu(GEMM_ARGS, global float* G, long G_off) {
    TT_LOCALS
    gemm_tiled_body(m, n, k, alpha, beta, A + A_off, k, 1, B + B_off, C + C_off, bias + bias_off, has_bias, G + G_off, 1, As, Bs);
}
