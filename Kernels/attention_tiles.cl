// Attention forward as two small GEMMs per tile, for CPUs: a work-item takes AQ queries of one
// (batch, head) and walks the keys in blocks of GEMM_VW, the vector width the GEMM uses.
//   scores:  S[r, j] = q_r · k_j, a vector of GEMM_VW keys per query row, from a transposed copy
//            of the keys (kt[bh][d][key]: keys contiguous), so no horizontal sum per key;
//   softmax: one max, one rescale and one vector exp per row and block (the row kernel pays a
//            scalar exp and a branch per key);
//   output:  O[r, :] += p_rj v_j, rows of v as vectors (the GEMM micro-kernel's shape).
// The same online softmax and log-sum-exp as attention_forward (attention.cl), whose backward
// kernels read `lse`.
#define AQ 4
// The most vectors in a row of q, k, v (hd / GEMM_VW). Loops over a row run to this constant,
// guarded by NC: PoCL unrolls them only with a constant trip count, and without unrolling the
// accumulators stay in memory (a load and a store around every FMA).
#define ATT_MAXNC 8

#if GEMM_VW == 16
#define ATT_LANES (float16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
#elif GEMM_VW == 8
#define ATT_LANES (float8)(0, 1, 2, 3, 4, 5, 6, 7)
#elif GEMM_VW == 4
#define ATT_LANES (float4)(0, 1, 2, 3)
#else
#define ATT_LANES (float2)(0, 1)
#endif

// kt[(bh·hd + d)·ldk + j] = k[b, j, h, d] for j < tk, 0 up to ldk (a multiple of GEMM_VW).
// One work-item per row of kt (one division each, not one per element), its writes contiguous.
kernel void attention_keys_transposed(global const float* k, long k_off, global float* kt, long kt_off,
                                      int heads, int hd, int tk, int kv_bs, int kv_rs, int ldk, int rows)
{
    const int row = get_global_id(0);   // row = bh·hd + d
    if (row >= rows) return;
    const int bh = row / hd, d = row - bh * hd, b = bh / heads, h = bh - b * heads;
    global const float* src = k + k_off + b * kv_bs + h * hd + d;
    global float* dst = kt + kt_off + (long)row * ldk;
    for (int j = 0; j < tk; j++) dst[j] = src[j * kv_rs];
    for (int j = tk; j < ldk; j++) dst[j] = 0.0f;
}


#define ATT_ROWS(X) X(0) X(1) X(2) X(3)

// NC = hd / GEMM_VW vectors per row of v and out, a literal at each call (see the dispatch).
static inline void att_tile_forward(global const float* q, global const float* kt, global const float* v, global float* out,
                                    global float* lse, int hd, int tq, int tk, int q_rs, int kv_rs, int o_rs, int ldk,
                                    int i0, int query_start, int causal, float scale, const int NC)
{
    VEC o[AQ][8];
    float mx[AQ], l[AQ];
    int vis[AQ];
    #pragma unroll
    for (int r = 0; r < AQ; r++) {
        #pragma unroll
        for (int c = 0; c < ATT_MAXNC; c++) if (c < NC) o[r][c] = (VEC)(0.0f);
        mx[r] = -INFINITY; l[r] = 0.0f;
        const int i = min(i0 + r, tq - 1);
        vis[r] = causal ? min(tk, query_start + i + 1) : tk;
    }
    const int last = max(max(vis[0], vis[1]), max(vis[2], vis[3]));
    global const float* q0 = q + min(i0, tq - 1) * q_rs;
    global const float* q1 = q + min(i0 + 1, tq - 1) * q_rs;
    global const float* q2 = q + min(i0 + 2, tq - 1) * q_rs;
    global const float* q3 = q + min(i0 + 3, tq - 1) * q_rs;
    for (int j0 = 0; j0 < last; j0 += GEMM_VW) {
        VEC s[AQ];
        #pragma unroll
        for (int r = 0; r < AQ; r++) s[r] = (VEC)(0.0f);
        global const float* kd = kt + j0;
        for (int d = 0; d < hd; d++, kd += ldk) {
            const VEC kv = VLOAD(0, kd);
            s[0] = fma((VEC)(q0[d]), kv, s[0]); s[1] = fma((VEC)(q1[d]), kv, s[1]);
            s[2] = fma((VEC)(q2[d]), kv, s[2]); s[3] = fma((VEC)(q3[d]), kv, s[3]);
        }
        const VEC jv = (VEC)((float)j0) + ATT_LANES;
        float p[AQ][GEMM_VW];
        #pragma unroll
        for (int r = 0; r < AQ; r++) {
            const VEC sr = select(s[r] * scale, (VEC)(-INFINITY), isgreaterequal(jv, (VEC)((float)vis[r])));
            const float m = fmax(mx[r], VMAX(sr));
            const float rescale = exp(mx[r] - m);
            const VEC pr = exp(sr - m);
            l[r] = l[r] * rescale + VSUM(pr);
            #pragma unroll
            for (int c = 0; c < ATT_MAXNC; c++) if (c < NC) o[r][c] *= rescale;
            mx[r] = m;
            VSTORE(pr, 0, p[r]);
        }
        const int kb = min(GEMM_VW, last - j0);
        for (int jj = 0; jj < kb; jj++) {
            global const float* vj = v + (j0 + jj) * kv_rs;
            #pragma unroll
            for (int c = 0; c < ATT_MAXNC; c++) if (c < NC) {
                const VEC vv = VLOAD(c, vj);
                #pragma unroll
                for (int r = 0; r < AQ; r++) o[r][c] = fma((VEC)(p[r][jj]), vv, o[r][c]);
            }
        }
    }
    #pragma unroll
    for (int r = 0; r < AQ; r++) {
        if (i0 + r >= tq) break;
        const float inv = 1.0f / l[r];
        #pragma unroll
        for (int c = 0; c < ATT_MAXNC; c++) if (c < NC) VSTORE(o[r][c] * inv, c, out + (i0 + r) * o_rs);
        lse[i0 + r] = mx[r] + log(l[r]);
    }
}

// Grid: (ceil(tq / AQ), batch·heads). hd a multiple of GEMM_VW, at most 8·GEMM_VW.
kernel void attention_forward_tiles(global const float* q, long q_off, global const float* kt, long kt_off,
                                    global const float* v, long v_off, global float* out, long out_off,
                                    global float* lse, long lse_off,
                                    int batch, int heads, int hd, int tq, int tk,
                                    int q_bs, int q_rs, int kv_bs, int kv_rs, int o_bs, int o_rs,
                                    int query_start, int causal, int ldk)
{
    const int i0 = get_global_id(0) * AQ, bh = get_global_id(1);
    if (i0 >= tq || bh >= batch * heads) return;
    const int b = bh / heads, h = bh - b * heads;
    const float scale = rsqrt((float)hd);
#define TILE(NC) att_tile_forward(q + q_off + b * q_bs + h * hd, kt + kt_off + (long)bh * hd * ldk, v + v_off + b * kv_bs + h * hd, \
                                  out + out_off + b * o_bs + h * hd, lse + lse_off + bh * tq, hd, tq, tk, q_rs, kv_rs, o_rs, ldk, \
                                  i0, query_start, causal, scale, NC)
    switch (hd / GEMM_VW) {
    case 1: TILE(1); break; case 2: TILE(2); break; case 3: TILE(3); break; case 4: TILE(4); break;
    case 5: TILE(5); break; case 6: TILE(6); break; case 7: TILE(7); break; default: TILE(8); break;
    }
#undef TILE
}

// Backward pass 1 as tiles (see attention_backward_query in attention.cl for the math): for AQ
// query rows, D_r = dout_r · out_r (kept in dsum for pass 2) and
// dq_r = scale Σ_j p_rj (dp_rj - D_r) k_j, with the scores and dp_rj = dout_r · v_j computed a
// block of GEMM_VW keys at a time from transposed keys and values (kt, vt: [bh][d][key]).
static inline void att_tile_backward_query(global const float* x, global const float* dout, global const float* outp,
                                           global const float* lse, global float* dq, global float* dsum,
                                           global const float* kt, global const float* vt,
                                           int hd, int T, int rs, int C, int o_rs, int ldk, int i0, int causal,
                                           float scale, const int NC)
{
    VEC g[AQ][8];
    float L[AQ], D[AQ];
    int vis[AQ];
    global const float* qr[AQ];
    global const float* dr[AQ];
    #pragma unroll
    for (int r = 0; r < AQ; r++) {
        const int i = min(i0 + r, T - 1);
        #pragma unroll
        for (int c = 0; c < ATT_MAXNC; c++) if (c < NC) g[r][c] = (VEC)(0.0f);
        vis[r] = causal ? i + 1 : T;
        L[r] = lse[i];
        qr[r] = x + i * rs;
        dr[r] = dout + i * o_rs;
        float s = 0.0f;
        for (int d = 0; d < hd; d++) s += dr[r][d] * outp[i * o_rs + d];
        D[r] = s;
    }
    const int last = max(max(vis[0], vis[1]), max(vis[2], vis[3]));
    for (int j0 = 0; j0 < last; j0 += GEMM_VW) {
        VEC s[AQ], dp[AQ];
        #pragma unroll
        for (int r = 0; r < AQ; r++) { s[r] = (VEC)(0.0f); dp[r] = (VEC)(0.0f); }
        global const float* kd = kt + j0;
        global const float* vd = vt + j0;
        for (int d = 0; d < hd; d++, kd += ldk, vd += ldk) {
            const VEC kv = VLOAD(0, kd), vv = VLOAD(0, vd);
            #pragma unroll
            for (int r = 0; r < AQ; r++) {
                s[r] = fma((VEC)(qr[r][d]), kv, s[r]);
                dp[r] = fma((VEC)(dr[r][d]), vv, dp[r]);
            }
        }
        const VEC jv = (VEC)((float)j0) + ATT_LANES;
        float w[AQ][GEMM_VW];
        #pragma unroll
        for (int r = 0; r < AQ; r++) {
            const VEC sr = select(s[r] * scale - L[r], (VEC)(-INFINITY), isgreaterequal(jv, (VEC)((float)vis[r])));
            VSTORE(exp(sr) * (dp[r] - D[r]) * scale, 0, w[r]);
        }
        const int kb = min(GEMM_VW, last - j0);
        for (int jj = 0; jj < kb; jj++) {
            global const float* kj = x + C + (j0 + jj) * rs;
            #pragma unroll
            for (int c = 0; c < ATT_MAXNC; c++) if (c < NC) {
                const VEC kv = VLOAD(c, kj);
                #pragma unroll
                for (int r = 0; r < AQ; r++) g[r][c] = fma((VEC)(w[r][jj]), kv, g[r][c]);
            }
        }
    }
    #pragma unroll
    for (int r = 0; r < AQ; r++) {
        if (i0 + r >= T) break;
        dsum[i0 + r] = D[r];
        #pragma unroll
        for (int c = 0; c < ATT_MAXNC; c++) if (c < NC) VSTORE(g[r][c], c, dq + (i0 + r) * rs);
    }
}

// Grid: (ceil(T / AQ), batch·heads); the fused training layout, as attention_backward_query.
kernel void attention_backward_query_tiles(global const float* dout, long dout_off, global const float* qkv, long qkv_off,
                                           global const float* out, long out_off, global const float* lse, long lse_off,
                                           global float* dqkv, long dqkv_off, global float* dsum, long dsum_off,
                                           global const float* kt, long kt_off, global const float* vt, long vt_off,
                                           int batch, int heads, int hd, int T, int o_bs, int o_rs, int causal, int ldk)
{
    const int i0 = get_global_id(0) * AQ, bh = get_global_id(1);
    if (i0 >= T || bh >= batch * heads) return;
    const int b = bh / heads, h = bh - b * heads, C = heads * hd, rs = 3 * C;
    const float scale = rsqrt((float)hd);
#define TILE(NC) att_tile_backward_query(qkv + qkv_off + b * T * rs + h * hd, dout + dout_off + b * o_bs + h * hd, \
                                         out + out_off + b * o_bs + h * hd, lse + lse_off + bh * T, \
                                         dqkv + dqkv_off + b * T * rs + h * hd, dsum + dsum_off + bh * T, \
                                         kt + kt_off + (long)bh * hd * ldk, vt + vt_off + (long)bh * hd * ldk, \
                                         hd, T, rs, C, o_rs, ldk, i0, causal, scale, NC)
    switch (hd / GEMM_VW) {
    case 1: TILE(1); break; case 2: TILE(2); break; case 3: TILE(3); break; case 4: TILE(4); break;
    case 5: TILE(5); break; case 6: TILE(6); break; case 7: TILE(7); break; default: TILE(8); break;
    }
#undef TILE
}

// Backward pass 2 as tiles (see attention_backward_key in attention.cl for the math): for AQ key
// rows j_r, the queries that see them in blocks of GEMM_VW, from transposed queries and output
// gradients (qt, dt: [bh][d][query]), so the scores s_rj = k_r · q_i and dp_rj = v_r · dout_i come
// a vector of queries at a time; then dk_r += scale p (dp - D_i) q_i and dv_r += p dout_i, rows
// of q and dout as vectors. Masked queries (before the key, or past T) get p = 0.
static inline void att_tile_backward_key(global const float* x, global const float* dout, global const float* lse,
                                         global const float* dsum, global float* dx, global const float* qt, global const float* dt,
                                         int hd, int T, int rs, int C, int o_rs, int ldk, int j0, int causal,
                                         float scale, const int NC)
{
    VEC gk[AQ][8], gv[AQ][8];
    global const float* kr[AQ];
    global const float* vr[AQ];
    int first[AQ];
    #pragma unroll
    for (int r = 0; r < AQ; r++) {
        const int j = min(j0 + r, T - 1);
        kr[r] = x + C + j * rs;
        vr[r] = kr[r] + C;
        first[r] = causal ? j : 0;
        #pragma unroll
        for (int c = 0; c < ATT_MAXNC; c++) if (c < NC) { gk[r][c] = (VEC)(0.0f); gv[r][c] = (VEC)(0.0f); }
    }
    const VEC end = (VEC)((float)T);
    for (int i0 = causal ? j0 / GEMM_VW * GEMM_VW : 0; i0 < T; i0 += GEMM_VW) {
        VEC s[AQ], dp[AQ];
        #pragma unroll
        for (int r = 0; r < AQ; r++) { s[r] = (VEC)(0.0f); dp[r] = (VEC)(0.0f); }
        global const float* qd = qt + i0;
        global const float* dd = dt + i0;
        for (int d = 0; d < hd; d++, qd += ldk, dd += ldk) {
            const VEC qv = VLOAD(0, qd), ov = VLOAD(0, dd);
            #pragma unroll
            for (int r = 0; r < AQ; r++) {
                s[r] = fma((VEC)(kr[r][d]), qv, s[r]);
                dp[r] = fma((VEC)(vr[r][d]), ov, dp[r]);
            }
        }
        float lb[GEMM_VW], db[GEMM_VW];
        #pragma unroll
        for (int ii = 0; ii < GEMM_VW; ii++) {
            const int i = min(i0 + ii, T - 1);
            lb[ii] = lse[i]; db[ii] = dsum[i];
        }
        const VEC Lv = VLOAD(0, lb), Dv = VLOAD(0, db);
        const VEC iv = (VEC)((float)i0) + ATT_LANES;
        float p[AQ][GEMM_VW], w[AQ][GEMM_VW];
        #pragma unroll
        for (int r = 0; r < AQ; r++) {
            const VEC pr = select((VEC)(0.0f), exp(s[r] * scale - Lv), isgreaterequal(iv, (VEC)((float)first[r])) & isless(iv, end));
            VSTORE(pr, 0, p[r]);
            VSTORE(pr * (dp[r] - Dv) * scale, 0, w[r]);
        }
        const int kb = min(GEMM_VW, T - i0);
        for (int ii = 0; ii < kb; ii++) {
            global const float* qi = x + (i0 + ii) * rs;
            global const float* di = dout + (i0 + ii) * o_rs;
            #pragma unroll
            for (int c = 0; c < ATT_MAXNC; c++) if (c < NC) {
                const VEC qv = VLOAD(c, qi), ov = VLOAD(c, di);
                #pragma unroll
                for (int r = 0; r < AQ; r++) {
                    gk[r][c] = fma((VEC)(w[r][ii]), qv, gk[r][c]);
                    gv[r][c] = fma((VEC)(p[r][ii]), ov, gv[r][c]);
                }
            }
        }
    }
    #pragma unroll
    for (int r = 0; r < AQ; r++) {
        if (j0 + r >= T) break;
        global float* dk = dx + C + (j0 + r) * rs;
        #pragma unroll
        for (int c = 0; c < ATT_MAXNC; c++) if (c < NC) { VSTORE(gk[r][c], c, dk); VSTORE(gv[r][c], c, dk + C); }
    }
}

// Grid: (ceil(T / AQ), batch·heads); the fused training layout, as attention_backward_key.
kernel void attention_backward_key_tiles(global const float* dout, long dout_off, global const float* qkv, long qkv_off,
                                         global const float* lse, long lse_off, global const float* dsum, long dsum_off,
                                         global float* dqkv, long dqkv_off,
                                         global const float* qt, long qt_off, global const float* dt, long dt_off,
                                         int batch, int heads, int hd, int T, int o_bs, int o_rs, int causal, int ldk)
{
    const int j0 = get_global_id(0) * AQ, bh = get_global_id(1);
    if (j0 >= T || bh >= batch * heads) return;
    const int b = bh / heads, h = bh - b * heads, C = heads * hd, rs = 3 * C;
    const float scale = rsqrt((float)hd);
#define TILE(NC) att_tile_backward_key(qkv + qkv_off + b * T * rs + h * hd, dout + dout_off + b * o_bs + h * hd, \
                                       lse + lse_off + bh * T, dsum + dsum_off + bh * T, dqkv + dqkv_off + b * T * rs + h * hd, \
                                       qt + qt_off + (long)bh * hd * ldk, dt + dt_off + (long)bh * hd * ldk, \
                                       hd, T, rs, C, o_rs, ldk, j0, causal, scale, NC)
    switch (hd / GEMM_VW) {
    case 1: TILE(1); break; case 2: TILE(2); break; case 3: TILE(3); break; case 4: TILE(4); break;
    case 5: TILE(5); break; case 6: TILE(6); break; case 7: TILE(7); break; default: TILE(8); break;
    }
#undef TILE
}
