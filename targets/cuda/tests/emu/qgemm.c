/* Host harness for ferrite_qgemm_dp4a: reads the case from argv[1] (little-endian i32 header
 * m, k, n, za, zy, lo, hi; then a (m·k bytes), w (16·ceil(n/16)·kp bytes), sums, bias, rq
 * (padded-row count, n, 2n i32: multiplier and shift per channel)), launches the kernel on
 * 32-thread blocks (a partial last block, unlike the backend's 128), and writes the m·n output
 * bytes to argv[2]. */
#include <stdio.h>
#include <stdlib.h>
#include "../../kernels/emu.h"
#include "../../kernels/int8.cu"

static void *take(FILE *f, size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p || fread(p, 1, n, f) != n) { fprintf(stderr, "short case file\n"); exit(2); }
    return p;
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: qgemm CASE OUT\n"); return 2; }
    FILE *f = fopen(argv[1], "rb");
    if (!f) { perror(argv[1]); return 2; }
    int *h = take(f, 7 * sizeof(int));
    int m = h[0], k = h[1], n = h[2];
    int kp = (k + 3) / 4 * 4, rp = (n + 15) / 16 * 16;
    signed char *a = take(f, (size_t)m * k), *w = take(f, (size_t)rp * kp);
    int *sums = take(f, rp * sizeof(int)), *bias = take(f, n * sizeof(int));
    int *rq = take(f, 2 * n * sizeof(int));
    fclose(f);
    signed char *out = calloc((size_t)m * n, 1);
    int bx = 32, gx = (m * n + bx - 1) / bx;
    FERRITE_LAUNCH(gx, 1, bx, ferrite_qgemm_dp4a(a, m, k, w, sums, n, bias, rq, h[3], h[4], h[5], h[6], out));
    FILE *o = fopen(argv[2], "wb");
    if (!o || fwrite(out, 1, (size_t)m * n, o) != (size_t)m * n) { perror(argv[2]); return 2; }
    fclose(o);
    return 0;
}
