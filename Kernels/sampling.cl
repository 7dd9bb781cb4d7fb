// Sampling: the filtered distribution, the categorical draw, argmax and repetition penalty.
// One work-item per row. top-k and top-p need "the k-th largest value" and "the smallest set
// whose mass reaches p": both are found without sorting, by bisection over the 32-bit
// order-preserving integer image of the floats, which lands on the exact float threshold.

// Maps floats to unsigned ints with the same order (negative floats reversed).
static inline uint order_key(float f) {
    const uint u = as_uint(f);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
static inline float key_value(uint k) {
    return as_float((k & 0x80000000u) ? (k & 0x7fffffffu) : ~k);
}

// Largest threshold t (a float present in x) with count(x >= t) >= k.
static float kth_largest(global const float* x, int n, int k) {
    uint lo = 0u, hi = 0xffffffffu;            // invariant: count(key >= lo) >= k
    while (lo < hi) {
        const uint mid = lo + ((hi - lo) >> 1) + ((hi - lo) & 1u);   // upper middle, no overflow
        int cnt = 0;
        for (int c = 0; c < n; c++) cnt += order_key(x[c]) >= mid;
        if (cnt >= k) lo = mid; else hi = mid - 1u;
    }
    return key_value(lo);
}

// The filtered distribution is computed on the fly from the logits rather than stored and
// re-read, so each output element is written exactly once.
// p1(c): softmax over the top-k survivors at this temperature (0 for the others).
static inline float p1(global const float* x, int c, float kth, float mx, float inv_t, float z1) {
    return x[c] >= kth ? exp((x[c] - mx) * inv_t) / z1 : 0.0f;
}

// Largest threshold t with mass(p1 >= t) >= target: the nucleus of top-p, ties kept.
static float mass_threshold(global const float* x, int n, float kth, float mx, float inv_t, float z1, float target) {
    uint lo = order_key(0.0f), hi = order_key(1.0f);
    while (lo < hi) {
        const uint mid = lo + ((hi - lo) >> 1) + ((hi - lo) & 1u);   // upper middle, no overflow
        const float t = key_value(mid);
        float mass = 0.0f;
        for (int c = 0; c < n; c++) { const float p = p1(x, c, kth, mx, inv_t, z1); if (p >= t) mass += p; }
        if (mass >= target) lo = mid; else hi = mid - 1u;
    }
    return key_value(lo);
}

kernel void sampling_probs(global const float* logits, long logits_off, global float* probs, long probs_off,
                           int rows, int vocab, float temperature, int top_k, float top_p, float min_p)
{
    const int r = get_global_id(0);
    if (r >= rows) return;
    global const float* x = logits + logits_off + r * vocab;
    global float* o = probs + probs_off + r * vocab;
    if (temperature <= 0.0f) {                 // greedy: all mass on the first maximum
        int best = 0;
        for (int c = 1; c < vocab; c++) if (x[c] > x[best]) best = c;
        for (int c = 0; c < vocab; c++) o[c] = (c == best) ? 1.0f : 0.0f;
        return;
    }
    const float inv_t = 1.0f / temperature;
    const float kth = (top_k > 0 && top_k < vocab) ? kth_largest(x, vocab, top_k) : -INFINITY;
    float mx = -INFINITY;
    for (int c = 0; c < vocab; c++) if (x[c] >= kth) mx = fmax(mx, x[c]);
    float z1 = 0.0f;
    for (int c = 0; c < vocab; c++) if (x[c] >= kth) z1 += exp((x[c] - mx) * inv_t);
    // top-p keeps p1 >= tp. min-p compares with the most likely token, whose p1 is 1/z1 (its
    // logit is mx) whatever the renormalisation in between: keep p1 >= min_p / z1.
    const float tp = top_p < 1.0f ? mass_threshold(x, vocab, kth, mx, inv_t, z1, top_p) : 0.0f;
    const float tm = min_p > 0.0f ? min_p / z1 : 0.0f;
    float z3 = 0.0f;
    for (int c = 0; c < vocab; c++) { const float p = p1(x, c, kth, mx, inv_t, z1); if (p >= tp && p >= tm) z3 += p; }
    for (int c = 0; c < vocab; c++) {
        const float p = p1(x, c, kth, mx, inv_t, z1);
        o[c] = (p >= tp && p >= tm) ? p / z3 : 0.0f;
    }
}

kernel void sample_draw(global const float* probs, long probs_off, global const float* u, long u_off,
                        global int* out, long out_off, int rows, int vocab)
{
    const int r = get_global_id(0);
    if (r >= rows) return;
    global const float* p = probs + probs_off + r * vocab;
    float total = 0.0f;
    for (int c = 0; c < vocab; c++) total += p[c];
    const float target = u[u_off + r] * total;
    float cum = 0.0f;
    int pick = -1, last_nonzero = 0;
    for (int c = 0; c < vocab; c++) {
        if (p[c] > 0.0f) last_nonzero = c;
        cum += p[c];
        if (pick < 0 && cum > target && p[c] > 0.0f) pick = c;
    }
    out[out_off + r] = pick < 0 ? last_nonzero : pick;
}

kernel void argmax_rows(global const float* x, long x_off, global int* out, long out_off, int rows, int vocab)
{
    const int r = get_global_id(0);
    if (r >= rows) return;
    global const float* row = x + x_off + r * vocab;
    int best = 0;
    for (int c = 1; c < vocab; c++) if (row[c] > row[best]) best = c;
    out[out_off + r] = best;
}

// One work-item per vocabulary entry: penalise it once if it occurs anywhere in `tokens`.
kernel void repetition_penalty(global float* logits, long logits_off, int vocab,
                               global const int* tokens, long tokens_off, int count, float penalty)
{
    const int c = get_global_id(0);
    if (c >= vocab) return;
    for (int j = 0; j < count; j++) {
        if (tokens[tokens_off + j] == c) {
            const float v = logits[logits_off + c];
            logits[logits_off + c] = v > 0.0f ? v / penalty : v * penalty;
            return;
        }
    }
}
