// Shared conventions for every Foundry kernel.
// A tensor argument is a buffer plus an element offset ("x, x_off"), so one parameter arena
// can hold many named tensors without sub-buffer alignment rules. Tile sizes and work-group
// shapes arrive as -D build options chosen per device (see KernelParams.swift).
#define AT(p) (p + p##_off)
