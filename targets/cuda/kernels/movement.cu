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
