// Ferrite's recurrent kernels (LSTM, GRU; f32, f16 and int8 matrices): the runtime's rnn.rs
// step by step, each phase of a step one launch (the phases need every unit of the previous one,
// and a launch boundary is the barrier that also runs on the host emulation). Per batch row the
// scratch holds rnn.rs's layout: xw (gates·hidden), rh (gates·hidden), h, c, spare (hidden);
// the int8 scratch after it: x quantized (input), h quantized (hidden). Every value is computed
// with rnn.rs's operations in its order (f32 products in dot_f32's eight lanes, int8 products
// exact and scaled once), so the outputs are the CPU's bits.

typedef struct {
    int lstm, seq, batch, input, hidden, dirs, reverse_only, batch_first, lbr;
    int w_kind;  // 0 f32, 1 f16, 2 int8 row-major, 3 int8 k4n16 (full form)
    int int8, x_i8, has_bias, has_h0, has_c0, has_peep, has_y, has_yh, has_yc, x_zp, h_zp, i8_off;
    float clip, x_scale, h_scale;
} ferrite_rnn;

__device__ static inline int ferrite_gates(const ferrite_rnn *g) {
    return g->lstm ? 4 : 3;
}

// Floats of one batch row's f32 scratch: xw, rh, h, c, spare.
__device__ static inline int ferrite_rnn_row(const ferrite_rnn *g) {
    return 2 * ferrite_gates(g) * g->hidden + 3 * g->hidden;
}

__device__ static inline long long ferrite_state_at(const ferrite_rnn *g, int d, int b) {
    return g->batch_first ? ((long long)b * g->dirs + d) * g->hidden : ((long long)d * g->batch + b) * g->hidden;
}

__device__ static inline long long ferrite_x_at(const ferrite_rnn *g, int t, int b) {
    return g->batch_first ? ((long long)b * g->seq + t) * g->input : ((long long)t * g->batch + b) * g->input;
}

__device__ static inline float ferrite_clip_gate(float v, float c) {
    if (c > 0.0f) {
        float y = v < -c ? -c : v;
        return y > c ? c : y;
    }
    return v;
}

// Weight (kk) of row `row` of a k-column matrix of kind w_kind, as a float (f32, f16) or an int.
__device__ static inline float ferrite_wf(const void *w, int kind, long long row, int k, int kk) {
    return kind == 1 ? ferrite_half(((const unsigned short *)w)[row * k + kk]) : ((const float *)w)[row * k + kk];
}

__device__ static inline int ferrite_wq(const void *w, int kind, long long row, int k, int kk) {
    const signed char *q = (const signed char *)w;
    if (kind == 3) {
        long long kp = (k + 3) / 4 * 4;
        return q[(row / 16) * 16 * kp + (kk / 4) * 64 + (row % 16) * 4 + kk % 4];
    }
    return q[row * k + kk];
}

// bias + (matrix row) · v: f32 and f16 rows as dot_f32 (eight lanes, then the bias added), int8
// rows as the exact sum of (vq − zp) · w scaled by vs · scale[row].
__device__ static inline float ferrite_rnn_product(const ferrite_rnn *g, const void *w, const float *scales,
                                                   long long row, int k, const float *v, const signed char *vq,
                                                   int zp, float vs, float bias) {
    if (g->int8) {
        unsigned int acc = 0;
        for (int kk = 0; kk < k; ++kk) {
            acc += (unsigned int)((vq[kk] - zp) * ferrite_wq(w, g->w_kind, row, k, kk));
        }
        return bias + (float)(int)acc * (vs * scales[row]);
    }
    float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int full = k / 8 * 8;
    for (int kk = 0; kk < full; ++kk) {
        s[kk % 8] += v[kk] * ferrite_wf(w, g->w_kind, row, k, kk);
    }
    float acc = ferrite_lanes(s);
    for (int kk = full; kk < k; ++kk) {
        acc += v[kk] * ferrite_wf(w, g->w_kind, row, k, kk);
    }
    return acc + bias;
}

// The initial h and c of direction d (initial_h/initial_c, else 0). Threads: batch · hidden.
KERNEL void ferrite_rnn_init(ferrite_rnn g, int d, const float *h0, const float *c0, float *scratch) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= g.batch * g.hidden) {
        return;
    }
    int b = i / g.hidden, j = i % g.hidden;
    float *s = scratch + (long long)b * ferrite_rnn_row(&g) + 2 * ferrite_gates(&g) * g.hidden;
    long long at = ferrite_state_at(&g, d, b) + j;
    s[j] = g.has_h0 ? h0[at] : 0.0f;
    s[g.hidden + j] = g.has_c0 ? c0[at] : 0.0f;
}

// int8 matrices: x_t (or its int8 form) and h, quantized for step t. Threads: batch · (input +
// hidden). `spare`: quantize the spare row (GRU's r ⊙ h) into the h slot instead.
KERNEL void ferrite_rnn_quantize(ferrite_rnn g, int t, const void *x, int spare, float *scratch) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    int per = spare ? g.hidden : g.input + g.hidden;
    if (i >= g.batch * per) {
        return;
    }
    int b = i / per, e = i % per;
    float *s = scratch + (long long)b * ferrite_rnn_row(&g);
    signed char *q = (signed char *)scratch + g.i8_off + (long long)b * (g.input + g.hidden);
    int gh = ferrite_gates(&g) * g.hidden;
    if (spare) {
        q[g.input + e] = ferrite_round_to_i8(s[2 * gh + 2 * g.hidden + e] / g.h_scale, g.h_zp);
    } else if (e < g.input) {
        long long at = ferrite_x_at(&g, t, b) + e;
        q[e] = g.x_i8 ? ((const signed char *)x)[at] : ferrite_round_to_i8(((const float *)x)[at] / g.x_scale, g.x_zp);
    } else {
        q[e] = ferrite_round_to_i8(s[2 * gh + (e - g.input)] / g.h_scale, g.h_zp);
    }
}

// Step t's gate products: xw[u] = Wb[u] + W[d·gh + u] · x_t, rh[u] = Rb[u] + R[d·gh + u] · h
// (u < gh). Threads: batch · 2·gh.
KERNEL void ferrite_rnn_products(ferrite_rnn g, int d, int t, const void *x, const void *w, const void *r,
                                 const float *bias, const float *wscales, const float *rscales, float *scratch) {
    int gh = ferrite_gates(&g) * g.hidden;
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= g.batch * 2 * gh) {
        return;
    }
    int b = i / (2 * gh), u = i % (2 * gh);
    float *s = scratch + (long long)b * ferrite_rnn_row(&g);
    const signed char *q = (const signed char *)scratch + g.i8_off + (long long)b * (g.input + g.hidden);
    const float *bb = g.has_bias ? bias + (long long)d * 2 * gh : 0;
    if (u < gh) {
        const float *xt = g.int8 ? 0 : (const float *)x + ferrite_x_at(&g, t, b);
        s[u] = ferrite_rnn_product(&g, w, wscales, (long long)d * gh + u, g.input, xt, q, g.x_zp, g.x_scale,
                                   bb ? bb[u] : 0.0f);
    } else {
        int v = u - gh;
        s[u] = ferrite_rnn_product(&g, r, rscales, (long long)d * gh + v, g.hidden, s + 2 * gh, q + g.input,
                                   g.h_zp, g.h_scale, bb ? bb[gh + v] : 0.0f);
    }
}

// LSTM's cell for step t (rnn.rs lstm_unit), and Y. Threads: batch · hidden.
KERNEL void ferrite_lstm_cell(ferrite_rnn g, int d, int t, const float *peep, float *scratch, float *y) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= g.batch * g.hidden) {
        return;
    }
    int b = i / g.hidden, j = i % g.hidden, h = g.hidden;
    float *s = scratch + (long long)b * ferrite_rnn_row(&g);
    float *xw = s, *rh = s + 4 * h, *hs = s + 8 * h, *cs = s + 9 * h;
    const float *p = g.has_peep ? peep + (long long)d * 3 * h : 0;
    float c_prev = cs[j];
    float i_g = ferrite_sigmoid(ferrite_clip_gate(xw[j] + rh[j] + (p ? p[j] : 0.0f) * c_prev, g.clip));
    float f_g = ferrite_sigmoid(ferrite_clip_gate(xw[2 * h + j] + rh[2 * h + j] + (p ? p[2 * h + j] : 0.0f) * c_prev, g.clip));
    float c_g = ferrite_tanh(ferrite_clip_gate(xw[3 * h + j] + rh[3 * h + j], g.clip));
    float c_new = f_g * c_prev + i_g * c_g;
    float o_g = ferrite_sigmoid(ferrite_clip_gate(xw[h + j] + rh[h + j] + (p ? p[h + j] : 0.0f) * c_new, g.clip));
    cs[j] = c_new;
    hs[j] = o_g * ferrite_tanh(c_new);
    if (g.has_y) {
        long long at = g.batch_first ? (((long long)b * g.seq + t) * g.dirs + d) * h : (((long long)t * g.dirs + d) * g.batch + b) * h;
        y[at + j] = hs[j];
    }
}

// GRU's z and r gates (rnn.rs gru_gates) and, before a reset applied to h, spare = r ⊙ h.
// Threads: batch · 2·hidden.
KERNEL void ferrite_gru_gates(ferrite_rnn g, float *scratch) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    int h = g.hidden;
    if (i >= g.batch * 2 * h) {
        return;
    }
    int b = i / (2 * h), e = i % (2 * h);
    float *s = scratch + (long long)b * ferrite_rnn_row(&g);
    float v = ferrite_sigmoid(ferrite_clip_gate(s[e] + s[3 * h + e], g.clip));
    s[e] = v;
    if (!g.lbr && e >= h) {
        s[6 * h + 2 * h + (e - h)] = v * s[6 * h + (e - h)];
    }
}

// GRU without linear_before_reset: rh[2h + u] = Rbh[u] + R[d·gh + 2h + u] · (r ⊙ h). Threads:
// batch · hidden.
KERNEL void ferrite_gru_reset_products(ferrite_rnn g, int d, const void *r, const float *bias, const float *rscales,
                                       float *scratch) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    int h = g.hidden, gh = 3 * h;
    if (i >= g.batch * h) {
        return;
    }
    int b = i / h, u = i % h;
    float *s = scratch + (long long)b * ferrite_rnn_row(&g);
    const signed char *q = (const signed char *)scratch + g.i8_off + (long long)b * (g.input + h);
    float bv = g.has_bias ? bias[(long long)d * 2 * gh + gh + 2 * h + u] : 0.0f;
    s[gh + 2 * h + u] = ferrite_rnn_product(&g, r, rscales, (long long)d * gh + 2 * h + u, h, s + 2 * gh + 2 * h,
                                            q + g.input, g.h_zp, g.h_scale, bv);
}

// GRU's new h (rnn.rs gru_hidden), and Y. Threads: batch · hidden.
KERNEL void ferrite_gru_hidden(ferrite_rnn g, int d, int t, float *scratch, float *y) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    int h = g.hidden;
    if (i >= g.batch * h) {
        return;
    }
    int b = i / h, j = i % h;
    float *s = scratch + (long long)b * ferrite_rnn_row(&g);
    float *xw = s, *rh = s + 3 * h, *hs = s + 6 * h;
    float z = xw[j], r = xw[h + j], xh = xw[2 * h + j], rhh = rh[2 * h + j];
    float cand = g.lbr ? ferrite_tanh(ferrite_clip_gate(xh + r * rhh, g.clip)) : ferrite_tanh(ferrite_clip_gate(xh + rhh, g.clip));
    hs[j] = (1.0f - z) * cand + z * hs[j];
    if (g.has_y) {
        long long at = g.batch_first ? (((long long)b * g.seq + t) * g.dirs + d) * h : (((long long)t * g.dirs + d) * g.batch + b) * h;
        y[at + j] = hs[j];
    }
}

// Y_h and Y_c of direction d. Threads: batch · hidden.
KERNEL void ferrite_rnn_final(ferrite_rnn g, int d, const float *scratch, float *y_h, float *y_c) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= g.batch * g.hidden) {
        return;
    }
    int b = i / g.hidden, j = i % g.hidden;
    const float *s = scratch + (long long)b * ferrite_rnn_row(&g) + 2 * ferrite_gates(&g) * g.hidden;
    long long at = ferrite_state_at(&g, d, b) + j;
    if (g.has_yh) {
        y_h[at] = s[j];
    }
    if (g.has_yc) {
        y_c[at] = s[g.hidden + j];
    }
}
