// LayerNorm for GPUs: the same arithmetic as norm.cl's one-work-item-per-row kernels, with a
// work-group of ROW_WG work-items per row whose sums are group reductions. A GPU gets B·T ×
// ROW_WG work-items instead of B·T (1024 for a GPT-2 sequence: a fraction of one wave), and
// neighbouring work-items read neighbouring columns. Used where launches take fixed work-groups
// (GPUs); CPUs keep norm.cl's kernels, whose sequential sums the CPU runtime vectorises across
// rows. Every work-item reaches every barrier; each touches only its own columns of the row.

// One row: out = (x - mean) * rstd * w + b; work-item 0 keeps the mean and rstd.
static void layernorm_row_group(global const float* x, global float* o, global const float* w, global const float* b,
                                global float* mean, global float* rstd, int cols, float eps, local float* buf)
{
    const int l = get_local_id(0);
    float s = 0.0f;
    for (int c = l; c < cols; c += ROW_WG) s += x[c];
    const float m = wg_sum(buf, s) / cols;
    float v = 0.0f;
    for (int c = l; c < cols; c += ROW_WG) { const float d = x[c] - m; v += d * d; }
    const float rs = rsqrt(wg_sum(buf, v) / cols + eps);
    for (int c = l; c < cols; c += ROW_WG) o[c] = (x[c] - m) * rs * w[c] + b[c];
    if (l == 0) { *mean = m; *rstd = rs; }
}

kernel void layernorm_forward_rows(global const float* inp, long inp_off, global const float* w, long w_off,
                                   global const float* b, long b_off, global float* out, long out_off,
                                   global float* mean, long mean_off, global float* rstd, long rstd_off,
                                   int cols, float eps)
{
    local float buf[ROW_WG];
    const int r = get_group_id(0);             // one group per row: no bounds check, no early return
    layernorm_row_group(inp + inp_off + r * cols, out + out_off + r * cols, w + w_off, b + b_off,
                        mean + mean_off + r, rstd + rstd_off + r, cols, eps, buf);
}

kernel void residual_layernorm_forward_rows(global const float* a, long a_off, global const float* b, long b_off,
                                            global float* sum, long sum_off, global const float* w, long w_off,
                                            global const float* bias, long bias_off, global float* out, long out_off,
                                            global float* mean, long mean_off, global float* rstd, long rstd_off,
                                            int cols, float eps)
{
    local float buf[ROW_WG];
    const int r = get_group_id(0), l = get_local_id(0);
    global const float* x = a + a_off + r * cols;
    global const float* y = b + b_off + r * cols;
    global float* z = sum + sum_off + r * cols;
    for (int c = l; c < cols; c += ROW_WG) z[c] = x[c] + y[c];   // each work-item reads back only its own columns
    layernorm_row_group(z, out + out_off + r * cols, w + w_off, bias + bias_off, mean + mean_off + r, rstd + rstd_off + r,
                        cols, eps, buf);
}

// dinp += ..., per row.
kernel void layernorm_backward_input_rows(global const float* dout, long dout_off, global const float* inp, long inp_off,
                                          global const float* w, long w_off, global const float* mean, long mean_off,
                                          global const float* rstd, long rstd_off, global float* dinp, long dinp_off,
                                          int cols)
{
    local float buf[ROW_WG];
    const int r = get_group_id(0), l = get_local_id(0);
    global const float* d = dout + dout_off + r * cols;
    global const float* x = inp + inp_off + r * cols;
    global float* dx = dinp + dinp_off + r * cols;
    w += w_off;
    const float m = mean[mean_off + r], s = rstd[rstd_off + r];
    float md = 0.0f, mdn = 0.0f;
    for (int c = l; c < cols; c += ROW_WG) {
        const float norm = (x[c] - m) * s, dnorm = w[c] * d[c];
        md += dnorm; mdn += dnorm * norm;
    }
    md = wg_sum(buf, md) / cols;
    mdn = wg_sum(buf, mdn) / cols;
    for (int c = l; c < cols; c += ROW_WG) {
        const float norm = (x[c] - m) * s, dnorm = w[c] * d[c];
        dx[c] += (dnorm - md - norm * mdn) * s;
    }
}
