// Pointwise ops: residual add, axpy, GELU (GPT-2's tanh form) and its derivative.
#define GELU_SCALE 0.7978845608028654f   // sqrt(2/pi)

// tanh(sqrt(2/pi)·(x + 0.044715x³)) through one exp: PoCL's tanh is a scalar library call that
// blocks vectorisation, and this form is within a few float ulps of it. Clamped so exp never
// overflows. Written once as macros, for a float or any floatN, so gelu_forward/gelu_backward
// and the GEMM epilogues that fuse them compute identical values.
#define GELU_TANH(x) (1.0f - 2.0f / (exp(2.0f * clamp(GELU_SCALE * ((x) + 0.044715f * (x) * (x) * (x)), -15.0f, 15.0f)) + 1.0f))
// GELU of x.
#define GELU_OF(x) (0.5f * (x) * (1.0f + GELU_TANH(x)))
// GELU'(x), given t = GELU_TANH(x).
#define GELU_GRAD(x, t) (0.5f * (1.0f + (t)) + 0.5f * (x) * (1.0f - (t) * (t)) * (GELU_SCALE * (1.0f + 3.0f * 0.044715f * (x) * (x))))

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
