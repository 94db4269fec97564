// Ferrite's data-movement CUDA kernels: bytes moved, never computed on, so every dtype and
// every device gives the CPU's bytes. The same C subset as int8.cu (tested as C with emu.h).

#ifndef FERRITE_EMU
#define KERNEL extern "C" __global__
#endif

// A permutation: the output's dims, and for each output axis the input's stride along it
// (elements), padded with 1s (dims) to rank 6.
typedef struct {
    int rank, elem;
    int out_dims[6];
    int in_strides[6];
} ferrite_perm;

// Transpose: output element o (`elem` bytes) is the input element at its permuted coordinates.
KERNEL void ferrite_transpose(const unsigned char *x, ferrite_perm p, int n, unsigned char *out) {
    int o = blockIdx.x * blockDim.x + threadIdx.x;
    if (o >= n) {
        return;
    }
    int rest = o, off = 0;
    for (int i = p.rank - 1; i >= 0; --i) {
        off += (rest % p.out_dims[i]) * p.in_strides[i];
        rest /= p.out_dims[i];
    }
    for (int b = 0; b < p.elem; ++b) {
        out[o * p.elem + b] = x[off * p.elem + b];
    }
}

// Gather along one axis: out[o, j, i] = data[o, idx[j], i] (negative indices count from the
// end). `elem`: bytes per element; `f16_to_f32`: the data is IEEE half and the output f32
// (ferrite_half from f32.cu). An index out of range writes `tag` (the op's index + 1) to
// `*status`, which the backend reads after the run and reports as the CPU does, and a 0 output.
typedef struct {
    int outer, axis_len, inner, n_idx, elem, f16_to_f32, tag;
} ferrite_gather_geom;

KERNEL void ferrite_gather(const unsigned char *data, const int *idx, ferrite_gather_geom g, int *status,
                           unsigned char *out) {
    int t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= g.outer * g.n_idx * g.inner) {
        return;
    }
    int i = t % g.inner, j = t / g.inner % g.n_idx, o = t / (g.inner * g.n_idx);
    long long raw = idx[j], row = raw < 0 ? raw + g.axis_len : raw;
    int ok = row >= 0 && row < g.axis_len;
    if (!ok) {
        *status = g.tag;
    }
    long long src = ok ? ((long long)o * g.axis_len + row) * g.inner + i : 0;
    if (g.f16_to_f32) {
        float v = ok ? ferrite_half(((const unsigned short *)data)[src]) : 0.0f;
        ((float *)out)[t] = v;
        return;
    }
    for (int b = 0; b < g.elem; ++b) {
        out[(long long)t * g.elem + b] = ok ? data[src * g.elem + b] : 0;
    }
}

// Gather from a symmetric int8 table [rows, cols] with one scale per column (int8 embeddings):
// out[j, c] = scale[c] · table[idx[j], c]; out of range as ferrite_gather.
KERNEL void ferrite_gather_dequant(const signed char *table, const float *scales, const int *idx, int n_idx,
                                   int rows, int cols, int tag, int *status, float *out) {
    int t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= n_idx * cols) {
        return;
    }
    int c = t % cols, j = t / cols;
    long long raw = idx[j], row = raw < 0 ? raw + rows : raw;
    if (row < 0 || row >= rows) {
        *status = tag;
        out[t] = 0.0f;
        return;
    }
    out[t] = scales[c] * (float)table[row * cols + c];
}
