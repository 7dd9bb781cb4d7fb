// Sampling: the filtered distribution, the categorical draw, argmax and repetition penalty.
// The filter and argmax take a work-group per row; the draw one work-item per row (a sequential
// running sum, so the token picked matches the reference's exactly). top-k and top-p need "the k-th largest value" and "the smallest set
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

// One work-group of ROW_WG work-items per row (ROW_WG, a power of two, is a build option chosen
// per device): a row of a 32000- or 50257-token vocabulary is spread over the group, and the
// group combines its partial results through local memory (common.h's reductions).

// Every barrier below is reached unconditionally: a bisection always runs its 32 steps (32
// halvings of the 32-bit key range leave one key), and a filter that is off still joins the
// group's reductions with nothing counted. PoCL 3.1 miscompiled the same code with barriers
// behind uniform conditions (a crash inside the work-group function); GPUs run it either way.

// Largest threshold t (a float present in x) with count(x >= t) >= k, when `active`.
static float kth_largest(global const float* x, int n, int k, int active, local int* ibuf)
{
    uint lo = 0u, hi = 0xffffffffu;            // invariant: count(key >= lo) >= k
    for (int step = 0; step < 32; step++) {
        const uint mid = lo + ((hi - lo) >> 1) + ((hi - lo) & 1u);   // upper middle, no overflow
        int cnt = 0;
        if (active && lo < hi) for (int c = get_local_id(0); c < n; c += ROW_WG) cnt += order_key(x[c]) >= mid;
        const int total = wg_sum_int(ibuf, cnt);
        if (lo < hi) { if (total >= k) lo = mid; else hi = mid - 1u; }
    }
    return active ? key_value(lo) : -INFINITY;
}

// Largest threshold t with mass(p >= t) >= target over the stored probabilities p (the nucleus
// of top-p, ties kept), when `active`.
static float mass_threshold(global const float* p, int n, float target, int active, local float* fbuf)
{
    uint lo = order_key(0.0f), hi = order_key(1.0f);
    for (int step = 0; step < 32; step++) {
        const uint mid = lo + ((hi - lo) >> 1) + ((hi - lo) & 1u);   // upper middle, no overflow
        const float t = key_value(mid);
        float mass = 0.0f;
        if (active && lo < hi) for (int c = get_local_id(0); c < n; c += ROW_WG) if (p[c] >= t) mass += p[c];
        const float total = wg_sum(fbuf, mass);
        if (lo < hi) { if (total >= target) lo = mid; else hi = mid - 1u; }
    }
    return active ? key_value(lo) : 0.0f;
}

// The first maximum of a row: each work-item scans its stride, then the group keeps the larger
// value, the lower index on a tie.
static int row_argmax(global const float* x, int n, local float* fbuf, local int* ibuf)
{
    const int l = get_local_id(0);
    int best = l < n ? l : 0;
    for (int c = l + ROW_WG; c < n; c += ROW_WG) if (x[c] > x[best]) best = c;
    fbuf[l] = x[best];
    ibuf[l] = best;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = ROW_WG / 2; s > 0; s >>= 1) {
        if (l < s) {
            const float v = fbuf[l + s];
            const int i = ibuf[l + s];
            if (v > fbuf[l] || (v == fbuf[l] && i < ibuf[l])) { fbuf[l] = v; ibuf[l] = i; }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const int r = ibuf[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

// Greedy: all mass on the first maximum.
kernel void sampling_probs_greedy(global const float* logits, long logits_off, global float* probs, long probs_off,
                                  int vocab)
{
    local float fbuf[ROW_WG];
    local int ibuf[ROW_WG];
    const int r = get_group_id(0);             // one group per row: no bounds check, no early return
    global float* o = probs + probs_off + r * vocab;
    const int best = row_argmax(logits + logits_off + r * vocab, vocab, fbuf, ibuf);
    for (int c = get_local_id(0); c < vocab; c += ROW_WG) o[c] = (c == best) ? 1.0f : 0.0f;
}

// The filtered distribution at temperature > 0: p1 = softmax over the top-k survivors is written
// to the output, then top-p and min-p read it back (each work-item only the elements it wrote,
// so no barrier is needed) and the survivors are renormalised in place.
kernel void sampling_probs(global const float* logits, long logits_off, global float* probs, long probs_off,
                           int vocab, float temperature, int top_k, float top_p, float min_p)
{
    local float fbuf[ROW_WG];
    local int ibuf[ROW_WG];
    const int r = get_group_id(0), l = get_local_id(0);   // one group per row: no early return
    global const float* x = logits + logits_off + r * vocab;
    global float* o = probs + probs_off + r * vocab;
    const float inv_t = 1.0f / temperature;
    const float kth = kth_largest(x, vocab, top_k, top_k > 0 && top_k < vocab, ibuf);
    float mx = -INFINITY;
    for (int c = l; c < vocab; c += ROW_WG) if (x[c] >= kth) mx = fmax(mx, x[c]);
    mx = wg_max(fbuf, mx);
    float z1 = 0.0f;
    for (int c = l; c < vocab; c += ROW_WG) if (x[c] >= kth) z1 += exp((x[c] - mx) * inv_t);
    z1 = wg_sum(fbuf, z1);
    for (int c = l; c < vocab; c += ROW_WG) o[c] = x[c] >= kth ? exp((x[c] - mx) * inv_t) / z1 : 0.0f;
    // top-p keeps p1 >= tp. min-p compares with the most likely token, whose p1 is 1/z1 (its
    // logit is mx) whatever the renormalisation in between: keep p1 >= min_p / z1.
    const float tp = mass_threshold(o, vocab, top_p, top_p < 1.0f, fbuf);
    const float tm = min_p > 0.0f ? min_p / z1 : 0.0f;
    float z3 = 0.0f;
    for (int c = l; c < vocab; c += ROW_WG) { const float p = o[c]; if (p >= tp && p >= tm) z3 += p; }
    z3 = wg_sum(fbuf, z3);
    for (int c = l; c < vocab; c += ROW_WG) { const float p = o[c]; o[c] = (p >= tp && p >= tm) ? p / z3 : 0.0f; }
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

kernel void argmax_rows(global const float* x, long x_off, global int* out, long out_off, int vocab)
{
    local float fbuf[ROW_WG];
    local int ibuf[ROW_WG];
    const int r = get_group_id(0);             // one group per row: no bounds check, no early return
    const int best = row_argmax(x + x_off + r * vocab, vocab, fbuf, ibuf);
    if (get_local_id(0) == 0) out[out_off + r] = best;
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
