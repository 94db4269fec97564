/* The kernels as a shared library for the emulated device (tests/emulated_device.rs, which
 * writes module.cu beside this file's copy: crate::kernels::module_source, what NVRTC compiles): each
 * kernel gets an entry `emu_NAME(params, grid, block)` that takes its arguments the way
 * cuLaunchKernel does (one pointer to each argument's value; device pointers are host addresses
 * here) and runs every thread of the one-dimensional grid in turn. */
#include "emu.h"
#include "module.cu"

#define ARG(i, T) (*(T *)p[i])
typedef const signed char *cs8;
typedef signed char *s8;
typedef const int *ci32;

void emu_ferrite_qgemm_dp4a(void **p, int gx, int bx) {
    FERRITE_LAUNCH(gx, 1, bx,
                   ferrite_qgemm_dp4a(ARG(0, cs8), ARG(1, int), ARG(2, int), ARG(3, cs8), ARG(4, ci32), ARG(5, int),
                                      ARG(6, ci32), ARG(7, ci32), ARG(8, int), ARG(9, int), ARG(10, int),
                                      ARG(11, int), ARG(12, s8)));
}

void emu_ferrite_qconv_packed(void **p, int gx, int bx) {
    FERRITE_LAUNCH(gx, 1, bx,
                   ferrite_qconv_packed(ARG(0, cs8), ARG(1, ferrite_conv_geom), ARG(2, cs8), ARG(3, ci32),
                                        ARG(4, ci32), ARG(5, ci32), ARG(6, int), ARG(7, int), ARG(8, int),
                                        ARG(9, int), ARG(10, s8)));
}

void emu_ferrite_qconv_depthwise(void **p, int gx, int bx) {
    FERRITE_LAUNCH(gx, 1, bx,
                   ferrite_qconv_depthwise(ARG(0, cs8), ARG(1, ferrite_conv_geom), ARG(2, cs8), ARG(3, ci32),
                                           ARG(4, ci32), ARG(5, int), ARG(6, int), ARG(7, int), ARG(8, int),
                                           ARG(9, s8)));
}

void emu_ferrite_qmean(void **p, int gx, int bx) {
    FERRITE_LAUNCH(gx, 1, bx,
                   ferrite_qmean(ARG(0, cs8), ARG(1, ferrite_axes), ARG(2, int), ARG(3, ci32), ARG(4, int),
                                 ARG(5, int), ARG(6, s8)));
}

void emu_ferrite_quantize(void **p, int gx, int bx) {
    FERRITE_LAUNCH(gx, 1, bx,
                   ferrite_quantize(ARG(0, const float *), ARG(1, int), ARG(2, float), ARG(3, int), ARG(4, s8)));
}

void emu_ferrite_quantize_affine(void **p, int gx, int bx) {
    FERRITE_LAUNCH(gx, 1, bx,
                   ferrite_quantize_affine(ARG(0, const float *), ARG(1, int), ARG(2, const float *),
                                           ARG(3, const float *), ARG(4, int), ARG(5, float), ARG(6, int),
                                           ARG(7, s8)));
}

void emu_ferrite_dequantize(void **p, int gx, int bx) {
    FERRITE_LAUNCH(gx, 1, bx,
                   ferrite_dequantize(ARG(0, cs8), ARG(1, int), ARG(2, float), ARG(3, int), ARG(4, float *)));
}

void emu_ferrite_qlut(void **p, int gx, int bx) {
    FERRITE_LAUNCH(gx, 1, bx, ferrite_qlut(ARG(0, cs8), ARG(1, cs8), ARG(2, int), ARG(3, s8)));
}

void emu_ferrite_transpose(void **p, int gx, int bx) {
    FERRITE_LAUNCH(gx, 1, bx,
                   ferrite_transpose(ARG(0, const unsigned char *), ARG(1, ferrite_perm), ARG(2, int),
                                     ARG(3, unsigned char *)));
}

typedef const float *cf32;
typedef float *f32p;

void emu_ferrite_matmul(void **p, int gx, int bx) {
    FERRITE_LAUNCH(gx, 1, bx,
                   ferrite_matmul(ARG(0, cf32), ARG(1, const void *), ARG(2, cf32), ARG(3, ferrite_matmul_geom),
                                  ARG(4, f32p)));
}

void emu_ferrite_conv_f32(void **p, int gx, int bx) {
    FERRITE_LAUNCH(gx, 1, bx,
                   ferrite_conv_f32(ARG(0, cf32), ARG(1, const void *), ARG(2, cf32), ARG(3, ferrite_convf_geom),
                                    ARG(4, f32p)));
}

void emu_ferrite_unary(void **p, int gx, int bx) {
    FERRITE_LAUNCH(gx, 1, bx,
                   ferrite_unary(ARG(0, cf32), ARG(1, int), ARG(2, int), ARG(3, float), ARG(4, float), ARG(5, f32p)));
}

void emu_ferrite_binary(void **p, int gx, int bx) {
    FERRITE_LAUNCH(gx, 1, bx,
                   ferrite_binary(ARG(0, cf32), ARG(1, cf32), ARG(2, ferrite_broadcast), ARG(3, int), ARG(4, f32p)));
}

void emu_ferrite_layer_norm(void **p, int gx, int bx) {
    FERRITE_LAUNCH(gx, 1, bx,
                   ferrite_layer_norm(ARG(0, cf32), ARG(1, cf32), ARG(2, cf32), ARG(3, int), ARG(4, int), ARG(5, int),
                                      ARG(6, float), ARG(7, f32p)));
}

void emu_ferrite_softmax(void **p, int gx, int bx) {
    FERRITE_LAUNCH(gx, 1, bx, ferrite_softmax(ARG(0, cf32), ARG(1, int), ARG(2, int), ARG(3, int), ARG(4, f32p)));
}

void emu_ferrite_reduce(void **p, int gx, int bx) {
    FERRITE_LAUNCH(gx, 1, bx, ferrite_reduce(ARG(0, cf32), ARG(1, ferrite_axes), ARG(2, int), ARG(3, int), ARG(4, f32p)));
}

void emu_ferrite_cast_i32_f32(void **p, int gx, int bx) {
    FERRITE_LAUNCH(gx, 1, bx, ferrite_cast_i32_f32(ARG(0, const int *), ARG(1, int), ARG(2, f32p)));
}

void emu_ferrite_gather(void **p, int gx, int bx) {
    FERRITE_LAUNCH(gx, 1, bx,
                   ferrite_gather(ARG(0, const unsigned char *), ARG(1, const int *), ARG(2, ferrite_gather_geom),
                                  ARG(3, int *), ARG(4, unsigned char *)));
}

void emu_ferrite_gather_dequant(void **p, int gx, int bx) {
    FERRITE_LAUNCH(gx, 1, bx,
                   ferrite_gather_dequant(ARG(0, cs8), ARG(1, cf32), ARG(2, const int *), ARG(3, int), ARG(4, int),
                                          ARG(5, int), ARG(6, int), ARG(7, int *), ARG(8, f32p)));
}

typedef const void *cv;

void emu_ferrite_rnn_init(void **p, int gx, int bx) {
    FERRITE_LAUNCH(gx, 1, bx, ferrite_rnn_init(ARG(0, ferrite_rnn), ARG(1, int), ARG(2, cf32), ARG(3, cf32), ARG(4, f32p)));
}

void emu_ferrite_rnn_quantize(void **p, int gx, int bx) {
    FERRITE_LAUNCH(gx, 1, bx, ferrite_rnn_quantize(ARG(0, ferrite_rnn), ARG(1, int), ARG(2, cv), ARG(3, int), ARG(4, f32p)));
}

void emu_ferrite_rnn_products(void **p, int gx, int bx) {
    FERRITE_LAUNCH(gx, 1, bx,
                   ferrite_rnn_products(ARG(0, ferrite_rnn), ARG(1, int), ARG(2, int), ARG(3, cv), ARG(4, cv), ARG(5, cv),
                                        ARG(6, cf32), ARG(7, cf32), ARG(8, cf32), ARG(9, f32p)));
}

void emu_ferrite_lstm_cell(void **p, int gx, int bx) {
    FERRITE_LAUNCH(gx, 1, bx,
                   ferrite_lstm_cell(ARG(0, ferrite_rnn), ARG(1, int), ARG(2, int), ARG(3, cf32), ARG(4, f32p), ARG(5, f32p)));
}

void emu_ferrite_gru_gates(void **p, int gx, int bx) {
    FERRITE_LAUNCH(gx, 1, bx, ferrite_gru_gates(ARG(0, ferrite_rnn), ARG(1, f32p)));
}

void emu_ferrite_gru_reset_products(void **p, int gx, int bx) {
    FERRITE_LAUNCH(gx, 1, bx,
                   ferrite_gru_reset_products(ARG(0, ferrite_rnn), ARG(1, int), ARG(2, cv), ARG(3, cf32), ARG(4, cf32),
                                              ARG(5, f32p)));
}

void emu_ferrite_gru_hidden(void **p, int gx, int bx) {
    FERRITE_LAUNCH(gx, 1, bx, ferrite_gru_hidden(ARG(0, ferrite_rnn), ARG(1, int), ARG(2, int), ARG(3, f32p), ARG(4, f32p)));
}

void emu_ferrite_rnn_final(void **p, int gx, int bx) {
    FERRITE_LAUNCH(gx, 1, bx, ferrite_rnn_final(ARG(0, ferrite_rnn), ARG(1, int), ARG(2, cf32), ARG(3, f32p), ARG(4, f32p)));
}

void emu_ferrite_dynq_max(void **p, int gx, int bx) {
    FERRITE_LAUNCH(gx, 1, bx, ferrite_dynq_max(ARG(0, cf32), ARG(1, int), ARG(2, int), ARG(3, f32p)));
}

void emu_ferrite_dynq_quantize(void **p, int gx, int bx) {
    FERRITE_LAUNCH(gx, 1, bx, ferrite_dynq_quantize(ARG(0, cf32), ARG(1, int), ARG(2, int), ARG(3, cf32), ARG(4, s8)));
}

void emu_ferrite_dynq_gemm(void **p, int gx, int bx) {
    FERRITE_LAUNCH(gx, 1, bx,
                   ferrite_dynq_gemm(ARG(0, cs8), ARG(1, cf32), ARG(2, int), ARG(3, int), ARG(4, cs8), ARG(5, int),
                                     ARG(6, cf32), ARG(7, cf32), ARG(8, int), ARG(9, float), ARG(10, float),
                                     ARG(11, cf32), ARG(12, f32p)));
}
