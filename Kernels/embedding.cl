// Token + position embedding. The backward gives each work-item whole columns so that no two
// work-items ever add into the same element: deterministic without atomics.

kernel void embedding_forward(global const int* tokens, long tokens_off, global const float* wte, long wte_off,
                              global const float* wpe, long wpe_off, global float* out, long out_off,
                              int bt, int seq, int channels)
{
    const int c = get_global_id(0), row = get_global_id(1);
    if (c >= channels || row >= bt) return;
    const int id = tokens[tokens_off + row];
    const int t = row % seq;
    out[out_off + row * channels + c] = wte[wte_off + id * channels + c] + wpe[wpe_off + t * channels + c];
}

kernel void embedding_backward_wte(global const float* dout, long dout_off, global const int* tokens, long tokens_off,
                                   global float* dwte, long dwte_off, int bt, int channels)
{
    const int c = get_global_id(0);
    if (c >= channels) return;
    for (int row = 0; row < bt; row++) {
        const int id = tokens[tokens_off + row];
        dwte[dwte_off + id * channels + c] += dout[dout_off + row * channels + c];
    }
}

kernel void embedding_backward_wpe(global const float* dout, long dout_off, global float* dwpe, long dwpe_off,
                                   int batch, int seq, int channels)
{
    const int c = get_global_id(0), t = get_global_id(1);
    if (c >= channels || t >= seq) return;
    float s = 0.0f;
    for (int b = 0; b < batch; b++) s += dout[dout_off + (b * seq + t) * channels + c];
    dwpe[dwpe_off + t * channels + c] += s;
}
