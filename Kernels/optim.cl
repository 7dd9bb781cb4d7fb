// AdamW over the whole parameter arena in one launch (PyTorch semantics: decoupled weight
// decay applied first, bias-corrected moments, eps added after the square root).
// Only the first decay_count elements are decayed: the arena keeps matrices first.
//
// Gradient clipping never leaves the device: sum_squares_partial and grad_norm_finish write
// [norm, scale] to a two-float buffer, and adamw reads the scale from it, so a step needs no
// host round trip for the norm. The host reads the norm after the step, for the log.

#ifdef cl_khr_fp64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
typedef double norm_acc;   // the norm is summed in double, as the CPU reference does
#else
typedef float norm_acc;    // devices without fp64 (some integrated GPUs) sum in float
#endif

kernel void adamw(global float* p, long p_off, global const float* g, long g_off,
                  global float* m, long m_off, global float* v, long v_off,
                  int n, int decay_count, float lr, float beta1, float beta2, float eps,
                  float weight_decay, float bc1, float bc2, global const float* scale, long scale_off)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const float grad_scale = scale[scale_off];
    // 0 marks a non-finite gradient norm: leave parameters and moments as they were, so the
    // error the host reports next does not come with a ruined model.
    if (grad_scale == 0.0f) return;
    const float grad = g[g_off + i] * grad_scale;
    float w = p[p_off + i];
    if (i < decay_count) w *= 1.0f - lr * weight_decay;
    const float mi = beta1 * m[m_off + i] + (1.0f - beta1) * grad;
    const float vi = beta2 * v[v_off + i] + (1.0f - beta2) * grad * grad;
    m[m_off + i] = mi;
    v[v_off + i] = vi;
    const float denom = sqrt(vi) / sqrt(bc2) + eps;
    p[p_off + i] = w - (lr / bc1) * mi / denom;
}

// Partial sums of squares: work-item i < G sums the contiguous run of `chunk` elements from
// i·chunk (G partials; the launch may round its global size up past G). Contiguous runs, not
// a stride of G: each CPU thread then streams its own part of memory (strided, 800k gradients
// took 1.5 ms on PoCL, 2 GB/s). On a GPU neighbouring work-items now read addresses a run
// apart (uncoalesced); one launch a step, not yet measured there. Eight running sums in a
// vector per work-item, added in a fixed order.
kernel void sum_squares_partial(global const float* x, long x_off, int n, global float* partial, int G, int chunk)
{
    const int i = get_global_id(0);
    if (i >= G) return;
    const int start = (int)min((long)n, (long)i * chunk), end = (int)min((long)n, (long)start + chunk);
    global const float* p = x + x_off;
    float8 acc = (float8)(0.0f);
    int j = start;
    for (; j + 8 <= end; j += 8) { const float8 e = vload8(0, p + j); acc = fma(e, e, acc); }
    // Through a private array: oclgrind's uninitialised-memory check crashes on acc.s0.
    float t[8];
    vstore8(acc, 0, t);
    float s = ((t[0] + t[4]) + (t[1] + t[5])) + ((t[2] + t[6]) + (t[3] + t[7]));
    for (; j < end; j++) s = fma(p[j], p[j], s);
    partial[i] = s;
}

// One work-item adds the partials in order and writes out[0] = the norm, out[1] = the clip
// scale (clip / norm when clip > 0 and the norm exceeds it, else 1; 0 when the norm is not
// finite). A single work-item over ~1000 numbers costs microseconds and keeps the sum's
// order fixed, so the result is the same on every run.
kernel void grad_norm_finish(global const float* partial, int count, float clip, global float* out, long out_off)
{
    if (get_global_id(0) != 0) return;
    norm_acc s = 0;
    for (int i = 0; i < count; i++) s += (norm_acc)partial[i];
    const norm_acc norm = sqrt(s);
    const float normf = (float)norm;
    float scale = 1.0f;
    if (!isfinite(normf)) scale = 0.0f;
    else if (clip > 0.0f && norm > (norm_acc)clip) scale = (float)((norm_acc)clip / norm);
    out[out_off] = normf;
    out[out_off + 1] = scale;
}
