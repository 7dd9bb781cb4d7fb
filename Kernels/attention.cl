// Multi-head scaled dot-product attention, flash style: one work-item per (batch, head,
// query) row, an online softmax (running max and sum, the output rescaled when the max
// grows), and no T×T matrix anywhere. The forward keeps only each row's log-sum-exp of the
// scores, lse[B,H,tq]; the backward recomputes the probabilities from it, so memory grows
// linearly in T. Strides say where q, k and v live, so the same kernel reads the fused
// training activation [B,T,3C] or the KV cache [B,maxT,C] during generation.

kernel void attention_forward(global const float* q, int q_off, global const float* k, int k_off,
                              global const float* v, int v_off, global float* out, int out_off,
                              global float* lse, int lse_off,
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
kernel void attention_backward_query(global const float* dout, int dout_off, global const float* qkv, int qkv_off,
                                     global const float* out, int out_off, global const float* lse, int lse_off,
                                     global float* dqkv, int dqkv_off, global float* dsum, int dsum_off,
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
    float D = 0.0f;
    for (int d = 0; d < hd; d++) D += di[d] * oi[d];
    dsum[dsum_off + bh * T + i] = D;
    const float L = lse[lse_off + bh * T + i];
    const int visible = causal ? i + 1 : T;
    global float* dq = dqkv + dqkv_off + (b * T + i) * rs + h * hd;
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
kernel void attention_backward_key(global const float* dout, int dout_off, global const float* qkv, int qkv_off,
                                   global const float* lse, int lse_off, global const float* dsum, int dsum_off,
                                   global float* dqkv, int dqkv_off,
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
