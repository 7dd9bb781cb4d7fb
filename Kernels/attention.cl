// Multi-head scaled dot-product attention, flash style: one work-item per (batch, head,
// query) row, an online softmax (running max and sum, the output rescaled when the max
// grows), and no T×T matrix anywhere. The forward keeps only each row's log-sum-exp of the
// scores, lse[B,H,tq]; the backward recomputes the probabilities from it, so memory grows
// linearly in T. Strides say where q, k and v live, so the same kernel reads the fused
// training activation [B,T,3C] or the KV cache [B,maxT,C] during generation.

// Fast paths for head widths that are a multiple of 8, up to 64 (every shape the presets and
// GPT-2 use): a row of q, k, v or dout is NC float8 vectors, and each work-item keeps its own
// rows and accumulators in registers instead of re-reading and re-writing global memory per key.
// NC is a literal at every call (the kernels switch on hd / 8), so the loops unroll and the
// arrays stay in registers; other head widths take the scalar loops below the switch.
#define ATT_MAXC 8
// Loops over a row's vectors run to ATT_MAXC, guarded by NC: PoCL unrolls only loops with a
// constant trip count, and rolled, the register arrays stay in memory.

static inline float att_hsum(float8 v) {
    // dot() with ones, not component reads (b.x): oclgrind's uninitialised-memory check crashes
    // on those, and a private array costs the backward 20% at T = 1024.
    return dot(v.lo + v.hi, (float4)(1.0f));
}

static inline float att_dot(const float8* x, global const float* y, const int NC) {
    float8 acc = x[0] * vload8(0, y);
    for (int c = 1; c < ATT_MAXC; c++) if (c < NC) acc = fma(x[c], vload8(c, y), acc);
    return att_hsum(acc);
}

static inline void att_forward_row(global const float* qi, global const float* kb, global const float* vb, int kv_rs,
                            global float* oi, global float* lse_i, int visible, float scale, const int NC)
{
    float8 q[ATT_MAXC], o[ATT_MAXC];
    for (int c = 0; c < ATT_MAXC; c++) if (c < NC) { q[c] = vload8(c, qi); o[c] = (float8)(0.0f); }
    float mx = -INFINITY, sum = 0.0f;
    for (int j = 0; j < visible; j++) {
        const float s = att_dot(q, kb + j * kv_rs, NC) * scale;
        if (s > mx) {
            const float r = exp(mx - s);
            sum *= r;
            for (int c = 0; c < ATT_MAXC; c++) if (c < NC) o[c] *= r;
            mx = s;
        }
        const float p = exp(s - mx);
        sum += p;
        global const float* vj = vb + j * kv_rs;
        for (int c = 0; c < ATT_MAXC; c++) if (c < NC) o[c] = fma((float8)(p), vload8(c, vj), o[c]);
    }
    const float inv = 1.0f / sum;
    for (int c = 0; c < ATT_MAXC; c++) if (c < NC) vstore8(o[c] * inv, c, oi);
    *lse_i = mx + log(sum);
}

static inline void att_backward_query_row(global const float* qi, global const float* di, global const float* oi,
                                   global const float* kb, int rs, int C, global float* dq,
                                   float L, global float* dsum_i, int visible, float scale, const int NC)
{
    float8 q[ATT_MAXC], d[ATT_MAXC], g[ATT_MAXC];
    float D = 0.0f;
    for (int c = 0; c < ATT_MAXC; c++) if (c < NC) {
        q[c] = vload8(c, qi); d[c] = vload8(c, di); g[c] = (float8)(0.0f);
        D += att_hsum(d[c] * vload8(c, oi));
    }
    *dsum_i = D;
    for (int j = 0; j < visible; j++) {
        global const float* kj = kb + j * rs;
        const float s = att_dot(q, kj, NC), dp = att_dot(d, kj + C, NC);
        const float w = exp(s * scale - L) * (dp - D) * scale;
        for (int c = 0; c < ATT_MAXC; c++) if (c < NC) g[c] = fma((float8)(w), vload8(c, kj), g[c]);
    }
    for (int c = 0; c < ATT_MAXC; c++) if (c < NC) vstore8(g[c], c, dq);
}

static inline void att_backward_key_row(global const float* kj, global const float* vj, global const float* qb, int rs, global const float* db, int o_rs,
                                 global const float* lse_bh, global const float* dsum_bh, global float* dk, global float* dv,
                                 int first, int T, float scale, const int NC)
{
    float8 k[ATT_MAXC], v[ATT_MAXC], gk[ATT_MAXC], gv[ATT_MAXC];
    for (int c = 0; c < ATT_MAXC; c++) if (c < NC) {
        k[c] = vload8(c, kj); v[c] = vload8(c, vj);
        gk[c] = (float8)(0.0f); gv[c] = (float8)(0.0f);
    }
    for (int i = first; i < T; i++) {
        global const float* qi = qb + i * rs;
        global const float* di = db + i * o_rs;
        const float s = att_dot(k, qi, NC), dp = att_dot(v, di, NC);
        const float p = exp(s * scale - lse_bh[i]);
        const float w = p * (dp - dsum_bh[i]) * scale;
        for (int c = 0; c < ATT_MAXC; c++) if (c < NC) {
            gk[c] = fma((float8)(w), vload8(c, qi), gk[c]);
            gv[c] = fma((float8)(p), vload8(c, di), gv[c]);
        }
    }
    for (int c = 0; c < ATT_MAXC; c++) if (c < NC) { vstore8(gk[c], c, dk); vstore8(gv[c], c, dv); }
}

// Calls ROW(..., NC) with NC = hd / 8 as a literal, then returns; falls through for other widths.
#define ATT_DISPATCH(hd, CALL) \
    if ((hd) % 8 == 0 && (hd) <= 8 * ATT_MAXC) { \
        switch ((hd) / 8) { \
        case 1: CALL(1); return; case 2: CALL(2); return; case 3: CALL(3); return; case 4: CALL(4); return; \
        case 5: CALL(5); return; case 6: CALL(6); return; case 7: CALL(7); return; case 8: CALL(8); return; \
        } \
    }

kernel void attention_forward(global const float* q, long q_off, global const float* k, long k_off,
                              global const float* v, long v_off, global float* out, long out_off,
                              global float* lse, long lse_off,
                              int batch, int heads, int hd, int tq, int tk,
                              int q_bs, int q_rs, int kv_bs, int kv_rs, int o_bs, int o_rs,
                              int query_start, int causal)
{
    const int i = get_global_id(0), bh = get_global_id(1);
    if (i >= tq || bh >= batch * heads) return;
    const int b = bh / heads, h = bh - b * heads;   // not bh % heads: oclgrind cannot check the "freeze" LLVM emits for a div/rem pair
    const float scale = rsqrt((float)hd);
    global const float* qi = q + q_off + b * q_bs + i * q_rs + h * hd;
    global float* oi = out + out_off + b * o_bs + i * o_rs + h * hd;
    const int visible = causal ? min(tk, query_start + i + 1) : tk;
#define FWD(NC) att_forward_row(qi, k + k_off + b * kv_bs + h * hd, v + v_off + b * kv_bs + h * hd, kv_rs, \
                                oi, lse + lse_off + bh * tq + i, visible, scale, NC)
    ATT_DISPATCH(hd, FWD)
#undef FWD

    // Invariant after key j: oi = sum_{j'<=j} e^{s_j' - mx} v_j', sum = sum_{j'<=j} e^{s_j' - mx}.
    float mx = -INFINITY, sum = 0.0f;
    for (int d = 0; d < hd; d++) oi[d] = 0.0f;
    for (int j = 0; j < visible; j++) {
        global const float* kj = k + k_off + b * kv_bs + j * kv_rs + h * hd;
        global const float* vj = v + v_off + b * kv_bs + j * kv_rs + h * hd;
        float s = 0.0f;
        for (int d = 0; d < hd; d++) s += qi[d] * kj[d];
        s *= scale;
        if (s > mx) {
            // A new maximum: rescale what was accumulated (the first key: everything is 0).
            const float c = exp(mx - s);
            sum *= c;
            for (int d = 0; d < hd; d++) oi[d] *= c;
            mx = s;
        }
        const float p = exp(s - mx);
        sum += p;
        for (int d = 0; d < hd; d++) oi[d] += p * vj[d];
    }
    const float inv = 1.0f / sum;
    for (int d = 0; d < hd; d++) oi[d] *= inv;
    lse[lse_off + bh * tq + i] = mx + log(sum);
}

// The probability p_ij = exp(s_ij - lse_i) and dp_ij = dout_i . v_j give the score gradient
// ds_ij = p_ij (dp_ij - D_i), with D_i = dout_i . out_i (= sum_j p_ij dp_ij).

// Backward pass 1, per query row i: D_i (kept in `dsum` for pass 2), then dq_i = scale sum_j ds_ij k_j.
// Fused layout: q, k, v at column 0, C, 2C of [B,T,3C]; causal rows see keys 0..i.
kernel void attention_backward_query(global const float* dout, long dout_off, global const float* qkv, long qkv_off,
                                     global const float* out, long out_off, global const float* lse, long lse_off,
                                     global float* dqkv, long dqkv_off, global float* dsum, long dsum_off,
                                     int batch, int heads, int hd, int T, int o_bs, int o_rs, int causal)
{
    const int i = get_global_id(0), bh = get_global_id(1);
    if (i >= T || bh >= batch * heads) return;
    const int b = bh / heads, h = bh - b * heads, C = heads * hd, rs = 3 * C;
    const float scale = rsqrt((float)hd);
    global const float* x = qkv + qkv_off + b * T * rs;
    global const float* qi = x + i * rs + h * hd;
    global const float* di = dout + dout_off + b * o_bs + i * o_rs + h * hd;
    global const float* oi = out + out_off + b * o_bs + i * o_rs + h * hd;
    const float L = lse[lse_off + bh * T + i];
    const int visible = causal ? i + 1 : T;
    global float* dq = dqkv + dqkv_off + (b * T + i) * rs + h * hd;
#define BWDQ(NC) att_backward_query_row(qi, di, oi, x + C + h * hd, rs, C, dq, L, dsum + dsum_off + bh * T + i, visible, scale, NC)
    ATT_DISPATCH(hd, BWDQ)
#undef BWDQ
    float D = 0.0f;
    for (int d = 0; d < hd; d++) D += di[d] * oi[d];
    dsum[dsum_off + bh * T + i] = D;
    for (int d = 0; d < hd; d++) dq[d] = 0.0f;
    for (int j = 0; j < visible; j++) {
        global const float* kj = x + j * rs + C + h * hd;
        global const float* vj = kj + C;
        float s = 0.0f, dp = 0.0f;
        for (int d = 0; d < hd; d++) { s += qi[d] * kj[d]; dp += di[d] * vj[d]; }
        const float w = exp(s * scale - L) * (dp - D) * scale;
        for (int d = 0; d < hd; d++) dq[d] += w * kj[d];
    }
}

// Backward pass 2, per key row j: dk_j = scale sum_i ds_ij q_i and dv_j = sum_i p_ij dout_i,
// gathered over the queries that see key j (no atomics).
kernel void attention_backward_key(global const float* dout, long dout_off, global const float* qkv, long qkv_off,
                                   global const float* lse, long lse_off, global const float* dsum, long dsum_off,
                                   global float* dqkv, long dqkv_off,
                                   int batch, int heads, int hd, int T, int o_bs, int o_rs, int causal)
{
    const int j = get_global_id(0), bh = get_global_id(1);
    if (j >= T || bh >= batch * heads) return;
    const int b = bh / heads, h = bh - b * heads, C = heads * hd, rs = 3 * C;
    const float scale = rsqrt((float)hd);
    global const float* x = qkv + qkv_off + b * T * rs;
    global const float* kj = x + j * rs + C + h * hd;
    global const float* vj = kj + C;
    global float* dk = dqkv + dqkv_off + (b * T + j) * rs + C + h * hd;
    global float* dv = dk + C;
#define BWDK(NC) att_backward_key_row(kj, vj, x + h * hd, rs, dout + dout_off + b * o_bs + h * hd, o_rs, lse + lse_off + bh * T, \
                                      dsum + dsum_off + bh * T, dk, dv, causal ? j : 0, T, scale, NC)
    ATT_DISPATCH(hd, BWDK)
#undef BWDK
    for (int d = 0; d < hd; d++) { dk[d] = 0.0f; dv[d] = 0.0f; }
    for (int i = causal ? j : 0; i < T; i++) {
        global const float* qi = x + i * rs + h * hd;
        global const float* di = dout + dout_off + b * o_bs + i * o_rs + h * hd;
        float s = 0.0f, dp = 0.0f;
        for (int d = 0; d < hd; d++) { s += qi[d] * kj[d]; dp += di[d] * vj[d]; }
        const float p = exp(s * scale - lse[lse_off + bh * T + i]);
        const float w = p * (dp - dsum[dsum_off + bh * T + i]) * scale;
        for (int d = 0; d < hd; d++) { dk[d] += w * qi[d]; dv[d] += p * di[d]; }
    }
}
