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

// requantize(acc, rq, zy, lo, hi) with rq = (multiplier, shift), the layout of the runtime's
// requantization tensors: the 64-bit product rounded half up by the shift (clamped to 1..62),
// plus the zero point, clamped to [lo, hi].
__device__ static inline signed char ferrite_requantize(int acc, const int *rq, int zy, int lo, int hi) {
    int shift = rq[1];
    int s = shift < 1 ? 1 : (shift > 62 ? 62 : shift);
    long long prod = (long long)acc * (long long)rq[0];
    long long v = ((prod + (1LL << (s - 1))) >> s) + (long long)zy;
    v = v < lo ? lo : v;
    v = v > hi ? hi : v;
    return (signed char)v;
}

// QMatMul and pointwise QConv: out[r, c] = requantize(bias[c] + Σ_k (a[r,k] − za) · w[c,k]) over
// k4n16 weights in their full form (16-row blocks of kp = k rounded up to 4 bytes per row, in
// 64-byte groups: channel c's four bytes at 4·(c mod 16); row sums `sums`). The sum is taken as
// Σ a·w − za·sums[c] (signed bytes, as dp4a multiplies them), the same wrapping i32 as every tier.
// rq: (multiplier, shift) per channel. One thread per output, channels fastest (neighbouring
// threads read neighbouring 4-byte groups of one 64-byte block).
KERNEL void ferrite_qgemm_dp4a(const signed char *a, int m, int k, const signed char *w, const int *sums, int n,
                                const int *bias, const int *rq, int za, int zy, int lo, int hi, signed char *out) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= m * n) {
        return;
    }
    int r = i / n, c = i % n;
    int kp = (k + 3) / 4 * 4;
    const signed char *wc = w + (c / 16) * 16 * kp + (c % 16) * 4;
    const signed char *ar = a + r * k;
    int acc = 0;
    for (int g = 0; g < kp / 4; ++g) {
        int wv = ferrite_load4(wc + 64 * g, 0, 4);
        acc = __dp4a(ferrite_load4(ar, 4 * g, k), wv, acc);
    }
    unsigned int total = (unsigned int)acc - (unsigned int)za * (unsigned int)sums[c] + (unsigned int)bias[c];
    out[i] = ferrite_requantize((int)total, rq + 2 * c, zy, lo, hi);
}

// A convolution's geometry, passed by value (the runtime's ConvParams, channels last).
typedef struct {
    int n, c, h, w, m, oh, ow, kh, kw, group;
    int stride[2], pad[2], dilation[2];
} ferrite_conv_geom;

// Input row (or column) of tap k for output position o along axis `ax`, or −1 in the padding.
__device__ static inline int ferrite_tap(const ferrite_conv_geom *g, int ax, int o, int k, int size) {
    int i = o * g->stride[ax] + k * g->dilation[ax] - g->pad[ax];
    return (i >= 0 && i < size) ? i : -1;
}

// QConv with k4n16-hwc weights (full form, any groups): out[px, c] = requantize(bias[c] +
// Σ_taps patch·w[c, t] − zx·sums[c]), the patch's taps in the padding reading zx (a real 0); the
// same integer as the scalar `Σ (patch + 128)·w − (128 + zx)·s[c]`, since s[c] = Σ_t w[c, t].
// One thread per output, channels fastest.
KERNEL void ferrite_qconv_packed(const signed char *x, ferrite_conv_geom g, const signed char *w, const int *sums,
                                 const int *bias, const int *rq, int zx, int zy, int lo, int hi, signed char *out) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= g.n * g.oh * g.ow * g.m) {
        return;
    }
    int px = i / g.m, c = i % g.m;
    int n = px / (g.oh * g.ow), oy = px / g.ow % g.oh, ox = px % g.ow;
    int cpg = g.c / g.group, mpg = g.m / g.group, grp = c / mpg;
    int taps = g.kh * g.kw * cpg, kp = (taps + 3) / 4 * 4;
    const signed char *wc = w + (c / 16) * 16 * kp + (c % 16) * 4;
    unsigned int acc = 0;
    int t = 0;
    for (int ky = 0; ky < g.kh; ++ky) {
        int iy = ferrite_tap(&g, 0, oy, ky, g.h);
        for (int kx = 0; kx < g.kw; ++kx) {
            int ix = ferrite_tap(&g, 1, ox, kx, g.w);
            int base = ((n * g.h + iy) * g.w + ix) * g.c + grp * cpg;
            for (int ci = 0; ci < cpg; ++ci, ++t) {
                int xv = (iy < 0 || ix < 0) ? zx : x[base + ci];
                int wv = wc[(t / 4) * 64 + t % 4];
                acc += (unsigned int)(xv * wv);
            }
        }
    }
    unsigned int total = acc - (unsigned int)zx * (unsigned int)sums[c] + (unsigned int)bias[c];
    out[i] = ferrite_requantize((int)total, rq + 2 * c, zy, lo, hi);
}

// Depthwise QConv (group = C = M) with weights [kH, kW, M]: out[px, c] = requantize(bias[c] +
// Σ_taps inside (x − zx)·w[ky, kx, c]); the padding adds nothing.
KERNEL void ferrite_qconv_depthwise(const signed char *x, ferrite_conv_geom g, const signed char *w,
                                    const int *bias, const int *rq, int zx, int zy, int lo, int hi,
                                    signed char *out) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= g.n * g.oh * g.ow * g.m) {
        return;
    }
    int px = i / g.m, c = i % g.m;
    int n = px / (g.oh * g.ow), oy = px / g.ow % g.oh, ox = px % g.ow;
    unsigned int acc = 0;
    for (int ky = 0; ky < g.kh; ++ky) {
        int iy = ferrite_tap(&g, 0, oy, ky, g.h);
        for (int kx = 0; kx < g.kw; ++kx) {
            int ix = ferrite_tap(&g, 1, ox, kx, g.w);
            if (iy >= 0 && ix >= 0) {
                int xv = x[((n * g.h + iy) * g.w + ix) * g.m + c];
                acc += (unsigned int)((xv - zx) * w[(ky * g.kw + kx) * g.m + c]);
            }
        }
    }
    out[i] = ferrite_requantize((int)(acc + (unsigned int)bias[c]), rq + 2 * c, zy, lo, hi);
}

// A tensor's shape and a set of its axes (bit i: axis i), padded with 1s to rank 6.
typedef struct {
    int rank, mask;
    int dims[6];
} ferrite_axes;

// The kept coordinates of output `o` of a reduction over `a`'s masked axes (reduced axes at 0);
// returns how many input elements reduce into each output.
__device__ static inline int ferrite_kept(const ferrite_axes *a, int o, int *coord) {
    int rest = o, count = 1;
    for (int i = a->rank - 1; i >= 0; --i) {
        if (a->mask & (1 << i)) {
            coord[i] = 0;
            count *= a->dims[i];
        } else {
            coord[i] = rest % a->dims[i];
            rest /= a->dims[i];
        }
    }
    return count;
}

// The input offset of the r-th element reducing into the output at `coord`: r counts over the
// masked axes in input order (the last fastest), as the CPU kernels visit them.
__device__ static inline long long ferrite_reduced(const ferrite_axes *a, const int *coord, int r) {
    long long off = 0, stride = 1;
    for (int i = a->rank - 1; i >= 0; --i) {
        int ci = coord[i];
        if (a->mask & (1 << i)) {
            ci = r % a->dims[i];
            r /= a->dims[i];
        }
        off += ci * stride;
        stride *= a->dims[i];
    }
    return off;
}

// QMean: out[o] = requantize(Σ over the masked axes (x − zx), rq, zy, −128, 127), one thread per
// output element (the kept axes, in order).
KERNEL void ferrite_qmean(const signed char *x, ferrite_axes a, int zx, const int *rq, int zy, int n_out,
                          signed char *out) {
    int o = blockIdx.x * blockDim.x + threadIdx.x;
    if (o >= n_out) {
        return;
    }
    int coord[6];
    int count = ferrite_kept(&a, o, coord);
    unsigned int acc = 0;
    for (int r = 0; r < count; ++r) {
        acc += (unsigned int)(x[ferrite_reduced(&a, coord, r)] - zx);
    }
    out[o] = ferrite_requantize((int)acc, rq, zy, -128, 127);
}

// clamp(round(v) + zp, −128, 127), ties away from zero, NaN to zp: the scalar round_to_i8
// (|v| < 0.5 → 0, else truncate v ± 0.5; values far outside the int8 range clamp first, so that
// the conversion never overflows, to the same bytes).
__device__ static inline signed char ferrite_round_to_i8(float v, int zp) {
    int q;
    if (v != v) {
        q = 0;
    } else if (v < 0.5f && v > -0.5f) {
        q = 0;
    } else if (v >= 1000.0f) {
        q = 1000;
    } else if (v <= -1000.0f) {
        q = -1000;
    } else if (v >= 0.0f) {
        q = (int)(v + 0.5f);
    } else {
        q = (int)(v - 0.5f);
    }
    q += zp;
    return (signed char)(q < -128 ? -128 : (q > 127 ? 127 : q));
}

// Quantize (f32 → i8, per-tensor): round_to_i8(x / scale, zp), the scalar quantize_f32.
KERNEL void ferrite_quantize(const float *x, int n, float scale, int zp, signed char *out) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        out[i] = ferrite_round_to_i8(x[i] / scale, zp);
    }
}

// Quantize with a per-feature normalization folded in (rows of `row` features):
// round_to_i8(((x − offset[j]) · mul[j]) / scale, zp), j = i mod row, each step rounded in f32 as
// the runtime's affine quantization does.
KERNEL void ferrite_quantize_affine(const float *x, int n, const float *offset, const float *mul, int row,
                                    float scale, int zp, signed char *out) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        int j = i % row;
        float v = (x[i] - offset[j]) * mul[j];
        out[i] = ferrite_round_to_i8(v / scale, zp);
    }
}

// Dequantize (i8 → f32, per-tensor): scale · (q − zp).
KERNEL void ferrite_dequantize(const signed char *q, int n, float scale, int zp, float *out) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        out[i] = scale * (float)(q[i] - zp);
    }
}

// QLut: out[i] = table[x[i] + 128].
KERNEL void ferrite_qlut(const signed char *table, const signed char *x, int n, signed char *out) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        out[i] = table[x[i] + 128];
    }
}
