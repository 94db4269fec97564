// Ferrite's int8 CUDA kernels. NVRTC compiles this file at load (compute capability 6.1 or
// later: __dp4a); the tests compile it as C with emu.h, which runs every thread in turn on the
// host, and compare its bytes with the runtime's scalar kernels. So: C that CUDA accepts (no
// templates, no C++ casts), integer arithmetic that wraps explicitly (unsigned), and the same
// formulas as the specification (runtime/src/kernels/generic/qgemm.rs and int8.rs).

#ifndef FERRITE_EMU
#define KERNEL extern "C" __global__
#endif

// Bytes a[i..i+4] as one word (little-endian, as dp4a reads it); bytes at or past k are 0
// (the packed weights are 0 there, so any value would do, but nothing past the row is read).
__device__ static inline int ferrite_load4(const signed char *a, int i, int k) {
    unsigned int v = 0;
    for (int t = 0; t < 4; ++t) {
        unsigned int b = (i + t < k) ? (unsigned int)(unsigned char)a[i + t] : 0u;
        v |= b << (8 * t);
    }
    return (int)v;
}

// requantize(acc, (mult, shift), zy, lo, hi): the 64-bit product rounded half up by the shift
// (clamped to 1..62), plus the zero point, clamped to [lo, hi].
__device__ static inline signed char ferrite_requantize(int acc, int mult, int shift, int zy, int lo, int hi) {
    int s = shift < 1 ? 1 : (shift > 62 ? 62 : shift);
    long long prod = (long long)acc * (long long)mult;
    long long v = ((prod + (1LL << (s - 1))) >> s) + (long long)zy;
    v = v < lo ? lo : v;
    v = v > hi ? hi : v;
    return (signed char)v;
}

// QMatMul and pointwise QConv: out[r, c] = requantize(bias[c] + Σ_k (a[r,k] − za) · w[c,k]) over
// k4n16 weights in their full form (16-row blocks of kp = k rounded up to 4 bytes per row, in
// 64-byte groups: channel c's four bytes at 4·(c mod 16); row sums `sums`). The sum is taken as
// Σ a·w − za·sums[c] (signed bytes, as dp4a multiplies them), the same wrapping i32 as every tier.
// Grid: x over channels (blockDim.x threads each), y over rows.
KERNEL void ferrite_qgemm_dp4a(const signed char *a, int m, int k, const signed char *w, const int *sums, int n,
                                const int *bias, const int *mult, const int *shift, int za, int zy, int lo, int hi,
                                signed char *out) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    int r = blockIdx.y;
    if (c >= n || r >= m) {
        return;
    }
    int kp = (k + 3) / 4 * 4;
    const signed char *wc = w + (c / 16) * 16 * kp + (c % 16) * 4;
    const signed char *ar = a + r * k;
    int acc = 0;
    for (int g = 0; g < kp / 4; ++g) {
        int wv = ferrite_load4(wc + 64 * g, 0, 4);
        acc = __dp4a(ferrite_load4(ar, 4 * g, k), wv, acc);
    }
    unsigned int total = (unsigned int)acc - (unsigned int)za * (unsigned int)sums[c] + (unsigned int)bias[c];
    out[r * n + c] = ferrite_requantize((int)total, mult[c], shift[c], zy, lo, hi);
}
