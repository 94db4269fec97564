//! The checks of every kernel family against the scalar reference, for any kernel table: named
//! edge cases and deterministic random shapes and values; int8 families must match bit for bit,
//! float ones too (tiers keep the reference order). `tier_tests` runs them for every tier on the
//! host (with proptest on top); the Cortex-M self-test firmware (feature `selftest`, a heap) runs
//! the same functions for the `dsp` tier on the target under QEMU. A difference panics.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::should_implement_trait, missing_docs)]
extern crate alloc;

use super::generic::int8::{quantize_multiplier, Requant};
use super::generic::qgemm::{self, pack_k4n16, PackedI8, QGemm};
use super::KernelTable;
use alloc::vec::Vec;

/// Deterministic values for a case.
pub struct Gen(u64);

impl Gen {
    pub fn new(seed: u64) -> Self {
        Gen(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn i8s(&mut self, n: usize) -> Vec<i8> {
        (0..n).map(|_| self.next() as u8 as i8).collect()
    }
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }
}

/// One int8 GEMM case: activations, packed weights and epilogue constants.
pub struct QCase {
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub a: Vec<i8>,
    pub packed: Vec<u8>,
    pub bias: Vec<i32>,
    pub rq: Vec<Requant>,
    pub za: i32,
    pub zy: i32,
    pub lo: i8,
    pub hi: i8,
}

impl QCase {
    pub fn random(m: usize, k: usize, n: usize, seed: u64) -> Self {
        let mut g = Gen::new(seed);
        let a = g.i8s(m * k);
        let w = g.i8s(n * k);
        let bias = (0..n).map(|_| g.range(-100_000, 100_000) as i32).collect();
        // Shifts 34..=50 on every channel (the AVX-512 32-bit epilogue), or 30..=58 mixed (the
        // 64-bit one, shifts past 52 and scales up to 1.37 included), or scales 1.37 to 5600
        // (short shifts, where a scaled sum passes the i32 range and must saturate, not wrap).
        let rq = match g.next() % 3 {
            0 => (0..n).map(|_| 1.37 * libm::pow(0.5, g.range(4, 20) as f64)).collect::<Vec<_>>(),
            1 => (0..n).map(|_| 1.37 * libm::pow(0.5, g.range(0, 28) as f64)).collect(),
            _ => (0..n).map(|_| 1.37 * libm::pow(2.0, g.range(0, 12) as f64)).collect(),
        };
        let rq = rq.into_iter().map(|s| quantize_multiplier(s).unwrap()).collect();
        let (za, zy) = (g.range(-128, 127) as i32, g.range(-128, 127) as i32);
        let (lo, hi) = if g.next().is_multiple_of(3) { (zy as i8, 127) } else { (-128, 127) };
        QCase { m, k, n, a, packed: pack_k4n16(&w, n, k), bias, rq, za, zy, lo, hi }
    }
    pub fn weights(&self) -> PackedI8<'_> {
        PackedI8::from_bytes(&self.packed, self.n, self.k).unwrap()
    }
    pub fn q(&self) -> QGemm<'_> {
        QGemm {
            w: self.weights(),
            bias: &self.bias,
            requant: &self.rq,
            za: self.za,
            zy: self.zy,
            lo: self.lo,
            hi: self.hi,
        }
    }
}

/// Runs `case` through the table's `qgemm` and `qgemm_i32` (full rows and a row range that is not
/// block aligned) and through the generic ones; panics on the first difference.
pub fn check_qgemm(t: &KernelTable, case: &QCase, what: &str) {
    let (m, n) = (case.m, case.n);
    let mut want = alloc::vec![0i8; m * n];
    assert!(qgemm::qgemm(&case.q(), &case.a, m, &mut want));
    let mut got = alloc::vec![0i8; m * n];
    assert!((t.qgemm.run)(&case.q(), &case.a, m, &mut got), "{what}: sizes refused");
    assert_eq!(got, want, "{what}: qgemm {m}x{}x{n} on {}", case.k, t.qgemm.tier.name());
    // The lean form of the same weights (compact artifacts: no sums, a short last block): the
    // same bits from the table's kernels.
    let lean = qgemm::lean_k4n16(&case.packed, n, case.k).unwrap();
    let lw = PackedI8::from_bytes(&lean, n, case.k).unwrap();
    assert!(lw.is_lean() && lw.is_consistent() && lean.len() == n * PackedI8::padded_k(case.k));
    let mut got = alloc::vec![0i8; m * n];
    assert!((t.qgemm.run)(&QGemm { w: lw, ..case.q() }, &case.a, m, &mut got), "{what}: lean sizes refused");
    assert_eq!(got, want, "{what}: lean qgemm {m}x{}x{n} on {}", case.k, t.qgemm.tier.name());
    let w = case.weights();
    for rows in [(0, n), (n / 3, n - n / 4), (n.min(5), n.min(21)), (n, n)] {
        let width = rows.1 - rows.0;
        let mut want = alloc::vec![0i32; m * width];
        assert!(qgemm::qgemm_i32(&w, rows, &case.a, m, case.za, &mut want));
        let mut got = alloc::vec![7i32; m * width];
        assert!((t.qgemm_i32.run)(&w, rows, &case.a, m, case.za, &mut got), "{what}: sizes refused");
        assert_eq!(got, want, "{what}: qgemm_i32 rows {rows:?} of {m}x{}x{n}", case.k);
        got.fill(7);
        assert!((t.qgemm_i32.run)(&lw, rows, &case.a, m, case.za, &mut got), "{what}: lean sizes refused");
        assert_eq!(got, want, "{what}: lean qgemm_i32 rows {rows:?} of {m}x{}x{n}", case.k);
    }
}

/// The named cases: K and N tails around the block sizes, K = 1, −128 everywhere, sums that
/// overflow int16 pair sums (where `vpmaddubsw` would saturate), requantization ties and wrapping
/// i32 accumulators.
pub fn qgemm_edge_cases(t: &KernelTable) {
    let mut seed = 1;
    for &m in &[1usize, 2, 3, 4, 5, 9] {
        for &k in &[1usize, 2, 3, 4, 5, 7, 63, 64, 65] {
            for &n in &[1usize, 15, 16, 17, 33, 64, 65] {
                seed += 1;
                check_qgemm(t, &QCase::random(m, k, n, seed), "tails");
            }
        }
    }
    // −128 activations and weights, zero points at both ends.
    let mut c = QCase::random(3, 37, 20, 99);
    c.a.iter_mut().for_each(|v| *v = -128);
    c.packed = pack_k4n16(&alloc::vec![-128i8; 20 * 37], 20, 37);
    for (za, zy) in [(-128, 127), (127, -128), (0, 0)] {
        c.za = za;
        c.zy = zy;
        check_qgemm(t, &c, "-128");
    }
    // a + 128 = 255 against w = 127: pair sums of 64770, past int16.
    let mut c = QCase::random(2, 64, 32, 5);
    c.a.iter_mut().for_each(|v| *v = 127);
    c.packed = pack_k4n16(&alloc::vec![127i8; 32 * 64], 32, 64);
    check_qgemm(t, &c, "int16 overflow");
    // Ties: multiplier 0.5 with odd accumulators lands on .5 exactly; ties go up.
    let mut c = QCase::random(4, 3, 17, 6);
    c.rq = alloc::vec![quantize_multiplier(0.5).unwrap(); 17];
    c.bias = (0..17).map(|i| 2 * i + 1).collect();
    c.packed = pack_k4n16(&alloc::vec![0i8; 17 * 3], 17, 3);
    check_qgemm(t, &c, "ties");
    // Long reductions with large biases: the i32 sums wrap, identically everywhere.
    let mut c = QCase::random(2, 4096, 18, 8);
    c.bias.iter_mut().for_each(|b| *b = i32::MAX - 5);
    check_qgemm(t, &c, "wrapping");
}

/// A random geometry: 1-D or 2-D, strides, dilations, padding, groups (depthwise when asked).
pub fn conv_geometry(g: &mut Gen, depthwise: bool) -> crate::ops::ConvParams {
    loop {
        let group = if depthwise { 1 + g.range(0, 70) as usize } else { [1, 1, 1, 2, 3][g.range(0, 4) as usize] };
        let c = if depthwise { group } else { group * (1 + g.range(0, 20) as usize) };
        let m = if depthwise { group } else { group * (1 + g.range(0, 40) as usize) };
        let one_d = g.range(0, 3) == 0;
        let (kh, kw) = if one_d {
            (1, 1 + g.range(0, 5) as usize)
        } else {
            (1 + g.range(0, 3) as usize, 1 + g.range(0, 3) as usize)
        };
        let (h, w) = if one_d {
            (1, kw + g.range(0, 30) as usize)
        } else {
            (kh + g.range(0, 8) as usize, kw + g.range(0, 8) as usize)
        };
        let stride = [1 + g.range(0, 1) as usize, 1 + g.range(0, 2) as usize];
        let dilation = [1 + g.range(0, 1) as usize, 1 + g.range(0, 1) as usize];
        let pad = if one_d { [0, g.range(0, 2) as usize] } else { [g.range(0, 1) as usize, g.range(0, 2) as usize] };
        let span = |len: usize, k: usize, d: usize, s: usize, p: usize| {
            (len + 2 * p).checked_sub(d * (k - 1) + 1).map(|v| v / s + 1)
        };
        let (Some(oh), Some(ow)) =
            (span(h, kh, dilation[0], stride[0], pad[0]), span(w, kw, dilation[1], stride[1], pad[1]))
        else {
            continue;
        };
        let act = crate::ops::Activation { func: crate::ops::UnaryFn::Identity, a: 0.0, b: 0.0 };
        return crate::ops::ConvParams {
            n: 1 + g.range(0, 1) as usize,
            c,
            h,
            w,
            m,
            oh,
            ow,
            kh,
            kw,
            group,
            stride,
            pad,
            dilation,
            act,
        };
    }
}

/// A channels-last convolution case through the table's depthwise kernel (depthwise geometries)
/// and through the packed convolution with the table's GEMM, against the generic ones.
pub fn check_qconv(t: &KernelTable, seed: u64) {
    use super::generic::qconv::{pack_depthwise_hwc, pack_k4n16_hwc, qconv_depthwise, qconv_packed, QConv};
    let mut g = Gen::new(seed);
    let depthwise = seed.is_multiple_of(2);
    let p = conv_geometry(&mut g, depthwise);
    let cpg = p.c / p.group;
    let x = g.i8s(p.n * p.c * p.h * p.w);
    let w = g.i8s(p.m * cpg * p.kh * p.kw);
    let bias: Vec<i32> = (0..p.m).map(|_| g.range(-5000, 5000) as i32).collect();
    let rq: Vec<Requant> =
        (0..p.m).map(|_| quantize_multiplier(0.002 + g.range(0, 50) as f64 * 1e-4).unwrap()).collect();
    let (lo, hi) = if g.next().is_multiple_of(2) { (-128, 127) } else { (-3, 100) };
    let q =
        QConv { p, bias: &bias, requant: &rq, zx: g.range(-128, 127) as i32, zy: g.range(-128, 127) as i32, lo, hi };
    let n_out = p.n * p.oh * p.ow * p.m;
    let (mut want, mut got) = (alloc::vec![0i8; n_out], alloc::vec![0i8; n_out]);
    if depthwise {
        let dw = pack_depthwise_hwc(&w, p.m, p.kh, p.kw);
        assert!(qconv_depthwise(&q, &dw, &x, &mut want));
        assert!((t.qconv_dw.run)(&q, &dw, &x, &mut got));
        assert_eq!(got, want, "depthwise on {}: {p:?}", t.qconv_dw.tier.name());
    }
    let packed = pack_k4n16_hwc(&w, p.m, cpg, p.kh, p.kw);
    let pw = PackedI8::from_bytes(&packed, p.m, q.taps()).unwrap();
    assert!(qconv_packed(&q, &pw, &x, &mut want, qgemm::qgemm));
    assert!(qconv_packed(&q, &pw, &x, &mut got, t.qgemm.run));
    assert_eq!(got, want, "packed conv, tier GEMM on {}: {p:?}", t.qgemm.tier.name());
    got.fill(0);
    assert!((t.qconv_packed.run)(&q, &pw, &x, &mut got));
    assert_eq!(got, want, "packed conv on {}: {p:?}", t.qconv_packed.tier.name());
    let lean = qgemm::lean_k4n16(&packed, p.m, q.taps()).unwrap();
    let lw = PackedI8::from_bytes(&lean, p.m, q.taps()).unwrap();
    got.fill(0);
    assert!((t.qconv_packed.run)(&q, &lw, &x, &mut got));
    assert_eq!(got, want, "lean packed conv on {}: {p:?}", t.qconv_packed.tier.name());
}

/// Values that exercise every branch of the f32 functions: random magnitudes from 1e-8 to 1e3, the
/// thresholds of `math` (±0.625, ±1, 88, −87), exact quantization ties, ±0, ±∞ and NaN.
pub fn f32_values(g: &mut Gen, n: usize) -> Vec<f32> {
    const SPECIAL: [f32; 16] = [
        0.0,
        -0.0,
        0.625,
        -0.625,
        1.0,
        -1.0,
        88.0,
        88.5,
        -87.0,
        -87.5,
        2.5,
        -2.5,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        1e-30,
    ];
    (0..n)
        .map(|i| {
            if i % 7 == 3 {
                SPECIAL[(g.next() % SPECIAL.len() as u64) as usize]
            } else {
                let mag = libm::powf(10.0, g.range(-8, 3) as f32 + (g.next() % 1000) as f32 / 1000.0);
                if g.next().is_multiple_of(2) {
                    mag
                } else {
                    -mag
                }
            }
        })
        .collect()
}

/// The bits of every value, with every NaN as one canonical NaN: IEEE 754 leaves the sign and
/// payload of a NaN that arithmetic produces to the hardware (and the compiler may commute an
/// add), so the float kernels promise NaN where the reference gives NaN, and equal bits elsewhere.
fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| if x.is_nan() { 0x7FC0_0000 } else { x.to_bits() }).collect()
}

/// The f32 element-wise families (quantize, unary, softmax rows, recurrent cells) against the
/// scalar reference, bit for bit.
pub fn check_elementwise(t: &KernelTable, seed: u64) {
    use crate::ops::UnaryFn;
    let mut g = Gen::new(seed);
    let n = 1 + (g.next() % 90) as usize;
    let x = f32_values(&mut g, n);
    // Quantize, with a scale that puts some values on exact .5 ties.
    let (scale, zp) = (0.5f32, g.range(-128, 127) as i32);
    let (mut a, mut b) = (alloc::vec![0i8; n], alloc::vec![0i8; n]);
    super::generic::int8::quantize_slice(&x, scale, zp, &mut a);
    (t.quantize.run)(&x, scale, zp, &mut b);
    assert_eq!(a, b, "quantize on {}: {x:?}", t.quantize.tier.name());
    // Quotients one unit either side of half-integers (k + 0.5 ± 2⁻²³·|q|), 0.5 − 2⁻²⁵ (whose
    // f32 sum with 0.5 rounds up to 1) and the clamp at ±300, at scale 1 and at a scale whose
    // quotients are rounded.
    let near: Vec<f32> = (0..n)
        .map(|i| {
            let k = (g.range(-310, 310) as f32 + 0.5) * if i % 2 == 0 { 1.0 } else { -1.0 };
            let q = match i % 4 {
                0 => f32::from_bits(k.to_bits() + 1),
                1 => f32::from_bits(k.to_bits() - 1),
                2 => f32::from_bits(0.5f32.to_bits() - 1) * k.signum(),
                _ => k,
            };
            q * if seed.is_multiple_of(2) { 1.0 } else { 0.037 }
        })
        .collect();
    for s in [1.0f32, 0.037] {
        let (mut a, mut b) = (alloc::vec![0i8; n], alloc::vec![0i8; n]);
        super::generic::int8::quantize_slice(&near, s, zp, &mut a);
        (t.quantize.run)(&near, s, zp, &mut b);
        assert_eq!(a, b, "quantize near ties on {} at scale {s}: {near:?}", t.quantize.tier.name());
    }
    // Every unary function the format defines (from_u32 stops at the first unknown code).
    for func in (0u32..).map_while(UnaryFn::from_u32) {
        let (p0, p1) = (-0.7f32, 3.5f32);
        let (mut a, mut b) = (alloc::vec![0f32; n], alloc::vec![0f32; n]);
        super::generic::unary(func, p0, p1, &x, &mut a);
        (t.unary.run)(func, p0, p1, &x, &mut b);
        assert_eq!(bits(&a), bits(&b), "{func:?} on {}: {x:?}", t.unary.tier.name());
    }
    // Softmax: logits in a realistic range, over enough rows for the tiers' row blocks (8) and
    // the rows after the last block; every fifth case also holds ±0, −∞ and NaN. Rows of the
    // case's length and of 16 to 64 (AVX-512's rows held in registers).
    let rows = 1 + (g.next() % 20) as usize;
    for n in [n, 16 * (1 + (seed % 4) as usize)] {
        let mut logits: Vec<f32> = (0..rows * n).map(|_| (g.next() % 20_000) as f32 / 1000.0 - 10.0).collect();
        if seed.is_multiple_of(5) {
            for (i, v) in logits.iter_mut().enumerate().filter(|(i, _)| i % 7 == 3) {
                *v = [-0.0, 0.0, f32::NEG_INFINITY, f32::NAN][i % 4];
            }
        }
        let (mut a, mut b) = (alloc::vec![0f32; rows * n], alloc::vec![0f32; rows * n]);
        super::generic::softmax_rows(rows, n, false, &logits, &mut a);
        (t.softmax_rows.run)(rows, n, false, &logits, &mut b);
        assert_eq!(bits(&a), bits(&b), "softmax on {}", t.softmax_rows.tier.name());
    }
    // LayerNorm over rows of n, with and without a bias.
    let xs: Vec<f32> = (0..rows * n).map(|_| (g.next() % 20_000) as f32 / 1000.0 - 10.0).collect();
    let sc: Vec<f32> = (0..n).map(|_| (g.next() % 2000) as f32 / 1000.0).collect();
    for bias in [None, Some(&sc[..])] {
        let (mut a, mut b) = (alloc::vec![0f32; rows * n], alloc::vec![0f32; rows * n]);
        super::generic::layer_norm(rows, n, 1e-5, &xs, &sc, bias, &mut a);
        (t.layer_norm.run)(rows, n, 1e-5, &xs, &sc, bias, &mut b);
        assert_eq!(bits(&a), bits(&b), "layer norm on {}", t.layer_norm.tier.name());
    }
    // Recurrent cells over h = n units.
    let h = n;
    let vals =
        |g: &mut Gen, k: usize| -> Vec<f32> { (0..k).map(|_| (g.next() % 8000) as f32 / 1000.0 - 4.0).collect() };
    let (xw, rh, peep) = (vals(&mut g, 4 * h), vals(&mut g, 4 * h), vals(&mut g, 3 * h));
    for (clip, with_peep) in [(0.0f32, false), (2.5, true)] {
        let p = with_peep.then_some(&peep[..]);
        let (mut c1, mut h1) = (vals(&mut g, h), vals(&mut g, h));
        let (mut c2, mut h2) = (c1.clone(), h1.clone());
        (super::generic::GENERIC_CELLS.lstm)(&xw, &rh, p, clip, &mut c1, &mut h1);
        (t.rnn_cells.run.lstm)(&xw, &rh, p, clip, &mut c2, &mut h2);
        assert_eq!((bits(&c1), bits(&h1)), (bits(&c2), bits(&h2)), "lstm cell on {}", t.rnn_cells.tier.name());
        let (mut z1, mut z2) = (xw[..3 * h].to_vec(), xw[..3 * h].to_vec());
        (super::generic::GENERIC_CELLS.gru_gates)(&mut z1, &rh, h, clip);
        (t.rnn_cells.run.gru_gates)(&mut z2, &rh, h, clip);
        assert_eq!(bits(&z1), bits(&z2), "gru gates on {}", t.rnn_cells.tier.name());
        for lbr in [false, true] {
            let (mut a, mut b) = (h1.clone(), h1.clone());
            (super::generic::GENERIC_CELLS.gru_hidden)(&z1, &rh, lbr, clip, &mut a);
            (t.rnn_cells.run.gru_hidden)(&z1, &rh, lbr, clip, &mut b);
            assert_eq!(bits(&a), bits(&b), "gru hidden on {}", t.rnn_cells.tier.name());
        }
    }
}

/// The f32 GEMM and the transposed products: bit for bit (both keep the reference order).
pub fn check_sgemm(t: &KernelTable, seed: u64) {
    let mut g = Gen::new(seed);
    let (m, k, n) = (1 + (g.next() % 9) as usize, 1 + (g.next() % 70) as usize, 1 + (g.next() % 70) as usize);
    let a = f32_values(&mut g, m * k);
    let b: Vec<f32> = (0..k * n).map(|_| (g.next() % 2001) as f32 / 1000.0 - 1.0).collect();
    // The outputs start from values of their own (a convolution's bias).
    let start: Vec<f32> = (0..m * n).map(|_| (g.next() % 200) as f32 / 100.0 - 1.0).collect();
    for acc in [true, false] {
        let (mut want, mut got) = (start.clone(), start.clone());
        super::generic::sgemm(m, k, n, &a, &b, &mut want, acc);
        (t.sgemm.run)(m, k, n, &a, &b, &mut got, acc);
        assert_eq!(bits(&got), bits(&want), "sgemm {m}x{k}x{n} (accumulate: {acc}) on {}", t.sgemm.tier.name());
    }
    // dot_gemm reads b as n rows of k: every tile shape and edge of the tier.
    let (mut want, mut got) = (alloc::vec![0f32; m * n], alloc::vec![f32::NAN; m * n]);
    super::generic::dot_gemm(m, k, n, &a, &b, &mut want);
    (t.dot_gemm.run)(m, k, n, &a, &b, &mut got);
    assert_eq!(bits(&got), bits(&want), "dot_gemm {m}x{k}x{n} on {}", t.dot_gemm.tier.name());
    // f16 widening: every bit pattern class (subnormals, infinities, NaNs) and the tail.
    let h: Vec<u16> = (0..k).map(|_| g.next() as u16).collect();
    let (mut want, mut got) = (alloc::vec![0f32; k], alloc::vec![1f32; k]);
    super::generic::widen_f16(&h, &mut want);
    (t.widen_f16.run)(&h, &mut got);
    assert_eq!(bits(&got), bits(&want), "widen_f16 of {k} on {}", t.widen_f16.tier.name());
}

/// QMean (global pooling and a walked shape): up to 256 rows of extreme values, channel tails,
/// short and long requantization shifts.
pub fn check_qmean(t: &KernelTable, seed: u64) {
    let mut g = Gen::new(seed);
    let (n, h, w, c) = (
        1 + g.range(0, 1) as usize,
        1 + g.range(0, 15) as usize,
        1 + g.range(0, 15) as usize,
        1 + g.range(0, 150) as usize,
    );
    let x: Vec<i8> = if seed.is_multiple_of(4) {
        alloc::vec![if seed.is_multiple_of(8) { -128 } else { 127 }; n * h * w * c]
    } else {
        g.i8s(n * h * w * c)
    };
    let r = quantize_multiplier(libm::pow(0.5, g.range(0, 20) as f64) * 1.37 / (h * w) as f64).unwrap();
    let (zx, zy) = (g.range(-128, 127) as i32, g.range(-128, 127) as i32);
    let (mut want, mut got) = (alloc::vec![0i8; n * c], alloc::vec![1i8; n * c]);
    assert!(super::generic::qconv::qmean(&[n, h, w, c], 0b0110, &x, zx, r, zy, &mut want));
    assert!((t.qmean.run)(&[n, h, w, c], 0b0110, &x, zx, r, zy, &mut got));
    assert_eq!(got, want, "qmean {n}x{h}x{w}x{c} on {}", t.qmean.tier.name());
}

/// QLut's table lookup: every int8 value, random lengths (the vector tail).
pub fn check_lut(t: &KernelTable, seed: u64) {
    let mut g = Gen::new(seed);
    let mut table = [0i8; 256];
    for v in table.iter_mut() {
        *v = g.next() as i8;
    }
    let n = g.range(0, 300) as usize;
    let mut x: Vec<i8> = (0..n).map(|i| (i as i32 - 128) as i8).collect();
    for v in x.iter_mut().skip(256) {
        *v = g.next() as i8;
    }
    let (mut want, mut got) = (alloc::vec![0i8; n], alloc::vec![7i8; n]);
    super::generic::int8::lut(&table, &x, &mut want);
    (t.lut.run)(&table, &x, &mut got);
    assert_eq!(got, want, "lut of {n} on {}", t.lut.tier.name());
    // Dequantize: every int8 value against zero points and scales (with subnormal products).
    let (zp, scale) = (g.range(-128, 127) as i32, [0.5f32, 0.0123, 3.0e-39, 1.7e3][(seed % 4) as usize]);
    let (mut want, mut got) = (alloc::vec![0f32; n], alloc::vec![1f32; n]);
    super::generic::int8::dequantize_slice(&x, scale, zp, &mut want);
    (t.dequantize.run)(&x, scale, zp, &mut got);
    assert_eq!(bits(&got), bits(&want), "dequantize of {n} on {}", t.dequantize.tier.name());
}

/// The f32 convolution (the GEMM path where it applies): bit for bit.
pub fn check_conv_f32(t: &KernelTable, seed: u64) {
    let mut g = Gen::new(seed);
    let mut p = conv_geometry(&mut g, seed.is_multiple_of(3));
    // Planes past one register block of the depthwise path (128 floats on AVX-512) and past its
    // small stack plane (512 floats) now and then.
    let taller = [0, 24, 0, 60, 0][(seed % 5) as usize];
    (p.h, p.oh) = (p.h + taller, p.oh + taller / p.stride[0]);
    // The fused activation goes through the tier's element-wise kernel.
    use crate::ops::UnaryFn::{Clip, Identity, Relu, Sigmoid};
    let (func, a, b) =
        [(Identity, 0.0, 0.0), (Relu, 0.0, 0.0), (Clip, 0.0, 6.0), (Sigmoid, 0.0, 0.0)][(seed % 4) as usize];
    p.act = crate::ops::Activation { func, a, b };
    let cpg = p.c / p.group;
    let x = f32_values(&mut g, p.n * p.c * p.h * p.w)
        .into_iter()
        .map(|v| if v.is_finite() { v.clamp(-1e3, 1e3) } else { 0.5 })
        .collect::<Vec<_>>();
    let w: Vec<f32> = (0..p.m * cpg * p.kh * p.kw).map(|_| (g.next() % 2001) as f32 / 1000.0 - 1.0).collect();
    let bias: Vec<f32> = (0..p.m).map(|_| (g.next() % 201) as f32 / 100.0 - 1.0).collect();
    let n_out = p.n * p.m * p.oh * p.ow;
    let (mut want, mut got) = (alloc::vec![0f32; n_out], alloc::vec![0f32; n_out]);
    // Half the cases with f16 weights (fp16 artifacts): widened in blocks by the tiers' drivers.
    let w16: Vec<u16> = w.iter().map(|&v| half::f16::from_f32(v).to_bits()).collect();
    let ws =
        if seed.is_multiple_of(2) { super::generic::FloatSrc::F32(&w) } else { super::generic::FloatSrc::F16(&w16) };
    super::generic::conv(&p, &x, &ws, Some(&bias), &mut want);
    (t.conv_f32.run)(&p, &x, &ws, Some(&bias), &mut got);
    assert_eq!(bits(&got), bits(&want), "conv on {} ({} weights): {p:?}", t.conv_f32.tier.name(), seed % 2);
}

/// MatMul against f16 weights (plain and transposed), widened a block at a time by the driver:
/// bit for bit the element-wise reference path, with shapes that take several blocks.
pub fn check_matmul_f16(t: &KernelTable, seed: u64) {
    use super::generic::FloatSrc;
    use crate::ops::{Activation, Params, TensorInfo, UnaryFn};
    let mut g = Gen::new(seed);
    let (m, k, n) = (1 + g.range(0, 40) as usize, 1 + g.range(0, 300) as usize, 1 + g.range(0, 300) as usize);
    let trans_b = seed % 2 == 1;
    let a = f32_values(&mut g, m * k)
        .into_iter()
        .map(|v| if v.is_finite() { v.clamp(-9.0, 9.0) } else { 1.0 })
        .collect::<Vec<_>>();
    let b16: Vec<u16> =
        (0..k * n).map(|_| half::f16::from_f32((g.next() % 2001) as f32 / 1000.0 - 1.0).to_bits()).collect();
    let p = Params::MatMul {
        m,
        k,
        n,
        batch: 1,
        trans_a: false,
        trans_b,
        alpha: 1.0,
        act: Activation { func: UnaryFn::Identity, a: 0.0, b: 0.0 },
        a_batch_strides: [0; crate::format::MAX_RANK],
        b_batch_strides: [0; crate::format::MAX_RANK],
        batch_dims: [1; crate::format::MAX_RANK],
        batch_rank: 0,
    };
    let mut dims = [1usize; crate::format::MAX_RANK];
    (dims[0], dims[1]) = (m, n);
    let info = TensorInfo {
        dtype: crate::format::DType::F32,
        rank: 2,
        dims,
        quant: Default::default(),
        layout: crate::format::Layout::RowMajor,
    };
    let run = |kern: &super::generic::MatMulKernels, a: FloatSrc<'_>| {
        let mut out = alloc::vec![f32::NAN; m * n];
        super::generic::matmul(&p, &a, &FloatSrc::F16(&b16), None, &info, &mut out, kern);
        out
    };
    // The reference: A read element by element (f16, so no driver applies).
    let reference = super::generic::MatMulKernels {
        dot_gemm: super::generic::dot_gemm,
        sgemm: super::generic::sgemm,
        widen: super::generic::widen_f16,
    };
    let a16: Vec<u16> = a.iter().map(|&v| half::f16::from_f32(v).to_bits()).collect();
    let a_wide: Vec<f32> = a16.iter().map(|&v| half::f16::from_bits(v).to_f32()).collect();
    // Transposed: each output is `dot_src` of a row of A with a row of B (the reference's
    // f32-row path); plain: the element path's sequential sums.
    let want = if trans_b {
        (0..m * n)
            .map(|o| super::generic::dot_src(&a_wide[o / n * k..][..k], &FloatSrc::F16(&b16), o % n * k))
            .collect()
    } else {
        run(&reference, FloatSrc::F16(&a16))
    };
    let got = run(
        &super::generic::MatMulKernels { dot_gemm: t.dot_gemm.run, sgemm: t.sgemm.run, widen: t.widen_f16.run },
        FloatSrc::F32(&a_wide),
    );
    assert_eq!(bits(&got), bits(&want), "f16 MatMul {m}x{k}x{n} trans_b {trans_b} on {}", t.sgemm.tier.name());
}

/// Transposes of 4-byte elements: batches of matrices (1 to 40 on a side: blocks of 8 and their
/// edges) with the last two axes swapped, and a permutation the tiers leave to the reference.
/// Every bit pattern (NaNs included) must come through.
pub fn check_transpose(t: &KernelTable, seed: u64) {
    use crate::format::{DType, Layout, MAX_RANK};
    use crate::ops::TensorInfo;
    let mut g = Gen::new(seed);
    // Rank 2 to 4, every permutation: the batched matrix transposes, the strided planes
    // (attention's [B, S, H, D] → [B, H, D, S]) and the run copies.
    let rank = 2 + (seed % 3) as usize;
    let top = if rank == 4 { 13 } else { 39 };
    let shape: Vec<usize> = (0..rank).map(|_| 1 + g.range(0, top) as usize).collect();
    let x: Vec<u32> = (0..shape.iter().product()).map(|_| g.next() as u32).collect();
    let info = |s: &[usize]| {
        let mut dims = [1usize; MAX_RANK];
        dims[..s.len()].copy_from_slice(s);
        TensorInfo { dtype: DType::F32, rank: s.len(), dims, quant: Default::default(), layout: Layout::RowMajor }
    };
    let mut perms: Vec<Vec<usize>> = alloc::vec![alloc::vec![]];
    for _ in 0..rank {
        let mut longer = Vec::new();
        for p in &perms {
            for a in (0..rank).filter(|a| !p.contains(a)) {
                longer.push([&p[..], &[a]].concat());
            }
        }
        perms = longer;
    }
    for p in perms {
        let mut perm = [0usize; MAX_RANK];
        perm[..rank].copy_from_slice(&p);
        let out_shape: Vec<usize> = p.iter().map(|&a| shape[a]).collect();
        let (ii, oi) = (info(&shape), info(&out_shape));
        let (mut want, mut got) = (alloc::vec![0u32; x.len()], alloc::vec![1u32; x.len()]);
        super::generic::transpose(&perm, &x, &ii, &oi, &mut want);
        (t.transpose32.run)(&perm, &x, &ii, &oi, &mut got);
        assert_eq!(got, want, "transpose {p:?} of {shape:?} on {}", t.transpose32.tier.name());
    }
}

/// The dynamic int8 linear layer (`DynQMatMul`): the table's kernel, and the generic driver over
/// the table's quantize and `qgemm_i32`, against the generic kernels, bit for bit: random shapes
/// (both weight forms, full and lean), values from [`f32_values`] (zeros, ±∞ and NaN among them)
/// and whole rows of zeros, with and without a fused activation and residual.
pub fn check_dynq(t: &KernelTable, seed: u64) {
    use super::generic::dynq::{dyn_qmatmul, DynQKernels, DynQLayer, GENERIC};
    use crate::ops::UnaryFn;
    let mut g = Gen::new(seed);
    let (m, k, n) = (g.range(1, 9) as usize, g.range(1, 200) as usize, g.range(1, 70) as usize);
    // Now and then the transformer shapes: k a multiple of 64, whole 16-channel blocks, and up
    // to 40 rows (the AMX tier's row tiles are 32, its A tiles 16; its blocks go in pairs).
    let (m, k, n) = if g.next().is_multiple_of(3) {
        (g.range(1, 40) as usize, 64 * g.range(1, 7) as usize, 16 * g.range(1, 9) as usize)
    } else {
        (m, k, n)
    };
    let mut x = f32_values(&mut g, m * k);
    if g.next().is_multiple_of(4) {
        x[..k].fill(0.0);
    }
    // A row of values next to the rounding boundaries: (j + 1/2) steps of the row's scale, give
    // or take an ulp, where computing `x · (127 / max)` any other way rounds differently.
    if m >= 2 {
        let max = 1.0 + (g.next() % 1000) as f32 / 97.0;
        for (i, v) in x[k..2 * k].iter_mut().enumerate() {
            let j = (i * 37 % 254) as f32 - 127.0 + 0.5;
            let t = j * (max / 127.0);
            *v = f32::from_bits((t.to_bits() as i32 + (i % 3) as i32 - 1) as u32);
        }
        x[k] = max;
    }
    let w = g.i8s(n * k);
    let mut packed = pack_k4n16(&w, n, k);
    if g.next().is_multiple_of(4) {
        packed = super::generic::qgemm::lean_k4n16(&packed, n, k).unwrap();
    }
    let pw = PackedI8::from_bytes(&packed, n, k).unwrap();
    let ws: Vec<f32> = (0..n).map(|_| (g.range(1, 1000) as f32) * 1e-5).collect();
    let bias: Vec<f32> = (0..n).map(|_| g.range(-500, 500) as f32 / 64.0).collect();
    let bias = if g.next().is_multiple_of(4) { None } else { Some(&bias[..]) };
    let res = f32_values(&mut g, m * n);
    let func = [UnaryFn::Identity, UnaryFn::GeluErf, UnaryFn::Relu, UnaryFn::Tanh][(g.next() % 4) as usize];
    let act = crate::ops::Activation { func, a: 0.0, b: 0.0 };
    let residual = if g.next().is_multiple_of(2) { Some(&res[..]) } else { None };
    let l = DynQLayer { w: pw, w_scale: &ws, bias, act, residual };
    let run = |f: super::DynQFn| {
        let (mut xq, mut sc, mut out) = (alloc::vec![0i8; m * k], alloc::vec![0f32; m], alloc::vec![0f32; m * n]);
        assert!(f(&l, &x, &mut xq, &mut sc, &mut out));
        out
    };
    let want = bits(&run(|l, x, xq, sc, o| dyn_qmatmul(GENERIC, l, x, xq, sc, o)));
    let fns = DynQKernels { qgemm_i32: t.qgemm_i32.run, ..GENERIC };
    // The table's quantize and product in the generic driver (what tiers without a fused kernel
    // run), through a closure: a fn pointer cannot hold `fns`.
    let parts = {
        let (mut xq, mut sc, mut out) = (alloc::vec![0i8; m * k], alloc::vec![0f32; m], alloc::vec![0f32; m * n]);
        assert!(dyn_qmatmul(fns, &l, &x, &mut xq, &mut sc, &mut out));
        out
    };
    assert_eq!(bits(&parts), want, "DynQMatMul parts {m}x{k}x{n} on {}", t.qgemm_i32.tier.name());
    let table = run(t.dynq.run);
    assert_eq!(bits(&table), want, "DynQMatMul {m}x{k}x{n} on {}", t.dynq.tier.name());
}
