//! Scalar reference kernels, f32, f16 and int8 (the baseline every SIMD tier will be measured against).
//! Measured 2026-11-28 (2-core x86-64, SSE2 baseline): dot 4096 f32 0.73 µs, i8 1.0 µs; DS-CNN pointwise
//! conv f32 156 µs, i8 279 µs; depthwise 3x3 f32 120 µs, i8 143 µs.
//!
//!     cargo bench --bench kernels

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ferrite_e2e::Rng;
use ferrite_runtime::kernels::generic::{self, FloatSrc};
use ferrite_runtime::ops::{Activation, ConvParams, UnaryFn};

fn bench(c: &mut Criterion) {
    let mut r = Rng::new(1);
    let mut g = c.benchmark_group("generic");
    let (a, b) = (r.vec(4096, -1.0, 1.0), r.vec(4096, -1.0, 1.0));
    g.throughput(Throughput::Elements(4096));
    g.bench_function("dot_f32_4096", |bch| bch.iter(|| generic::dot_f32(&a, &b)));
    // Depthwise-separable block of the DS-CNN reference model: 64 channels, 25x5.
    let x = r.vec(64 * 25 * 5, -1.0, 1.0);
    let act = Activation { func: UnaryFn::Relu, a: 0.0, b: 0.0 };
    let dw = ConvParams {
        n: 1,
        c: 64,
        h: 25,
        w: 5,
        m: 64,
        oh: 25,
        ow: 5,
        kh: 3,
        kw: 3,
        group: 64,
        stride: [1, 1],
        pad: [1, 1],
        dilation: [1, 1],
        act,
    };
    let pw = ConvParams { kh: 1, kw: 1, group: 1, pad: [0, 0], ..dw };
    let wdw = r.vec(64 * 9, -0.5, 0.5);
    let wpw = r.vec(64 * 64, -0.5, 0.5);
    let wpw16: Vec<u16> = wpw.iter().map(|&v| half::f16::from_f32(v).to_bits()).collect();
    let mut out = vec![0f32; 64 * 25 * 5];
    g.throughput(Throughput::Elements((64 * 25 * 5 * 9) as u64));
    g.bench_function("conv_depthwise_3x3_64x25x5", |bch| {
        bch.iter(|| generic::conv(&dw, &x, &FloatSrc::F32(&wdw), None, &mut out))
    });
    g.throughput(Throughput::Elements((64 * 64 * 25 * 5) as u64));
    g.bench_function("conv_pointwise_64x64x25x5_f32", |bch| {
        bch.iter(|| generic::conv(&pw, &x, &FloatSrc::F32(&wpw), None, &mut out))
    });
    g.bench_function("conv_pointwise_64x64x25x5_f16", |bch| {
        bch.iter(|| generic::conv(&pw, &x, &FloatSrc::F16(&wpw16), None, &mut out))
    });
    // The same layers in int8 (the int8 reference kernels), and the dot every QMatMul row is.
    let q = |v: &[f32]| -> Vec<i8> { v.iter().map(|&f| (f * 127.0).round() as i8).collect() };
    let (xq, wdwq, wpwq) = (q(&x), q(&wdw), q(&wpw));
    let bias = vec![0i32; 64];
    let rq = vec![generic::int8::quantize_multiplier(0.01).unwrap(); 64];
    let mut outq = vec![0i8; 64 * 25 * 5];
    let prod = |w| generic::int8::Int8Product { w, bias: &bias, requant: &rq, zy: 0, lo: 0, hi: 127 };
    g.throughput(Throughput::Elements((64 * 25 * 5 * 9) as u64));
    g.bench_function("conv_depthwise_3x3_64x25x5_i8", |bch| {
        bch.iter(|| generic::int8::conv_i8(&dw, &xq, 3, &prod(&wdwq), &mut outq))
    });
    g.throughput(Throughput::Elements((64 * 64 * 25 * 5) as u64));
    g.bench_function("conv_pointwise_64x64x25x5_i8", |bch| {
        bch.iter(|| generic::int8::conv_i8(&pw, &xq, 3, &prod(&wpwq), &mut outq))
    });
    let (ai, bi) = (q(&a), q(&b));
    g.throughput(Throughput::Elements(4096));
    g.bench_function("dot_i8_4096", |bch| bch.iter(|| generic::int8::dot_i8(&ai, 3, &bi)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
