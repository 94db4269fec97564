#!/usr/bin/env python3
"""Fits the piecewise polynomials of `generic::math::erf` and prints them as the Rust table
`ERF_PIECES` (runtime/src/kernels/generic/math.rs).

erf(|x|) on [0, 4) is cut into 16 pieces of width 1/4. Piece i holds a degree-6 polynomial in
t = |x| − i/4 (t in [0, 1/4)); piece 0 has no constant term, so that erf(0) = 0 and small inputs
keep their relative accuracy. Each piece is a weighted least-squares fit on 400 Chebyshev nodes,
reweighted toward the minimax (Lawson's iteration), against Python's double-precision math.erf;
the coefficients are rounded to f32. The script then evaluates the table exactly as the kernels
do (f32 Horner steps, no fused multiply-add) on a dense grid and prints the worst absolute error.

    python3 runtime/tools/erf_pieces.py        (needs numpy)
"""
import math

import numpy as np

F = np.float32
WIDTH, PIECES, DEGREE, NODES = 0.25, 16, 6, 400


def fit_piece(i):
    k = np.arange(NODES)
    t = (WIDTH / 2) * (1 - np.cos(np.pi * (k + 0.5) / NODES))
    y = np.array([math.erf(i * WIDTH + v) for v in t])
    first = 1 if i == 0 else 0
    a = np.stack([t ** j for j in range(first, DEGREE + 1)], 1)
    w = np.ones_like(t)
    for _ in range(30):
        c = np.linalg.lstsq(a * np.sqrt(w)[:, None], y * np.sqrt(w), rcond=None)[0]
        r = np.abs(a @ c - y)
        w = w * (r + 1e-30)
        w /= w.sum()
    return np.concatenate([[0.0] * first, c]).astype(F)


def evaluate(table, x):
    a = np.abs(x).astype(F)
    i = np.minimum((a * F(4)).astype(np.int32), PIECES - 1)
    t = (a - i.astype(F) * F(WIDTH)).astype(F)
    p = table[i, DEGREE]
    for j in range(DEGREE - 1, -1, -1):
        p = (p * t).astype(F)
        p = (p + table[i, j]).astype(F)
    return np.copysign(np.where(a < 4, p, F(1)), x)


def main():
    table = np.array([fit_piece(i) for i in range(PIECES)])
    xs = np.concatenate([np.linspace(0, 4.5, 2_000_001).astype(F), np.logspace(-30, 0, 20_000).astype(F)])
    ref = np.array([math.erf(float(v)) for v in xs])
    err = np.abs(evaluate(table, xs).astype(np.float64) - ref)
    print(f"// worst absolute error {err.max():.3g} (at {xs[err.argmax()]:.6g}); f32 Horner, no FMA")
    print(f"pub(crate) const ERF_PIECES: [[f32; {DEGREE + 1}]; {PIECES}] = [")
    for row in table:
        print("    [" + ", ".join(repr(float(v)) if v != 0 else "0.0" for v in row) + "],")
    print("];")


if __name__ == "__main__":
    main()
