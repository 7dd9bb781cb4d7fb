// LayerNorm over the last dimension, forward and backward (one work-item per row or column:
// deterministic reductions, no atomics). GPUs run the forward and the input gradient a
// work-group per row instead (norm_rows.cl).

// One row: out = (x - mean) * rstd * w + b, keeping the row's mean and rstd for the backward.
static inline void layernorm_row(global const float* x, global float* o, global const float* w, global const float* b,
                          global float* mean, global float* rstd, int cols, float eps)
{
    float s = 0.0f;
    for (int c = 0; c < cols; c++) s += x[c];
    const float m = s / cols;
    float v = 0.0f;
    for (int c = 0; c < cols; c++) { const float d = x[c] - m; v += d * d; }
    const float rs = rsqrt(v / cols + eps);
    for (int c = 0; c < cols; c++) o[c] = (x[c] - m) * rs * w[c] + b[c];
    *mean = m;
    *rstd = rs;
}

kernel void layernorm_forward(global const float* inp, long inp_off, global const float* w, long w_off,
                              global const float* b, long b_off, global float* out, long out_off,
                              global float* mean, long mean_off, global float* rstd, long rstd_off,
                              int rows, int cols, float eps)
{
    const int r = get_global_id(0);
    if (r >= rows) return;
    layernorm_row(inp + inp_off + r * cols, out + out_off + r * cols, w + w_off, b + b_off,
                  mean + mean_off + r, rstd + rstd_off + r, cols, eps);
}

// A residual connection and the LayerNorm that reads it: sum = a + b (kept: the next residual
// and the backward read it), out = LayerNorm(sum); the same arithmetic as add + layernorm_forward.
kernel void residual_layernorm_forward(global const float* a, long a_off, global const float* b, long b_off,
                                       global float* sum, long sum_off, global const float* w, long w_off,
                                       global const float* bias, long bias_off, global float* out, long out_off,
                                       global float* mean, long mean_off, global float* rstd, long rstd_off,
                                       int rows, int cols, float eps)
{
    const int r = get_global_id(0);
    if (r >= rows) return;
    global const float* x = a + a_off + r * cols;
    global const float* y = b + b_off + r * cols;
    global float* z = sum + sum_off + r * cols;
    for (int c = 0; c < cols; c++) z[c] = x[c] + y[c];
    layernorm_row(z, out + out_off + r * cols, w + w_off, bias + bias_off, mean + mean_off + r, rstd + rstd_off + r, cols, eps);
}

// dinp += ..., per row.
kernel void layernorm_backward_input(global const float* dout, long dout_off, global const float* inp, long inp_off,
                                     global const float* w, long w_off, global const float* mean, long mean_off,
                                     global const float* rstd, long rstd_off, global float* dinp, long dinp_off,
                                     int rows, int cols)
{
    const int r = get_global_id(0);
    if (r >= rows) return;
    global const float* d = dout + dout_off + r * cols;
    global const float* x = inp + inp_off + r * cols;
    global float* dx = dinp + dinp_off + r * cols;
    w += w_off;
    const float m = mean[mean_off + r], s = rstd[rstd_off + r];
    float md = 0.0f, mdn = 0.0f;
    for (int c = 0; c < cols; c++) {
        const float norm = (x[c] - m) * s, dnorm = w[c] * d[c];
        md += dnorm; mdn += dnorm * norm;
    }
    md /= cols; mdn /= cols;
    for (int c = 0; c < cols; c++) {
        const float norm = (x[c] - m) * s, dnorm = w[c] * d[c];
        dx[c] += (dnorm - md - norm * mdn) * s;
    }
}

// dweight += sum_r dout * norm, dbias += sum_r dout, per column.
kernel void layernorm_backward_params(global const float* dout, long dout_off, global const float* inp, long inp_off,
                                      global const float* mean, long mean_off, global const float* rstd, long rstd_off,
                                      global float* dw, long dw_off, global float* db, long db_off, int rows, int cols)
{
    const int c = get_global_id(0);
    if (c >= cols) return;
    dout += dout_off; inp += inp_off; mean += mean_off; rstd += rstd_off;
    float sw = 0.0f, sb = 0.0f;
    for (int r = 0; r < rows; r++) {
        const float d = dout[r * cols + c];
        sw += d * (inp[r * cols + c] - mean[r]) * rstd[r];
        sb += d;
    }
    dw[dw_off + c] += sw;
    db[db_off + c] += sb;
}

// One work-group per row (ROW_WG work-items): the row's maximum and sum are group reductions.
kernel void softmax_rows(global const float* inp, long inp_off, global float* out, long out_off,
                         int cols, float temperature)
{
    local float buf[ROW_WG];
    const int r = get_group_id(0), l = get_local_id(0);   // one group per row: no early return
    global const float* x = inp + inp_off + r * cols;
    global float* o = out + out_off + r * cols;
    float mx = -INFINITY;
    for (int c = l; c < cols; c += ROW_WG) mx = fmax(mx, x[c]);
    mx = wg_max(buf, mx);
    float s = 0.0f;
    for (int c = l; c < cols; c += ROW_WG) { const float e = exp((x[c] - mx) / temperature); o[c] = e; s += e; }
    const float inv = 1.0f / wg_sum(buf, s);
    for (int c = l; c < cols; c += ROW_WG) o[c] *= inv;
}
