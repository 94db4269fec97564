//! Load time: `Model::open` (mmap + validation) must not grow with weight size beyond the checksum
//! pass. Artifacts with 1 MB and 100 MB of weights, with and without checksum verification.
//! And rejection of hostile files in time proportional to their records (docs/FORMAT.md): chains
//! of 1,000 to 16,000 ops (the cap is 16,384 arena tensors) whose last op record is malformed, so the loader walks every record
//! before it refuses; the time per record must stay flat as the count grows.
//!
//!     cargo bench --bench load

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use ferrite_quantizer::ir::{Data, Graph};
use ferrite_quantizer::writer::write;
use ferrite_runtime::format::DType;
use ferrite_runtime::ops::OpCode;
use ferrite_runtime::{AlignedBytes, LoadOptions, Model};
use std::path::PathBuf;

/// An artifact whose weights are one [k, n] f32 matrix of about `mb` megabytes.
fn artifact(mb: usize, dir: &std::path::Path) -> PathBuf {
    let k = 256;
    let n = mb * 1024 * 1024 / 4 / k;
    let mut g = Graph::default();
    let x = g.activation("x", DType::F32, vec![1, k]);
    let w = g.constant("w", vec![k, n], Data::F32((0..k * n).map(|i| (i % 251) as f32 * 1e-3).collect()));
    let y = g.activation("y", DType::F32, vec![1, n]);
    g.push(OpCode::MatMul, "mm", vec![Some(x), Some(w), None], vec![Some(y)], vec![0, 0, 1f32.to_bits(), 0, 0, 0]);
    g.inputs.push(x);
    g.outputs.push(y);
    let bytes = write(&g, "{}", Default::default()).bytes;
    let p = dir.join(format!("w{mb}mb.fer"));
    std::fs::write(&p, bytes).unwrap();
    p
}

/// A chain of `n` Relu ops whose last op record is malformed, the checksum forged to match.
fn hostile_chain(n: usize) -> Vec<u8> {
    let mut bytes = ferrite_e2e::relu_chain(n);
    let valid = AlignedBytes::copy_from(&bytes);
    assert_eq!(Model::from_bytes(&valid).unwrap().op_count(), n, "the chain loads before it is spoiled");
    ferrite_e2e::spoil_last_op(&mut bytes);
    bytes
}

fn reject(c: &mut Criterion) {
    let mut group = c.benchmark_group("reject_hostile");
    group.sample_size(20);
    for n in [1000usize, 4000, 16000] {
        let bytes = AlignedBytes::copy_from(&hostile_chain(n));
        assert!(Model::from_bytes(&bytes).is_err());
        group.throughput(criterion::Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("ops", n), &bytes, |b, bytes| {
            b.iter(|| Model::from_bytes(bytes).unwrap_err());
        });
    }
    group.finish();
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut group = c.benchmark_group("open");
    group.sample_size(20);
    for mb in [1usize, 100] {
        let p = artifact(mb, dir.path());
        for verify in [false, true] {
            let id = BenchmarkId::new(if verify { "with_checksum" } else { "no_checksum" }, format!("{mb}MB"));
            group.bench_with_input(id, &p, |b, p| {
                b.iter(|| Model::open_with(p, LoadOptions { verify_checksum: verify, ..Default::default() }).unwrap());
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench, reject);
criterion_main!(benches);
