// Fused softmax + cross-entropy, forward and backward in one pass over each row; an optional
// per-row scale weights each row's gradient (losses built on token log-probabilities).
// targets[r] == -1 marks an ignored row (loss 0, gradient 0). dlogits may alias logits:
// each row is read completely before its gradient is written.

kernel void cross_entropy(global const float* logits, long logits_off, global const int* targets, long targets_off,
                          global float* losses, long losses_off, global float* dlogits, long dlogits_off,
                          int has_grad, int rows, int vocab, float grad_scale,
                          global const float* row_scale, long row_scale_off, int has_row_scale)
{
    const int r = get_global_id(0);
    if (r >= rows) return;
    global const float* x = logits + logits_off + r * vocab;
    global float* g = dlogits + dlogits_off + r * vocab;
    const int target = targets[targets_off + r];
    if (target < 0) {
        losses[losses_off + r] = 0.0f;
        if (has_grad) for (int c = 0; c < vocab; c++) g[c] = 0.0f;
        return;
    }
    float mx = -INFINITY;
    for (int c = 0; c < vocab; c++) mx = fmax(mx, x[c]);
    float s = 0.0f;
    for (int c = 0; c < vocab; c++) s += exp(x[c] - mx);
    const float log_sum = log(s) + mx;
    losses[losses_off + r] = log_sum - x[target];
    if (has_grad) {
        const float scale = grad_scale * (has_row_scale ? row_scale[row_scale_off + r] : 1.0f);
        for (int c = 0; c < vocab; c++)
            g[c] = scale * (exp(x[c] - log_sum) - (c == target ? 1.0f : 0.0f));
    }
}
