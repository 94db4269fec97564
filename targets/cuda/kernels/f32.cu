// Ferrite's f32 CUDA kernels: each output computed with the operations, in the order, of the
// runtime's scalar specification (runtime/src/kernels/generic: matmul.rs, conv.rs, binary.rs,
// activation.rs, math.rs, norm.rs, softmax.rs, reduce.rs), so that they give its bits: no fused
// multiply-add (NVRTC runs with fmad off; the C build of the tests with -ffp-contract=off),
// IEEE division and square root, and the runtime's own exp/tanh/erf polynomials rather than the
// device's. The same C subset as int8.cu. `ferrite_erf_pieces` (the runtime's ERF_PIECES) is
// put in front of this file by crate::kernels::module_source.

#ifndef FERRITE_EMU
#define KERNEL extern "C" __global__
#endif

// IEEE half (bits) to f32, exactly (subnormals, infinities and NaN included).
__device__ static inline float ferrite_half(unsigned short h) {
    unsigned int sign = (unsigned int)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0x1fu) {
        return __uint_as_float(sign | 0x7f800000u | (m << 13));
    }
    if (e == 0) {
        // Subnormal (or zero): m · 2^-24, exact in f32.
        float v = (float)m * 5.9604644775390625e-8f;
        return sign ? -v : v;
    }
    return __uint_as_float(sign | ((e + 112u) << 23) | (m << 13));
}

// Element i of an f32 (f16 = 0) or f16 (f16 = 1) operand.
__device__ static inline float ferrite_at(const void *p, int f16, long long i) {
    return f16 ? ferrite_half(((const unsigned short *)p)[i]) : ((const float *)p)[i];
}

// math.rs's exp: Cephes range reduction and polynomial, 2^n from the exponent bits.
__device__ static inline float ferrite_exp(float x) {
    const float MAGIC = 12582912.0f;
    float xc = x > 88.0f ? 88.0f : (x < -87.0f ? -87.0f : x);
    float n = (xc * 1.44269504088896341f + MAGIC) - MAGIC;
    float r = (xc - n * 0.6933594f) - n * -2.1219444e-4f;
    float p = 1.9875691e-4f;
    p = p * r + 1.3981999e-3f;
    p = p * r + 8.333452e-3f;
    p = p * r + 4.1665796e-2f;
    p = p * r + 1.6666665e-1f;
    p = p * r + 5.0000001e-1f;
    p = p * (r * r) + r + 1.0f;
    float y = p * __uint_as_float((unsigned int)((int)n + 127) << 23);
    if (x > 88.0f) {
        return __uint_as_float(0x7f800000u);
    }
    if (x < -87.0f) {
        return 0.0f;
    }
    return x != x ? x : y;
}

__device__ static inline float ferrite_sigmoid(float x) {
    return 1.0f / (1.0f + ferrite_exp(-x));
}

__device__ static inline float ferrite_tanh(float x) {
    float a = x < 0.0f ? -x : x;
    float z = x * x;
    float p = -5.7049887e-3f;
    p = p * z + 2.0639089e-2f;
    p = p * z - 5.3739716e-2f;
    p = p * z + 1.3331442e-1f;
    p = p * z - 3.3333282e-1f;
    float small = p * z * x + x;
    float big = 1.0f - 2.0f / (ferrite_exp(a + a) + 1.0f);
    big = x < 0.0f ? -big : big;
    return a < 0.625f ? small : big;
}

__device__ static inline float ferrite_erf(float x) {
    unsigned int sign = __float_as_uint(x) & 0x80000000u;
    float a = __uint_as_float(__float_as_uint(x) & 0x7fffffffu);
    if (x != x) {
        return x;
    }
    if (a >= 4.0f) {
        return __uint_as_float(0x3f800000u | sign);
    }
    int i = (int)(a * 4.0f);
    i = i > 15 ? 15 : i;
    float t = a - (float)i * 0.25f;
    const float *c = ferrite_erf_pieces[i];
    float p = c[6];
    for (int j = 5; j >= 0; --j) {
        p = p * t + c[j];
    }
    return __uint_as_float(__float_as_uint(p) | sign);
}

// activation.rs's apply_activation for the functions the kernels take (Log is left to the CPU:
// libm's logf is not this file's). Codes: the runtime's UnaryFn.
__device__ static inline float ferrite_activate(int f, float a, float b, float x) {
    switch (f) {
    case 0: return x;
    case 1: return x > 0.0f ? x : 0.0f;
    case 2: return x >= 0.0f ? x : a * x;
    case 3: {
        float y = x < a ? a : x;
        return y > b ? b : y;
    }
    case 4: return ferrite_sigmoid(x);
    case 5: return ferrite_tanh(x);
    case 6: return 0.5f * x * (1.0f + ferrite_erf(x * 0.707106781186547524f));
    case 7: return 0.5f * x * (1.0f + ferrite_tanh(0.7978846f * (x + 0.044715f * x * x * x)));
    case 8: return sqrtf(x);
    case 9: return ferrite_erf(x);
    case 10: return ferrite_exp(x);
    case 12: return -x;
    case 13: return __uint_as_float(__float_as_uint(x) & 0x7fffffffu);
    case 14: return 1.0f / x;
    case 15: return rintf(x);
    default: return x;
    }
}

// The pairwise end of the 8-lane sums of math.rs (sum8) and of dot_f32.
__device__ static inline float ferrite_lanes(float *s) {
    return ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]));
}

// Batched MatMul geometry (the runtime's Params::MatMul) and its bias's strides over the output.
typedef struct {
    int m, k, n, batch, trans_a, trans_b, b_f16, act, batch_rank, has_bias, out_rank;
    float alpha, act_a, act_b;
    int batch_dims[6], a_strides[6], b_strides[6];
    int out_dims[6], bias_strides[6];
} ferrite_matmul_geom;

// MatMul: out[bi, i, j] = act(alpha · Σ_k op(A)[i, k] · op(B)[k, j] + bias). The sum: with plain
// A and transposed B, dot_f32's eight lanes; otherwise one running sum from +0 in k order. Then
// × alpha (when not 1), + bias (broadcast), the activation.
KERNEL void ferrite_matmul(const float *a, const void *b, const float *bias, ferrite_matmul_geom g, float *out) {
    int idx = blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= g.batch * g.m * g.n) {
        return;
    }
    int j = idx % g.n, i = idx / g.n % g.m, bi = idx / (g.m * g.n);
    long long a_off = 0, b_off = 0;
    int rem = bi;
    for (int ax = g.batch_rank - 1; ax >= 0; --ax) {
        int d = g.batch_dims[ax] > 0 ? g.batch_dims[ax] : 1;
        int c = rem % d;
        rem /= d;
        a_off += (long long)c * g.a_strides[ax];
        b_off += (long long)c * g.b_strides[ax];
    }
    float acc;
    if (g.trans_b && !g.trans_a) {
        float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        int full = g.k / 8 * 8;
        const float *ar = a + a_off + (long long)i * g.k;
        long long br = b_off + (long long)j * g.k;
        for (int kk = 0; kk < full; ++kk) {
            s[kk % 8] += ar[kk] * ferrite_at(b, g.b_f16, br + kk);
        }
        acc = ferrite_lanes(s);
        for (int kk = full; kk < g.k; ++kk) {
            acc += ar[kk] * ferrite_at(b, g.b_f16, br + kk);
        }
    } else {
        acc = 0.0f;
        for (int kk = 0; kk < g.k; ++kk) {
            float av = g.trans_a ? a[a_off + (long long)kk * g.m + i] : a[a_off + (long long)i * g.k + kk];
            float bv = g.trans_b ? ferrite_at(b, g.b_f16, b_off + (long long)j * g.k + kk)
                                 : ferrite_at(b, g.b_f16, b_off + (long long)kk * g.n + j);
            acc += av * bv;
        }
    }
    if (g.alpha != 1.0f) {
        acc *= g.alpha;
    }
    if (g.has_bias) {
        long long bo = 0;
        int r = idx;
        for (int ax = g.out_rank - 1; ax >= 0; --ax) {
            bo += (long long)(r % g.out_dims[ax]) * g.bias_strides[ax];
            r /= g.out_dims[ax];
        }
        acc += bias[bo];
    }
    out[idx] = ferrite_activate(g.act, g.act_a, g.act_b, acc);
}

// The f32 convolution's geometry (NCHW), its weight type and its fused activation.
typedef struct {
    int n, c, h, w, m, oh, ow, kh, kw, group;
    int stride[2], pad[2], dilation[2];
    int w_f16, has_bias, act;
    float act_a, act_b;
} ferrite_convf_geom;

// Conv: out[n, m, oy, ox] = act(bias[m] + Σ over (c, ky, kx), in that order, of w · x), a tap in
// the padding adding w · 0.0 (conv.rs).
KERNEL void ferrite_conv_f32(const float *x, const void *w, const float *bias, ferrite_convf_geom g, float *out) {
    int idx = blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= g.n * g.m * g.oh * g.ow) {
        return;
    }
    int ox = idx % g.ow, oy = idx / g.ow % g.oh, m = idx / (g.ow * g.oh) % g.m, n = idx / (g.ow * g.oh * g.m);
    int cpg = g.c / g.group, mpg = g.m / g.group, grp = m / mpg;
    float acc = g.has_bias ? bias[m] : 0.0f;
    for (int c = 0; c < cpg; ++c) {
        const float *xp = x + (long long)(n * g.c + grp * cpg + c) * g.h * g.w;
        for (int ky = 0; ky < g.kh; ++ky) {
            int iy = oy * g.stride[0] + ky * g.dilation[0] - g.pad[0];
            for (int kx = 0; kx < g.kw; ++kx) {
                int ix = ox * g.stride[1] + kx * g.dilation[1] - g.pad[1];
                float xv = (iy >= 0 && iy < g.h && ix >= 0 && ix < g.w) ? xp[iy * g.w + ix] : 0.0f;
                acc += ferrite_at(w, g.w_f16, ((long long)(m * cpg + c) * g.kh + ky) * g.kw + kx) * xv;
            }
        }
    }
    out[idx] = ferrite_activate(g.act, g.act_a, g.act_b, acc);
}

// Unary: out[i] = f(x[i]).
KERNEL void ferrite_unary(const float *x, int n, int f, float a, float b, float *out) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        out[i] = ferrite_activate(f, a, b, x[i]);
    }
}

// Two operands broadcast over the output: its dims and each operand's strides (0 on broadcast
// axes), padded to rank 6.
typedef struct {
    int rank, f;
    int dims[6], a_strides[6], b_strides[6];
} ferrite_broadcast;

// Binary: Add, Sub, Mul, Div (codes 0-3 of the runtime's BinaryFn). Pow (libm's powf) and
// Max/Min (whose result for two zeros of opposite sign Rust leaves unspecified) stay on the CPU.
KERNEL void ferrite_binary(const float *a, const float *b, ferrite_broadcast g, int n, float *out) {
    int idx = blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= n) {
        return;
    }
    long long ia = 0, ib = 0;
    int r = idx;
    for (int ax = g.rank - 1; ax >= 0; --ax) {
        int c = r % g.dims[ax];
        r /= g.dims[ax];
        ia += (long long)c * g.a_strides[ax];
        ib += (long long)c * g.b_strides[ax];
    }
    float x = a[ia], y = b[ib], v;
    switch (g.f) {
    case 0: v = x + y; break;
    case 1: v = x - y; break;
    case 2: v = x * y; break;
    case 3: v = x / y; break;
    default: v = x; break;
    }
    out[idx] = v;
}

// LayerNorm, one thread per row: mean and variance by 8-lane sums, then
// (v − mean) · (1 / sqrt(var + eps)) · scale + bias (+ 0 without a bias), as norm.rs.
KERNEL void ferrite_layer_norm(const float *x, const float *scale, const float *bias, int has_bias, int outer,
                               int inner, float eps, float *out) {
    int o = blockIdx.x * blockDim.x + threadIdx.x;
    if (o >= outer) {
        return;
    }
    const float *row = x + (long long)o * inner;
    int full = inner / 8 * 8;
    float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int j = 0; j < full; ++j) {
        s[j % 8] += row[j];
    }
    float sum = ferrite_lanes(s);
    for (int j = full; j < inner; ++j) {
        sum += row[j];
    }
    float nf = (float)inner, mean = sum / nf;
    float q[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int j = 0; j < full; ++j) {
        float d = row[j] - mean;
        q[j % 8] += d * d;
    }
    float sq = ferrite_lanes(q);
    for (int j = full; j < inner; ++j) {
        float d = row[j] - mean;
        sq += d * d;
    }
    float inv = 1.0f / sqrtf(sq / nf + eps);
    for (int j = 0; j < inner; ++j) {
        float b = has_bias ? bias[j] : 0.0f;
        out[(long long)o * inner + j] = (row[j] - mean) * inv * scale[j] + b;
    }
}

// Softmax (not LogSoftmax: its logf is left to the CPU), one thread per (outer, inner) line:
// the max, e_k = exp(x_k − max), their 8-lane sum, e_k / sum (softmax.rs).
KERNEL void ferrite_softmax(const float *x, int outer, int axis_len, int inner, float *out) {
    int t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= outer * inner) {
        return;
    }
    int o = t / inner, i = t % inner;
    long long base = (long long)o * axis_len * inner + i;
    float max = -__uint_as_float(0x7f800000u);
    for (int k = 0; k < axis_len; ++k) {
        float v = x[base + (long long)k * inner];
        max = v > max ? v : max;
    }
    for (int k = 0; k < axis_len; ++k) {
        out[base + (long long)k * inner] = ferrite_exp(x[base + (long long)k * inner] - max);
    }
    int full = axis_len / 8 * 8;
    float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int k = 0; k < full; ++k) {
        s[k % 8] += out[base + (long long)k * inner];
    }
    float sum = ferrite_lanes(s);
    for (int k = full; k < axis_len; ++k) {
        sum += out[base + (long long)k * inner];
    }
    for (int k = 0; k < axis_len; ++k) {
        out[base + (long long)k * inner] = out[base + (long long)k * inner] / sum;
    }
}

// Reduce (Mean: f = 0, Sum: f = 1) over the masked axes (ferrite_axes from int8.cu), one thread
// per output: the inputs added in input order from +0, Mean then divided by the count
// (reduce.rs). Max and Min stay on the CPU (see Binary).
KERNEL void ferrite_reduce(const float *x, ferrite_axes a, int f, int n_out, float *out) {
    int o = blockIdx.x * blockDim.x + threadIdx.x;
    if (o >= n_out) {
        return;
    }
    int coord[6];
    int count = ferrite_kept(&a, o, coord);
    float acc = 0.0f;
    for (int r = 0; r < count; ++r) {
        acc = acc + x[ferrite_reduced(&a, coord, r)];
    }
    if (f == 0 && count > 0) {
        acc /= (float)count;
    }
    out[o] = acc;
}

// Cast i32 → f32 (round to nearest, as `as f32`).
KERNEL void ferrite_cast_i32_f32(const int *x, int n, float *out) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        out[i] = (float)x[i];
    }
}

// DynQMatMul (f32 in and out, int8 inside; here for ferrite_activate), step 1 (dynq.rs quantize_rows): each row's max|x| (NaN ignored), one thread per
// row, kept in the op's scratch where the CPU keeps the row's scale (max / 127, recomputed from it
// by the steps after, with the same division).
KERNEL void ferrite_dynq_max(const float *x, int m, int k, float *row_max) {
    int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= m) {
        return;
    }
    float max = 0.0f;
    for (int i = 0; i < k; ++i) {
        float v = x[(long long)r * k + i];
        v = v < 0.0f ? -v : v;
        max = (v != v) ? max : (v > max ? v : max);
    }
    row_max[r] = max;
}

// Step 2: each value as round_to_i8(x · (127 / max), 0), all 0 where the scale max / 127 is not
// positive. One thread per value.
KERNEL void ferrite_dynq_quantize(const float *x, int m, int k, const float *row_max, signed char *xq) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= m * k) {
        return;
    }
    float max = row_max[i / k];
    xq[i] = (max / 127.0f > 0.0f) ? ferrite_round_to_i8(x[i] * (127.0f / max), 0) : 0;
}

// Step 3: out[r, c] = act((Σ_k xq[r, k] · w[c, k]) · (s_r · ws[c]) + bias[c]) + residual[r, c],
// s_r = max_r / 127, each an f32 step in that order (dynq.rs dyn_qmatmul, finish_rows); k4n16
// weights, sums by __dp4a (exact). One thread per output, channels fastest.
KERNEL void ferrite_dynq_gemm(const signed char *xq, const float *row_max, int m, int k, const signed char *w,
                              int n, const float *ws, const float *bias, int act, float act_a, float act_b,
                              const float *residual, float *out) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= m * n) {
        return;
    }
    int r = i / n, c = i % n;
    int kp = (k + 3) / 4 * 4;
    const signed char *wc = w + (long long)(c / 16) * 16 * kp + (c % 16) * 4;
    const signed char *ar = xq + (long long)r * k;
    int acc = 0;
    for (int g = 0; g < kp / 4; ++g) {
        acc = __dp4a(ferrite_load4(ar, 4 * g, k), ferrite_load4(wc + 64 * g, 0, 4), acc);
    }
    float s = row_max[r] / 127.0f;
    float y = (float)acc * (s * ws[c]) + (bias ? bias[c] : 0.0f);
    y = ferrite_activate(act, act_a, act_b, y);
    out[i] = residual ? y + residual[i] : y;
}
