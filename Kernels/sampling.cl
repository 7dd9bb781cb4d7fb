// Sampling: the filtered distribution, the categorical draw, argmax and repetition penalty.
// One work-item per row. top-k and top-p need "the k-th largest value" and "the smallest set
// whose mass reaches p": both are found without sorting, by bisection over the 32-bit
// order-preserving integer image of the floats, which lands on the exact float threshold.

// Maps floats to unsigned ints with the same order (negative floats reversed).
inline uint order_key(float f) {
    const uint u = as_uint(f);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
inline float key_value(uint k) {
    return as_float((k & 0x80000000u) ? (k & 0x7fffffffu) : ~k);
}

// Largest threshold t (a float present in x) with count(x >= t) >= k.
float kth_largest(global const float* x, int n, int k) {
    uint lo = 0u, hi = 0xffffffffu;            // invariant: count(key >= lo) >= k
    while (lo < hi) {
        const uint mid = lo + ((hi - lo) >> 1) + ((hi - lo) & 1u);   // upper middle, no overflow
        int cnt = 0;
        for (int c = 0; c < n; c++) cnt += order_key(x[c]) >= mid;
        if (cnt >= k) lo = mid; else hi = mid - 1u;
    }
    return key_value(lo);
}

// Largest threshold t with mass(p >= t) >= target, over non-negative p.
float mass_threshold(global const float* p, int n, float target) {
    uint lo = order_key(0.0f), hi = order_key(1.0f);
    while (lo < hi) {
        const uint mid = lo + ((hi - lo) >> 1) + ((hi - lo) & 1u);   // upper middle, no overflow
        const float t = key_value(mid);
        float mass = 0.0f;
        for (int c = 0; c < n; c++) if (p[c] >= t) mass += p[c];
        if (mass >= target) lo = mid; else hi = mid - 1u;
    }
    return key_value(lo);
}

inline void normalise(global float* o, int n) {
    float s = 0.0f;
    for (int c = 0; c < n; c++) s += o[c];
    for (int c = 0; c < n; c++) o[c] /= s;
}

kernel void sampling_probs(global const float* logits, int logits_off, global float* probs, int probs_off,
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
    const float kth = (top_k > 0 && top_k < vocab) ? kth_largest(x, vocab, top_k) : -INFINITY;
    float mx = -INFINITY;
    for (int c = 0; c < vocab; c++) if (x[c] >= kth) mx = fmax(mx, x[c]);
    for (int c = 0; c < vocab; c++) o[c] = (x[c] >= kth) ? exp((x[c] - mx) / temperature) : 0.0f;
    normalise(o, vocab);
    if (top_p < 1.0f) {
        const float t = mass_threshold(o, vocab, top_p);
        for (int c = 0; c < vocab; c++) if (o[c] < t) o[c] = 0.0f;
        normalise(o, vocab);
    }
    if (min_p > 0.0f) {
        float top = 0.0f;
        for (int c = 0; c < vocab; c++) top = fmax(top, o[c]);
        for (int c = 0; c < vocab; c++) if (o[c] < min_p * top) o[c] = 0.0f;
        normalise(o, vocab);
    }
}

kernel void sample_draw(global const float* probs, int probs_off, global const float* u, int u_off,
                        global int* out, int out_off, int rows, int vocab)
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

kernel void argmax_rows(global const float* x, int x_off, global int* out, int out_off, int rows, int vocab)
{
    const int r = get_global_id(0);
    if (r >= rows) return;
    global const float* row = x + x_off + r * vocab;
    int best = 0;
    for (int c = 1; c < vocab; c++) if (row[c] > row[best]) best = c;
    out[out_off + r] = best;
}

// One work-item per vocabulary entry: penalise it once if it occurs anywhere in `tokens`.
kernel void repetition_penalty(global float* logits, int logits_off, int vocab,
                               global const int* tokens, int tokens_off, int count, float penalty)
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
