// Shared conventions for every Foundry kernel.
// A tensor argument is a buffer plus an element offset ("x, x_off"), so one parameter arena
// can hold many named tensors without sub-buffer alignment rules. Tile sizes and work-group
// shapes arrive as -D build options chosen per device (see KernelParams.swift).
#define AT(p) (p + p##_off)

// The GEMM's tile: GEMM_TM rows x GEMM_NV vectors of GEMM_VW floats per work-item (see
// matmul.cl). VEC is the device's vector, which the attention tiles use as well.
#ifndef GEMM_TM
#define GEMM_TM 4
#endif
#ifndef GEMM_VW
#define GEMM_VW 8
#endif
#ifndef GEMM_NV
#define GEMM_NV 2
#endif

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define VEC CAT(float, GEMM_VW)
#define VLOAD CAT(vload, GEMM_VW)
#define VSTORE CAT(vstore, GEMM_VW)
#define GEMM_CW (GEMM_VW * GEMM_NV)

// A VEC's lanes combined by `op` (a function or macro of two vectors), halves folded onto each
// other down to two lanes: four dependent steps for sixteen lanes where a serial walk takes
// fifteen. VSUM and VMAX finish the last two lanes through a private array (oclgrind's
// uninitialised-memory check crashes on direct component reads such as v.x).
#if GEMM_VW == 16
#define VFOLD(v, op) op(op(op((v).lo, (v).hi).lo, op((v).lo, (v).hi).hi).lo, op(op((v).lo, (v).hi).lo, op((v).lo, (v).hi).hi).hi)
#elif GEMM_VW == 8
#define VFOLD(v, op) op(op((v).lo, (v).hi).lo, op((v).lo, (v).hi).hi)
#elif GEMM_VW == 4
#define VFOLD(v, op) op((v).lo, (v).hi)
#else
#define VFOLD(v, op) (v)
#endif
#define VFOLD_ADD(a, b) ((a) + (b))
static inline float VSUM(VEC v) { float t[2]; vstore2(VFOLD(v, VFOLD_ADD), 0, t); return t[0] + t[1]; }
static inline float VMAX(VEC v) { float t[2]; vstore2(VFOLD(v, fmax), 0, t); return fmax(t[0], t[1]); }

// GPT-2's GELU (the tanh form) for elementwise.cl and every epilogue that fuses it.
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

// Row kernels (softmax-like reductions over a vocabulary) run one work-group of ROW_WG
// work-items per row; ROW_WG is a power of two chosen per device (KernelParams.rowGroup).
#ifndef ROW_WG
#define ROW_WG 64
#endif

// Work-group reductions through local memory. Every work-item of the group must call them (the
// same number of times, in the same order); each returns the group's result to all. The final
// barrier lets the next reduction reuse the buffer.
#define WG_REDUCE(NAME, T, COMBINE) \
static inline T NAME(local T* buf, T v) \
{ \
    const int l = get_local_id(0); \
    buf[l] = v; \
    barrier(CLK_LOCAL_MEM_FENCE); \
    for (int s = ROW_WG / 2; s > 0; s >>= 1) { \
        if (l < s) buf[l] = COMBINE(buf[l], buf[l + s]); \
        barrier(CLK_LOCAL_MEM_FENCE); \
    } \
    const T r = buf[0]; \
    barrier(CLK_LOCAL_MEM_FENCE); \
    return r; \
}
#define WG_ADD(a, b) ((a) + (b))
WG_REDUCE(wg_sum, float, WG_ADD)
WG_REDUCE(wg_max, float, fmax)
WG_REDUCE(wg_sum_int, int, WG_ADD)
