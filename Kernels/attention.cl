// Multi-head scaled dot-product attention, one work-item per (batch, head, query) row.
// The forward keeps the probabilities att[B,H,tq,tk] for the backward. Strides say where
// q, k and v live, so the same kernel reads the fused training activation [B,T,3C] or the
// KV cache [B,maxT,C] during generation.

kernel void attention_forward(global const float* q, int q_off, global const float* k, int k_off,
                              global const float* v, int v_off, global float* out, int out_off,
                              global float* att, int att_off,
                              int batch, int heads, int hd, int tq, int tk,
                              int q_bs, int q_rs, int kv_bs, int kv_rs, int o_bs, int o_rs,
                              int query_start, int causal)
{
    const int i = get_global_id(0), bh = get_global_id(1);
    if (i >= tq || bh >= batch * heads) return;
    const int b = bh / heads, h = bh - b * heads;   // not bh % heads: oclgrind cannot check the "freeze" LLVM emits for a div/rem pair
    const float scale = rsqrt((float)hd);
    global const float* qi = q + q_off + b * q_bs + i * q_rs + h * hd;
    global float* arow = att + att_off + (bh * tq + i) * tk;
    const int visible = causal ? min(tk, query_start + i + 1) : tk;

    float mx = -INFINITY;
    for (int j = 0; j < visible; j++) {
        global const float* kj = k + k_off + b * kv_bs + j * kv_rs + h * hd;
        float s = 0.0f;
        for (int d = 0; d < hd; d++) s += qi[d] * kj[d];
        s *= scale;
        arow[j] = s;
        mx = fmax(mx, s);
    }
    float sum = 0.0f;
    for (int j = 0; j < visible; j++) { const float e = exp(arow[j] - mx); arow[j] = e; sum += e; }
    const float inv = 1.0f / sum;
    for (int j = 0; j < visible; j++) arow[j] *= inv;
    for (int j = visible; j < tk; j++) arow[j] = 0.0f;

    // out_i = sum_j p_ij v_j, accumulated row by row so the inner loop runs along contiguous d.
    global float* oi = out + out_off + b * o_bs + i * o_rs + h * hd;
    for (int d = 0; d < hd; d++) oi[d] = 0.0f;
    for (int j = 0; j < visible; j++) {
        const float p = arow[j];
        global const float* vj = v + v_off + b * kv_bs + j * kv_rs + h * hd;
        for (int d = 0; d < hd; d++) oi[d] += p * vj[d];
    }
}

// Backward pass 1, per query row i: dscores = softmax'(att) . (dout_i . v_j), kept in `dpre`,
// then dq_i = scale * sum_j dscores[i,j] k_j. Fused layout: q, k, v at column 0, C, 2C of [B,T,3C].
kernel void attention_backward_query(global const float* dout, int dout_off, global const float* qkv, int qkv_off,
                                     global const float* att, int att_off, global float* dqkv, int dqkv_off,
                                     global float* dpre, int dpre_off,
                                     int batch, int heads, int hd, int T, int o_bs, int o_rs)
{
    const int i = get_global_id(0), bh = get_global_id(1);
    if (i >= T || bh >= batch * heads) return;
    const int b = bh / heads, h = bh - b * heads, C = heads * hd, rs = 3 * C;
    const float scale = rsqrt((float)hd);
    global const float* x = qkv + qkv_off + b * T * rs;
    global const float* arow = att + att_off + (bh * T + i) * T;
    global float* prow = dpre + dpre_off + (bh * T + i) * T;
    global const float* di = dout + dout_off + b * o_bs + i * o_rs + h * hd;

    // Keys with zero probability (masked by causality) contribute nothing: stop at the last
    // nonzero one. The probabilities beyond it are exact zeros, so dpre is zero there too.
    int visible = T;
    while (visible > 0 && arow[visible - 1] == 0.0f) visible--;
    float dot = 0.0f;
    for (int j = 0; j < visible; j++) {
        global const float* vj = x + j * rs + 2 * C + h * hd;
        float s = 0.0f;
        for (int d = 0; d < hd; d++) s += di[d] * vj[d];
        prow[j] = s;
        dot += arow[j] * s;
    }
    for (int j = 0; j < visible; j++) prow[j] = arow[j] * (prow[j] - dot);
    for (int j = visible; j < T; j++) prow[j] = 0.0f;
    global float* dq = dqkv + dqkv_off + (b * T + i) * rs + h * hd;
    for (int d = 0; d < hd; d++) dq[d] = 0.0f;
    for (int j = 0; j < visible; j++) {
        const float w = prow[j] * scale;
        global const float* kj = x + j * rs + C + h * hd;
        for (int d = 0; d < hd; d++) dq[d] += w * kj[d];
    }
}

// Backward pass 2, per key row j: dk_j and dv_j gather over all queries (no atomics).
kernel void attention_backward_key(global const float* dout, int dout_off, global const float* qkv, int qkv_off,
                                   global const float* att, int att_off, global float* dqkv, int dqkv_off,
                                   global const float* dpre, int dpre_off,
                                   int batch, int heads, int hd, int T, int o_bs, int o_rs)
{
    const int j = get_global_id(0), bh = get_global_id(1);
    if (j >= T || bh >= batch * heads) return;
    const int b = bh / heads, h = bh - b * heads, C = heads * hd, rs = 3 * C;
    const float scale = rsqrt((float)hd);
    global const float* x = qkv + qkv_off + b * T * rs;
    global float* dk = dqkv + dqkv_off + (b * T + j) * rs + C + h * hd;
    global float* dv = dk + C;
    for (int d = 0; d < hd; d++) { dk[d] = 0.0f; dv[d] = 0.0f; }
    // Query by query, so the inner loops run along contiguous d; queries whose probability
    // for this key is exactly zero (before it, under a causal mask) are skipped.
    for (int i = 0; i < T; i++) {
        const float a = att[att_off + (bh * T + i) * T + j];
        if (a == 0.0f) continue;
        const float p = dpre[dpre_off + (bh * T + i) * T + j] * scale;
        global const float* qi = x + i * rs + h * hd;
        global const float* di = dout + dout_off + b * o_bs + i * o_rs + h * hd;
        for (int d = 0; d < hd; d++) { dk[d] += p * qi[d]; dv[d] += a * di[d]; }
    }
}
