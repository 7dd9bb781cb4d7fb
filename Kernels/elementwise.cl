// Pointwise ops: residual add, axpy, GELU (GPT-2's tanh form) and its derivative.
// The GELU macros (GELU_TANH, GELU_OF, GELU_GRAD) are in common.h: the GEMM and decoding
// epilogues apply them too.

kernel void add(global const float* a, long a_off, global const float* b, long b_off,
                global float* out, long out_off, int n)
{
    const int i = get_global_id(0);
    if (i < n) out[out_off + i] = a[a_off + i] + b[b_off + i];
}

kernel void axpy(float alpha, global const float* x, long x_off, global float* y, long y_off, int n)
{
    const int i = get_global_id(0);
    if (i < n) y[y_off + i] += alpha * x[x_off + i];
}

kernel void fill(global float* x, long x_off, float value, int n)
{
    const int i = get_global_id(0);
    if (i < n) x[x_off + i] = value;
}

kernel void copy_rows(global const float* src, long src_off, int src_stride,
                      global float* dst, long dst_off, int dst_stride, int rows, int cols)
{
    const int c = get_global_id(0), r = get_global_id(1);
    if (c < cols && r < rows) dst[dst_off + r * dst_stride + c] = src[src_off + r * src_stride + c];
}

kernel void gelu_forward(global const float* inp, long inp_off, global float* out, long out_off, int n)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const float x = inp[inp_off + i];
    out[out_off + i] = GELU_OF(x);
}

kernel void gelu_backward(global const float* inp, long inp_off, global const float* dout, long dout_off,
                          global float* dinp, long dinp_off, int n)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const float x = inp[inp_off + i], t = GELU_TANH(x);
    dinp[dinp_off + i] = GELU_GRAD(x, t) * dout[dout_off + i];
}
