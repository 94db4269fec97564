//! A random int8 GEMM case and the scalar kernel's answer, shared by the kernel tests.

use ferrite_e2e::Rng;
use ferrite_runtime::kernels::generic::int8::{quantize_multiplier, Requant};
use ferrite_runtime::kernels::generic::qgemm::{pack_k4n16, qgemm, PackedI8, QGemm};

/// Activations, packed weights, bias, requantization and zero points of an `m × k × n` product.
pub struct QCase {
    pub m: usize,
    pub a: Vec<i8>,
    pub packed: Vec<u8>,
    pub bias: Vec<i32>,
    pub rq: Vec<Requant>,
    pub za: i32,
    pub zy: i32,
    pub k: usize,
    pub n: usize,
    /// Bounds (a fused ReLU's floor at the zero point when `relu`).
    pub lo: i8,
    pub hi: i8,
}

impl QCase {
    /// Random values of every kind: any bytes, biases of ±10 000, scales 1e-5 to 1e-2.
    pub fn random(r: &mut Rng, (m, k, n): (usize, usize, usize), relu: bool) -> QCase {
        let a: Vec<i8> = (0..m * k).map(|_| r.next_u64() as u8 as i8).collect();
        let w: Vec<i8> = (0..n * k).map(|_| r.next_u64() as u8 as i8).collect();
        let packed = pack_k4n16(&w, n, k);
        let bias: Vec<i32> = (0..n).map(|_| r.below(20_001) as i32 - 10_000).collect();
        let rq = (0..n).map(|_| quantize_multiplier(1e-5 + r.below(1000) as f64 * 1e-5).unwrap()).collect();
        let (za, zy) = (r.below(256) as i32 - 128, r.below(256) as i32 - 128);
        let lo = if relu { zy as i8 } else { -128 };
        QCase { m, a, packed, bias, rq, za, zy, k, n, lo, hi: 127 }
    }

    /// The product as the runtime describes it.
    pub fn q(&self) -> QGemm<'_> {
        let w = PackedI8::from_bytes(&self.packed, self.n, self.k).unwrap();
        QGemm { w, bias: &self.bias, requant: &self.rq, za: self.za, zy: self.zy, lo: self.lo, hi: self.hi }
    }

    /// The scalar kernel's outputs (the specification).
    pub fn want(&self) -> Vec<i8> {
        let mut out = vec![0i8; self.m * self.n];
        assert!(qgemm(&self.q(), &self.a, self.m, &mut out));
        out
    }
}
