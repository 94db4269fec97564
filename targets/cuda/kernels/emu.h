/* Runs CUDA kernels written in the C subset of the kernels/ sources on the host, one thread after another:
 * what the tests use to check the kernels' arithmetic against the runtime's scalar kernels on a
 * machine without a GPU. Only for kernels without shared memory or barriers. */
#ifndef FERRITE_EMU_H
#define FERRITE_EMU_H
#define FERRITE_EMU 1
#include <math.h>
#include <string.h>
#define KERNEL
#define __device__
#define __global__
#define __constant__ static const
typedef struct { int x, y, z; } ferrite_dim3;
static ferrite_dim3 blockIdx, threadIdx, blockDim, gridDim;

/* dp4a: four signed byte products added to c, wrapping. */
static inline int __dp4a(int a, int b, int c) {
    unsigned int s = (unsigned int)c;
    for (int t = 0; t < 4; ++t) {
        int x = (signed char)(((unsigned int)a >> (8 * t)) & 0xff);
        int y = (signed char)(((unsigned int)b >> (8 * t)) & 0xff);
        s += (unsigned int)(x * y);
    }
    return (int)s;
}

/* Bit casts, as CUDA's intrinsics. */
static inline float __uint_as_float(unsigned int u) { float f; memcpy(&f, &u, 4); return f; }
static inline unsigned int __float_as_uint(float f) { unsigned int u; memcpy(&u, &f, 4); return u; }

/* Runs `body` for every thread of a (gx, gy) grid of (bx)-thread blocks. */
#define FERRITE_LAUNCH(gx, gy, bx, body)                                                       \
    do {                                                                                       \
        gridDim.x = (gx); gridDim.y = (gy); gridDim.z = 1;                                      \
        blockDim.x = (bx); blockDim.y = 1; blockDim.z = 1;                                      \
        for (blockIdx.y = 0; blockIdx.y < (gy); ++blockIdx.y)                                   \
            for (blockIdx.x = 0; blockIdx.x < (gx); ++blockIdx.x)                               \
                for (threadIdx.x = 0; threadIdx.x < (bx); ++threadIdx.x) { body; }              \
    } while (0)
#endif
