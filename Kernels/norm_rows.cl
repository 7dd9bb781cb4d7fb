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
    const float m = wg_sum(buf, ln_sum(x, cols, l, ROW_WG)) / cols;
    const float rs = rsqrt(wg_sum(buf, ln_sq_dev(x, m, cols, l, ROW_WG)) / cols + eps);
    ln_apply(x, o, w, b, m, rs, cols, l, ROW_WG);
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
    const float2 sums = ln_dx_sums(d, x, w, m, s, cols, l, ROW_WG);
    const float md = wg_sum(buf, sums.x) / cols;
    const float mdn = wg_sum(buf, sums.y) / cols;
    ln_dx_add(d, x, w, m, s, md, mdn, dx, cols, l, ROW_WG);
}

// Column sums for GPUs (the bias gradient and LayerNorm's weight and bias gradients): a
// COL_TX × COL_TY work-group takes COL_TX neighbouring columns, each of its COL_TY rows of
// work-items sums every COL_TY-th row (neighbouring work-items read neighbouring columns), and the
// group adds its COL_TY partial sums per column through local memory. CPUs keep one work-item
// per column (matmul.cl's bias_backward, norm.cl's layernorm_backward_params).
#define COL_TX 16
#define COL_TY 16

// Adds the COL_TY partial sums of each column in buf[ty][tx]; work-items with ty == 0 get them.
static float column_group_sum(local float* buf, float v)
{
    const int tx = get_local_id(0), ty = get_local_id(1);
    buf[ty * COL_TX + tx] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = COL_TY / 2; s > 0; s >>= 1) {
        if (ty < s) buf[ty * COL_TX + tx] += buf[(ty + s) * COL_TX + tx];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float r = buf[tx];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

// dbias[c] += sum over rows of dout[r, c].
kernel void bias_backward_cols(global const float* dout, long dout_off, global float* dbias, long dbias_off, int rows, int cols)
{
    local float buf[COL_TX * COL_TY];
    const int tx = get_local_id(0), ty = get_local_id(1), c = get_group_id(0) * COL_TX + tx;
    const float s = column_group_sum(buf, c < cols ? column_sum(dout + dout_off, c, rows, cols, ty, COL_TY) : 0.0f);
    if (ty == 0 && c < cols) dbias[dbias_off + c] += s;
}

// dweight += sum_r dout * norm, dbias += sum_r dout, per column.
kernel void layernorm_backward_params_cols(global const float* dout, long dout_off, global const float* inp, long inp_off,
                                           global const float* mean, long mean_off, global const float* rstd, long rstd_off,
                                           global float* dw, long dw_off, global float* db, long db_off, int rows, int cols)
{
    local float buf[COL_TX * COL_TY];
    const int tx = get_local_id(0), ty = get_local_id(1), c = get_group_id(0) * COL_TX + tx;
    const float2 sums = c < cols ? ln_param_sums(dout + dout_off, inp + inp_off, mean + mean_off, rstd + rstd_off, c, rows, cols, ty, COL_TY)
                                 : (float2)(0.0f);
    const float sw = column_group_sum(buf, sums.x);
    const float sb = column_group_sum(buf, sums.y);
    if (ty == 0 && c < cols) { dw[dw_off + c] += sw; db[db_off + c] += sb; }
}
