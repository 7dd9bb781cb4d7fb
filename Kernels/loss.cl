// Fused softmax + cross-entropy, forward and backward in one pass over each row; an optional
// per-row scale weights each row's gradient (losses built on token log-probabilities).
// targets[r] == -1 marks an ignored row (loss 0, gradient 0). dlogits may alias logits:
// each row is read completely before its gradient is written.

// One work-group of ROW_WG work-items per row (a 50257-token row is 786 elements a work-item):
// the maximum and the sum of exponentials are group reductions. Every work-item reaches every
// barrier — an ignored row computes its reductions too and writes zeros — and each reads the
// target's logit before the first barrier, so an aliased gradient never overwrites a logit
// another work-item still has to read.
kernel void cross_entropy(global const float* logits, long logits_off, global const int* targets, long targets_off,
                          global float* losses, long losses_off, global float* dlogits, long dlogits_off,
                          int has_grad, int vocab, float grad_scale,
                          global const float* row_scale, long row_scale_off, int has_row_scale)
{
    local float buf[ROW_WG];
    const int r = get_group_id(0), l = get_local_id(0);   // one group per row: no early return
    global const float* x = logits + logits_off + r * vocab;
    global float* g = dlogits + dlogits_off + r * vocab;
    const int target = targets[targets_off + r];
    const float xt = target >= 0 ? x[target] : 0.0f;
    float mx = -INFINITY;
    for (int c = l; c < vocab; c += ROW_WG) mx = fmax(mx, x[c]);
    mx = wg_max(buf, mx);
    float s = 0.0f;
    for (int c = l; c < vocab; c += ROW_WG) s += exp(x[c] - mx);
    const float log_sum = log(wg_sum(buf, s)) + mx;
    if (l == 0) losses[losses_off + r] = target >= 0 ? log_sum - xt : 0.0f;
    if (has_grad) {
        const float scale = target < 0 ? 0.0f : grad_scale * (has_row_scale ? row_scale[row_scale_off + r] : 1.0f);
        for (int c = l; c < vocab; c += ROW_WG)
            g[c] = target < 0 ? 0.0f : scale * (exp(x[c] - log_sum) - (c == target ? 1.0f : 0.0f));
    }
}
