//! The executor with a fake GPU: a second session over the same model whose arena stands for
//! device memory and which runs its ops with the CPU kernels. Both arenas start poisoned (every
//! byte 0xFF: NaN as f32), so a transfer the executor forgets shows up in the outputs. On every
//! trained model (f32, and int8 where calibration data is at hand) and for many kernel sets, the
//! outputs equal the CPU session's bit for bit, and the copies made are the transfers the
//! placement counted.

use ferrite_cuda::placement::{is_heavy, plan, Place};
use ferrite_cuda::{run_placed, Backend, GraphView, OpNode};
use ferrite_e2e::{have_shared_data, int8_artifact, output_bits, real_input, trained_artifact, Feed};
use ferrite_quantizer::quantize::Precision;
use ferrite_runtime::{AlignedBytes, Model, OpSlot, Session, Span};

struct FakeGpu<'m> {
    session: Session<'m, 'm, 'static>,
}

impl Backend for FakeGpu<'_> {
    fn upload(&mut self, s: Span, host: &[u8]) -> ferrite_cuda::Result<()> {
        self.session.arena_mut()[s.offset..s.offset + s.len].copy_from_slice(&host[s.offset..s.offset + s.len]);
        Ok(())
    }
    fn download(&mut self, s: Span, host: &mut [u8]) -> ferrite_cuda::Result<()> {
        host[s.offset..s.offset + s.len].copy_from_slice(&self.session.arena_mut()[s.offset..s.offset + s.len]);
        Ok(())
    }
    fn run(&mut self, slot: &OpSlot<'_>) -> ferrite_cuda::Result<()> {
        self.session.run_op(slot.index).map_err(ferrite_cuda::Error::Run)
    }
}

/// Kernel sets: everything, the heavy ops, the light ops, nothing, and pseudo-random subsets.
fn kernel_sets(n: usize) -> Vec<Vec<bool>> {
    let mut sets: Vec<Vec<bool>> = vec![vec![true; n], vec![false; n]];
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..6 {
        sets.push(
            (0..n)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    !x.is_multiple_of(3)
                })
                .collect(),
        );
    }
    sets
}

fn check(name: &str, art: &AlignedBytes, feed: &Feed) {
    let model = Model::from_bytes(art).unwrap();
    let g = GraphView::of(&model);
    let mut cpu = Session::new(&model).unwrap();
    let want = output_bits(&cpu.run(&feed.as_inputs()).unwrap());
    let heavy: Vec<bool> = g.ops.iter().map(|o| is_heavy(o.code)).collect();
    let light: Vec<bool> = heavy.iter().map(|h| !h).collect();
    let mut sets = kernel_sets(g.ops.len());
    sets.push(heavy);
    sets.push(light);
    for (k, set) in sets.iter().enumerate() {
        let supports = |o: &OpNode| g.ops.iter().position(|p| std::ptr::eq(p, o)).is_some_and(|i| set[i]);
        let p = plan(&g, &supports);
        let mut host = Session::new(&model).unwrap();
        let mut gpu = FakeGpu { session: Session::new(&model).unwrap() };
        host.arena_mut().fill(0xFF);
        gpu.session.arena_mut().fill(0xFF);
        let (out, copies) = run_placed(&mut host, &g, &p, &mut gpu, &feed.as_inputs()).unwrap();
        assert_eq!(output_bits(&out), want, "{name}, kernel set {k}: outputs differ from the CPU session's");
        assert_eq!(copies.uploads + copies.downloads, p.transfers.len(), "{name}, kernel set {k}");
        assert_eq!(copies.uploads, p.transfers.iter().filter(|t| t.to == Place::Gpu).count(), "{name} {k}");
        if p.count(Place::Gpu) == 0 {
            assert_eq!(copies.bytes, 0, "{name} {k}");
        }
    }
}

#[test]
fn every_trained_model_gives_the_cpu_bits_whatever_runs_on_the_fake_gpu() {
    if !have_shared_data() {
        eprintln!("skipped: ../shared/data (real inputs) is not here");
        return;
    }
    for name in ["kws-dscnn", "kws-crnn", "intent-lstm", "intent-transformer"] {
        let art = trained_artifact(name, Precision::F32);
        let feed = real_input(&Model::from_bytes(&art).unwrap());
        check(name, &art, &feed);
    }
    for (name, data) in [("kws-dscnn", "fsdd"), ("intent-lstm", "snips-intents")] {
        let art = int8_artifact(name, data);
        let feed = real_input(&Model::from_bytes(&art).unwrap());
        check(&format!("{name} int8"), &art, &feed);
    }
}

/// A backend error reaches the caller as itself, and the session stays usable.
#[test]
fn a_failing_backend_is_reported_not_swallowed() {
    struct Broken;
    impl Backend for Broken {
        fn upload(&mut self, _: Span, _: &[u8]) -> ferrite_cuda::Result<()> {
            Err(ferrite_cuda::Error::Driver("CUDA_ERROR_ILLEGAL_ADDRESS".into()))
        }
        fn download(&mut self, _: Span, _: &mut [u8]) -> ferrite_cuda::Result<()> {
            Ok(())
        }
        fn run(&mut self, _: &OpSlot<'_>) -> ferrite_cuda::Result<()> {
            Ok(())
        }
    }
    let art = trained_artifact("intent-lstm", Precision::F32);
    let model = Model::from_bytes(&art).unwrap();
    let g = GraphView::of(&model);
    let p = plan(&g, &|_: &OpNode| true);
    let mut s = Session::new(&model).unwrap();
    let ids = vec![1i32; model.inputs().next().unwrap().info.len()];
    let e = run_placed(&mut s, &g, &p, &mut Broken, &[ferrite_runtime::Input::I32(&ids)]).err();
    assert_eq!(e, Some(ferrite_cuda::Error::Driver("CUDA_ERROR_ILLEGAL_ADDRESS".into())));
    assert!(s.run(&[ferrite_runtime::Input::I32(&ids)]).is_ok());
    // A placement for another graph is refused before anything runs.
    let other = plan(&GraphView::default(), &|_: &OpNode| true);
    assert!(matches!(run_placed(&mut s, &g, &other, &mut Broken, &[]), Err(ferrite_cuda::Error::Plan(_))));
}
