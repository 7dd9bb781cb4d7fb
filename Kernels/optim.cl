// AdamW over the whole parameter arena in one launch (PyTorch semantics: decoupled weight
// decay applied first, bias-corrected moments, eps added after the square root).
// Only the first decay_count elements are decayed: the arena keeps matrices first.

kernel void adamw(global float* p, int p_off, global const float* g, int g_off,
                  global float* m, int m_off, global float* v, int v_off,
                  int n, int decay_count, float lr, float beta1, float beta2, float eps,
                  float weight_decay, float bc1, float bc2, float grad_scale)
{
    const int i = get_global_id(0);
    if (i >= n) return;
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

// Partial sums of squares: work-item i sums elements i, i+G, i+2G, ... (G = global size).
// The host adds the G partials in double precision. No local memory, no barriers.
kernel void sum_squares_partial(global const float* x, int x_off, int n, global float* partial)
{
    const int i = get_global_id(0), G = get_global_size(0);
    float s = 0.0f;
    for (int j = i; j < n; j += G) { const float e = x[x_off + j]; s += e * e; }
    partial[i] = s;
}
