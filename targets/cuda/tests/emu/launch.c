/* The kernels as a shared library for the emulated device (tests/emulated_device.rs): each
 * kernel gets an entry `emu_NAME(params, grid, block)` that takes its arguments the way
 * cuLaunchKernel does (one pointer to each argument's value; device pointers are host addresses
 * here) and runs every thread of the one-dimensional grid in turn. */
#include "../../kernels/emu.h"
#include "../../kernels/int8.cu"
#include "../../kernels/movement.cu"

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
