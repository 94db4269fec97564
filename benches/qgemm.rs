//! The kernel families on every tier this CPU has, in GMAC/s (criterion's "elem/s" counts
//! multiply-accumulates) and GB/s for GEMVs: the int8 GEMM (the done-when shape 256×256×256, the
//! GEMV of an LSTM step 1×128×512, the transformer's qkv projection 32×128×384, the DS-CNN
//! pointwise layer 125×64×64), the f32 GEMM, the transposed f32 products (`dot_gemm`), and the
//! DS-CNN's convolutions (int8 depthwise, int8 stem through the patch GEMM, f32 depthwise and
//! pointwise).
//!
//!     cargo bench --bench qgemm

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ferrite_e2e::Rng;
use ferrite_runtime::kernels::generic::int8::quantize_multiplier;
use ferrite_runtime::kernels::generic::qgemm::{pack_k4n16, PackedI8, QGemm};
use ferrite_runtime::kernels::{KernelTable, Tier};

fn bench(c: &mut Criterion) {
    let mut r = Rng::new(3);
    let mut bytes = |n: usize| -> Vec<i8> { (0..n).map(|_| r.next_u64() as u8 as i8).collect() };
    let shapes = [(256usize, 256usize, 256usize), (1, 128, 512), (32, 128, 384), (125, 64, 64)];
    let mut g = c.benchmark_group("qgemm");
    for (m, k, n) in shapes {
        let a = bytes(m * k);
        let packed = pack_k4n16(&bytes(n * k), n, k);
        let bias = vec![1000i32; n];
        let rq = vec![quantize_multiplier(0.0007).unwrap(); n];
        let q = QGemm {
            w: PackedI8::from_bytes(&packed, n, k).unwrap(),
            bias: &bias,
            requant: &rq,
            za: -3,
            zy: 5,
            lo: -128,
            hi: 127,
        };
        let mut out = vec![0i8; m * n];
        let mut out32 = vec![0i32; m * n];
        g.throughput(Throughput::Elements((m * k * n) as u64));
        // Each tier whose table has its own entry (the AMX tier shares AVX-512's GEMMs).
        for tier in Tier::ALL.into_iter().filter(|t| t.available()) {
            let t = KernelTable::for_tier(tier).unwrap();
            if t.qgemm.tier != tier {
                continue;
            }
            let id = format!("{m}x{k}x{n}");
            g.bench_with_input(BenchmarkId::new(format!("i8/{}", t.qgemm.tier.name()), &id), &(), |bch, _| {
                bch.iter(|| (t.qgemm.run)(&q, &a, m, &mut out))
            });
            if m == 1 {
                g.bench_with_input(BenchmarkId::new(format!("i32/{}", t.qgemm_i32.tier.name()), &id), &(), |bch, _| {
                    bch.iter(|| (t.qgemm_i32.run)(&q.w, (0, n), &a, m, -3, &mut out32))
                });
            }
        }
    }
    g.finish();
}

criterion_group!(benches, bench_peak, bench, bench_dynq, bench_encoder_rows, bench_f32, bench_dot, bench_conv);
criterion_main!(benches);

/// The core's int8 multiply-accumulate peak, the yardstick for the GEMM figures: 12 independent
/// chains of `vpdpbusd zmm` (64 products each), 1,000 rounds, nothing else (x86-64 with
/// AVX-512 VNNI only). Zen 4 runs one a cycle (its 512-bit units are double-pumped), Zen 5 two.
fn bench_peak(c: &mut Criterion) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512vnni") {
        use std::arch::x86_64::*;
        #[target_feature(enable = "avx512f,avx512vnni")]
        fn chains(rounds: usize) -> i32 {
            let (a, b) = std::hint::black_box((_mm512_set1_epi8(1), _mm512_set1_epi8(2)));
            let mut acc = [_mm512_setzero_si512(); 12];
            for _ in 0..rounds {
                for v in acc.iter_mut() {
                    *v = _mm512_dpbusd_epi32(*v, a, b);
                }
            }
            acc.iter().fold(0, |s, v| s.wrapping_add(_mm512_reduce_add_epi32(*v)))
        }
        let mut g = c.benchmark_group("peak");
        g.throughput(Throughput::Elements(1000 * 12 * 64));
        // SAFETY: the CPU has AVX-512 F and VNNI (checked above).
        g.bench_function("vpdpbusd_zmm", |bch| bch.iter(|| unsafe { chains(1000) }));
        g.finish();
    }
}

/// The dynamic int8 products of the MiniLM encoder at sequence length 32 (qkv and output
/// projections 32×384×384, FFN in 32×384×1536, FFN out 32×1536×384): the table's `DynQMatMul`
/// (row quantization, the int8 product, the f32 epilogue), the generic driver over the tier's
/// quantize and int8 product (the tiers without a fused kernel), and the int8 product alone.
fn bench_dynq(c: &mut Criterion) {
    use ferrite_runtime::kernels::generic::dynq::{dyn_qmatmul, DynQKernels, DynQLayer, GENERIC};
    use ferrite_runtime::ops::{Activation, UnaryFn};
    let mut r = Rng::new(7);
    let mut g = c.benchmark_group("dynq");
    for (m, k, n) in [(32usize, 384usize, 384usize), (32, 384, 1536), (32, 1536, 384)] {
        let x = r.vec(m * k, -3.0, 3.0);
        let w: Vec<i8> = (0..n * k).map(|_| r.next_u64() as u8 as i8).collect();
        // 64-byte aligned, as weights are in an artifact (AMX tiles read rows of 64 bytes: a
        // misaligned row costs two cache lines: 1.9x the time in a one-off C microbenchmark).
        let packed = ferrite_runtime::AlignedBytes::copy_from(&pack_k4n16(&w, n, k));
        let pw = PackedI8::from_bytes(&packed, n, k).unwrap();
        let (ws, bias) = (r.vec(n, 0.001, 0.01), r.vec(n, -1.0, 1.0));
        let (mut xq, mut sc, mut out) = (vec![0i8; m * k], vec![0f32; m], vec![0f32; m * n]);
        let mut out32 = vec![0i32; m * n];
        g.throughput(Throughput::Elements((m * k * n) as u64));
        for tier in Tier::ALL.into_iter().filter(|t| t.available()) {
            let t = KernelTable::for_tier(tier).unwrap();
            let fns = DynQKernels { qgemm_i32: t.qgemm_i32.run, ..GENERIC };
            let act = Activation { func: UnaryFn::Identity, a: 0.0, b: 0.0 };
            let l = DynQLayer { w: pw, w_scale: &ws, bias: Some(&bias), act, residual: None };
            let id = format!("{m}x{k}x{n}");
            g.bench_with_input(BenchmarkId::new(format!("op/{}", tier.name()), &id), &(), |bch, _| {
                bch.iter(|| (t.dynq.run)(&l, &x, &mut xq, &mut sc, &mut out))
            });
            // FFN-in with its GELU, the others with their residual (as the quantizer fuses them).
            let res = r.vec(m * n, -1.0, 1.0);
            let gelu = Activation { func: UnaryFn::GeluErf, a: 0.0, b: 0.0 };
            let fused = if n > k { DynQLayer { act: gelu, ..l } } else { DynQLayer { residual: Some(&res), ..l } };
            g.bench_with_input(BenchmarkId::new(format!("fused/{}", tier.name()), &id), &(), |bch, _| {
                bch.iter(|| (t.dynq.run)(&fused, &x, &mut xq, &mut sc, &mut out))
            });
            if t.qgemm_i32.tier != tier {
                continue;
            }
            g.bench_with_input(BenchmarkId::new(format!("parts/{}", tier.name()), &id), &(), |bch, _| {
                bch.iter(|| dyn_qmatmul(fns, &l, &x, &mut xq, &mut sc, &mut out))
            });
            g.bench_with_input(BenchmarkId::new(format!("i32/{}", tier.name()), &id), &(), |bch, _| {
                bch.iter(|| (t.qgemm_i32.run)(&pw, (0, n), &xq, m, 0, &mut out32))
            });
        }
    }
    g.finish();
}

/// The f32 row kernels between MiniLM's products, one layer's worth each, on every tier:
/// softmax over attention's 12 × 32 rows of 32 scores, LayerNorm over 32 × 384, GELU over
/// 32 × 1536 (values per second).
fn bench_encoder_rows(c: &mut Criterion) {
    use ferrite_runtime::ops::UnaryFn;
    let mut r = Rng::new(8);
    let mut g = c.benchmark_group("encoder_rows");
    let scores = r.vec(384 * 32, -8.0, 8.0);
    let hidden = r.vec(32 * 384, -3.0, 3.0);
    let (gamma, beta) = (r.vec(384, 0.5, 1.5), r.vec(384, -0.1, 0.1));
    let ffn = r.vec(32 * 1536, -4.0, 4.0);
    let mut out = vec![0f32; 32 * 1536];
    for tier in Tier::ALL.into_iter().filter(|t| t.available()) {
        let t = KernelTable::for_tier(tier).unwrap();
        if t.softmax_rows.tier != tier {
            continue;
        }
        g.throughput(Throughput::Elements(scores.len() as u64));
        g.bench_function(BenchmarkId::new(format!("softmax/{}", tier.name()), "384x32"), |bch| {
            bch.iter(|| (t.softmax_rows.run)(384, 32, false, &scores, &mut out[..384 * 32]))
        });
        g.throughput(Throughput::Elements(hidden.len() as u64));
        g.bench_function(BenchmarkId::new(format!("layer_norm/{}", tier.name()), "32x384"), |bch| {
            bch.iter(|| (t.layer_norm.run)(32, 384, 1e-12, &hidden, &gamma, Some(&beta), &mut out[..32 * 384]))
        });
        g.throughput(Throughput::Elements(ffn.len() as u64));
        g.bench_function(BenchmarkId::new(format!("gelu/{}", tier.name()), "32x1536"), |bch| {
            bch.iter(|| (t.unary.run)(UnaryFn::GeluErf, 0.0, 0.0, &ffn, &mut out))
        });
    }
    g.finish();
}

/// The f32 GEMM on every tier this CPU has, in GFLOP-pairs/s (multiply-adds per second).
fn bench_f32(c: &mut Criterion) {
    let mut r = Rng::new(4);
    let mut g = c.benchmark_group("sgemm");
    // Attention's Q.K^T (one head), a projection, MiniLM's f32 FFN-in, a conv GEMM, a big square.
    for (m, k, n) in [(32usize, 32usize, 32usize), (32, 128, 384), (32, 384, 1536), (64, 64, 125), (256, 256, 256)] {
        let (a, b) = (r.vec(m * k, -1.0, 1.0), r.vec(k * n, -1.0, 1.0));
        let mut out = vec![0f32; m * n];
        g.throughput(Throughput::Elements((m * k * n) as u64));
        for tier in Tier::ALL.into_iter().filter(|t| t.available()) {
            let t = KernelTable::for_tier(tier).unwrap();
            if t.sgemm.tier != tier {
                continue;
            }
            g.bench_with_input(BenchmarkId::new(t.sgemm.tier.name(), format!("{m}x{k}x{n}")), &(), |bch, _| {
                bch.iter(|| (t.sgemm.run)(m, k, n, &a, &b, &mut out, false))
            });
        }
    }
    g.finish();
}

/// The transposed f32 products (recurrent gates, Linear layers): GEMVs in GB/s of weights read
/// (one LSTM step's R·h: 1×256×1024 is 1 MiB, about one core's L2), and a whole sequence's
/// input projection in multiply-adds per second.
fn bench_dot(c: &mut Criterion) {
    let mut r = Rng::new(5);
    let mut g = c.benchmark_group("dot_gemm");
    for (m, k, n) in [(1usize, 128usize, 512usize), (1, 256, 1024), (64, 128, 1024)] {
        let (a, w) = (r.vec(m * k, -1.0, 1.0), r.vec(n * k, -1.0, 1.0));
        let mut out = vec![0f32; m * n];
        g.throughput(if m == 1 {
            Throughput::Bytes((n * k * 4) as u64)
        } else {
            Throughput::Elements((m * k * n) as u64)
        });
        for tier in Tier::ALL.into_iter().filter(|t| t.available()) {
            let t = KernelTable::for_tier(tier).unwrap();
            if t.dot_gemm.tier != tier {
                continue;
            }
            g.bench_with_input(
                BenchmarkId::new(format!("{}-table", tier.name()), format!("{m}x{k}x{n}")),
                &(),
                |bch, _| bch.iter(|| (t.dot_gemm.run)(m, k, n, &a, &w, &mut out)),
            );
        }
    }
    g.finish();
}

/// The DS-CNN's convolutions (25×5 positions, 64 channels): int8 depthwise 3×3, the int8 stem
/// (10×4 kernel, stride 2, through the patch GEMM), and the f32 depthwise and pointwise layers.
fn bench_conv(c: &mut Criterion) {
    use ferrite_runtime::kernels::generic::qconv::{pack_depthwise_hwc, pack_k4n16_hwc, QConv};
    use ferrite_runtime::kernels::generic::FloatSrc;
    use ferrite_runtime::ops::{Activation, ConvParams, UnaryFn};
    let mut r = Rng::new(6);
    fn bytes(r: &mut Rng, n: usize) -> Vec<i8> {
        (0..n).map(|_| r.next_u64() as u8 as i8).collect()
    }
    let act = Activation { func: UnaryFn::Relu, a: 0.0, b: 0.0 };
    let geom =
        |c: usize, h: usize, w: usize, m: usize, k: (usize, usize), s: usize, pad: (usize, usize), group: usize| {
            let (oh, ow) = ((h + 2 * pad.0 - k.0) / s + 1, (w + 2 * pad.1 - k.1) / s + 1);
            ConvParams {
                n: 1,
                c,
                h,
                w,
                m,
                oh,
                ow,
                kh: k.0,
                kw: k.1,
                group,
                stride: [s, s],
                pad: [pad.0, pad.1],
                dilation: [1, 1],
                act,
            }
        };
    let dw = geom(64, 25, 5, 64, (3, 3), 1, (1, 1), 64);
    let stem = geom(1, 49, 10, 64, (10, 4), 2, (4, 1), 1);
    let pw = geom(64, 25, 5, 64, (1, 1), 1, (0, 0), 1);
    let macs = |p: &ConvParams| (p.oh * p.ow * p.m * p.kh * p.kw * (p.c / p.group)) as u64;
    let bias = vec![100i32; 64];
    let rq = vec![quantize_multiplier(0.003).unwrap(); 64];
    let mut g = c.benchmark_group("conv");
    for tier in Tier::ALL.into_iter().filter(|t| t.available()) {
        let t = KernelTable::for_tier(tier).unwrap();
        if t.qconv_dw.tier != tier {
            continue;
        }
        let name = tier.name();
        // int8 depthwise.
        let q = QConv { p: dw, bias: &bias, requant: &rq, zx: -5, zy: 3, lo: -128, hi: 127 };
        let (x, w) = (bytes(&mut r, 25 * 5 * 64), pack_depthwise_hwc(&bytes(&mut r, 64 * 9), 64, 3, 3));
        let mut out = vec![0i8; 25 * 5 * 64];
        g.throughput(Throughput::Elements(macs(&dw)));
        g.bench_function(BenchmarkId::new(format!("i8-depthwise/{name}"), "25x5x64 3x3"), |b| {
            b.iter(|| (t.qconv_dw.run)(&q, &w, &x, &mut out))
        });
        // int8 stem: im2col patches through the tier's GEMM.
        let q = QConv { p: stem, ..q };
        let packed = pack_k4n16_hwc(&bytes(&mut r, 64 * 40), 64, 1, 10, 4);
        let pw8 = PackedI8::from_bytes(&packed, 64, 40).unwrap();
        let x = bytes(&mut r, 49 * 10);
        let mut out = vec![0i8; stem.oh * stem.ow * 64];
        g.throughput(Throughput::Elements(macs(&stem)));
        g.bench_function(BenchmarkId::new(format!("i8-stem/{name}"), "49x10 10x4 s2 -> 64"), |b| {
            b.iter(|| (t.qconv_packed.run)(&q, &pw8, &x, &mut out))
        });
        // f32 depthwise and pointwise (NCHW).
        for (label, p) in [("f32-depthwise", dw), ("f32-pointwise", pw)] {
            let x = r.vec(64 * 125, -1.0, 1.0);
            let w = r.vec(p.m * (p.c / p.group) * p.kh * p.kw, -1.0, 1.0);
            let b = r.vec(64, -1.0, 1.0);
            let mut out = vec![0f32; 64 * 125];
            g.throughput(Throughput::Elements(macs(&p)));
            g.bench_function(BenchmarkId::new(format!("{label}/{name}"), "25x5x64"), |bch| {
                bch.iter(|| (t.conv_f32.run)(&p, &x, &FloatSrc::F32(&w), Some(&b), &mut out))
            });
        }
    }
    g.finish();
}
