//! The int8 GEMM family on every tier this CPU has, in GMAC/s (criterion's "elem/s" counts
//! multiply-accumulates): the done-when shape 256×256×256, the GEMV of an LSTM step (1×128×512),
//! the transformer's qkv projection (32×128×384) and the DS-CNN pointwise layer (125×64×64).
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
        for tier in Tier::ALL.into_iter().filter(|t| t.available()) {
            let t = KernelTable::for_tier(tier).unwrap();
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

criterion_group!(benches, bench, bench_f32, bench_dot);
criterion_main!(benches);

/// The f32 GEMM on every tier this CPU has, in GFLOP-pairs/s (multiply-adds per second).
fn bench_f32(c: &mut Criterion) {
    let mut r = Rng::new(4);
    let mut g = c.benchmark_group("sgemm");
    for (m, k, n) in [(32usize, 128usize, 384usize), (64, 64, 125), (256, 256, 256)] {
        let (a, b) = (r.vec(m * k, -1.0, 1.0), r.vec(k * n, -1.0, 1.0));
        let mut out = vec![0f32; m * n];
        g.throughput(Throughput::Elements((m * k * n) as u64));
        for tier in Tier::ALL.into_iter().filter(|t| t.available()) {
            let t = KernelTable::for_tier(tier).unwrap();
            g.bench_with_input(BenchmarkId::new(t.sgemm.tier.name(), format!("{m}x{k}x{n}")), &(), |bch, _| {
                bch.iter(|| (t.sgemm.run)(m, k, n, &a, &b, &mut out))
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
            g.bench_with_input(
                BenchmarkId::new(format!("{}-table", tier.name()), format!("{m}x{k}x{n}")),
                &(),
                |bch, _| bch.iter(|| (t.dot_gemm.run)(m, k, n, &a, &w, &mut out)),
            );
        }
    }
    g.finish();
}
