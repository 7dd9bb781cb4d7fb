// LayerNorm over the last dimension, forward and backward (one work-item per row or column:
// deterministic reductions, no atomics). GPUs run them a work-group per row or per 16 columns
// instead (norm_rows.cl), through the same loops.

// The loops of one row's LayerNorm, over columns start, start + step, …: here one work-item
// takes the whole row (start 0, step 1); on GPUs a work-group splits it and adds the partial
// sums (norm_rows.cl). One definition of each loop for both.
static inline float ln_sum(global const float* x, int cols, int start, int step)
{
    float s = 0.0f;
    for (int c = start; c < cols; c += step) s += x[c];
    return s;
}

static inline float ln_sq_dev(global const float* x, float m, int cols, int start, int step)
{
    float v = 0.0f;
    for (int c = start; c < cols; c += step) { const float d = x[c] - m; v += d * d; }
    return v;
}

static inline void ln_apply(global const float* x, global float* o, global const float* w, global const float* b,
                            float m, float rs, int cols, int start, int step)
{
    for (int c = start; c < cols; c += step) o[c] = (x[c] - m) * rs * w[c] + b[c];
}

// The input gradient's two row sums: Σ w·dout and Σ w·dout·norm.
static inline float2 ln_dx_sums(global const float* d, global const float* x, global const float* w, float m, float s,
                                int cols, int start, int step)
{
    float md = 0.0f, mdn = 0.0f;
    for (int c = start; c < cols; c += step) {
        const float norm = (x[c] - m) * s, dnorm = w[c] * d[c];
        md += dnorm; mdn += dnorm * norm;
    }
    return (float2)(md, mdn);
}

// dx += (w·dout − mean(w·dout) − norm · mean(w·dout·norm)) · rstd.
static inline void ln_dx_add(global const float* d, global const float* x, global const float* w, float m, float s,
                             float md, float mdn, global float* dx, int cols, int start, int step)
{
    for (int c = start; c < cols; c += step) {
        const float norm = (x[c] - m) * s, dnorm = w[c] * d[c];
        dx[c] += (dnorm - md - norm * mdn) * s;
    }
}

// Column c's parameter-gradient sums over rows start, start + step, …: Σ dout·norm and Σ dout.
static inline float2 ln_param_sums(global const float* dout, global const float* inp, global const float* mean,
                                   global const float* rstd, int c, int rows, int cols, int start, int step)
{
    float sw = 0.0f, sb = 0.0f;
    for (int r = start; r < rows; r += step) {
        const float d = dout[r * cols + c];
        sw += d * (inp[r * cols + c] - mean[r]) * rstd[r];
        sb += d;
    }
    return (float2)(sw, sb);
}

// One row: out = (x - mean) * rstd * w + b, keeping the row's mean and rstd for the backward.
static inline void layernorm_row(global const float* x, global float* o, global const float* w, global const float* b,
                          global float* mean, global float* rstd, int cols, float eps)
{
    const float m = ln_sum(x, cols, 0, 1) / cols;
    const float rs = rsqrt(ln_sq_dev(x, m, cols, 0, 1) / cols + eps);
    ln_apply(x, o, w, b, m, rs, cols, 0, 1);
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
    const float2 sums = ln_dx_sums(d, x, w, m, s, cols, 0, 1);
    ln_dx_add(d, x, w, m, s, sums.x / cols, sums.y / cols, dx, cols, 0, 1);
}

// dweight += sum_r dout * norm, dbias += sum_r dout, per column.
kernel void layernorm_backward_params(global const float* dout, long dout_off, global const float* inp, long inp_off,
                                      global const float* mean, long mean_off, global const float* rstd, long rstd_off,
                                      global float* dw, long dw_off, global float* db, long db_off, int rows, int cols)
{
    const int c = get_global_id(0);
    if (c >= cols) return;
    const float2 sums = ln_param_sums(dout + dout_off, inp + inp_off, mean + mean_off, rstd + rstd_off, c, rows, cols, 0, 1);
    dw[dw_off + c] += sums.x;
    db[db_off + c] += sums.y;
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
