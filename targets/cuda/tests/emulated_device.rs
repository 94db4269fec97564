//! The CUDA backend end to end without a GPU: the kernels (kernels/*.cu) compiled as C into a
//! shared library, every thread run in turn on the host (kernels/emu.h), behind an [`Engine`]
//! whose "device memory" is host memory. Everything above the engine is what a GPU gets: the
//! lowering of each op to launches, the argument passing (the driver's one-pointer-per-argument
//! convention, device pointers as 64-bit addresses), the placement and the transfers. On every
//! trained model, f32 and int8, the outputs equal the CPU session's bit for bit, with both arenas
//! poisoned first. What this cannot check (NVRTC accepting the sources, the device's speed and
//! memory access) is the device script's (targets/cuda/device/run.sh).

use ferrite_cuda::offload::{device_arena_len, status_offset, STATUS_BYTES};
use ferrite_cuda::placement::{is_heavy, plan, Place};
use ferrite_cuda::{run_placed, Engine, GraphView, Offload};
use ferrite_e2e::{
    arena_bytes_written_by_outputs, have_shared_data, int8_artifact, minilm_artifact, minilm_onnx, output_bits,
    real_input, trained_artifact, trained_options, Feed,
};
use ferrite_quantizer::quantize::Precision;
use ferrite_runtime::{AlignedBytes, Input, Model, Session};
use std::ffi::c_void;

mod common;
use common::Emulator;

/// The emulated device: host buffers standing for device memory, the kernels from the library.
struct EmuEngine<'l> {
    lib: &'l Emulator,
    /// u64s: 8-byte aligned, as device allocations are (at least).
    arena: Vec<u64>,
    weights: Vec<u64>,
    launches: usize,
}

impl<'l> EmuEngine<'l> {
    fn new(lib: &'l Emulator, model: &Model<'_>) -> EmuEngine<'l> {
        let w = model.artifact().weights;
        let mut weights = vec![0u64; w.len().div_ceil(8)];
        bytes_mut(&mut weights)[..w.len()].copy_from_slice(w);
        // Poisoned (0xFF: NaN as f32), so that a missing upload shows in the outputs; the status
        // word after the arena zeroed, as the CUDA engine's.
        let mut arena = vec![u64::MAX; device_arena_len(model.arena_len()) / 8];
        let status = status_offset(model.arena_len());
        bytes_mut(&mut arena)[status..status + STATUS_BYTES].fill(0);
        EmuEngine { lib, arena, weights, launches: 0 }
    }
}

fn bytes_mut(v: &mut [u64]) -> &mut [u8] {
    // SAFETY: u8 has no alignment or validity requirement; the length covers exactly v's bytes.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr() as *mut u8, v.len() * 8) }
}

impl Engine for EmuEngine<'_> {
    fn arena(&self) -> u64 {
        self.arena.as_ptr() as u64
    }
    fn weights(&self) -> u64 {
        self.weights.as_ptr() as u64
    }
    fn upload(&mut self, offset: usize, bytes: &[u8]) -> ferrite_cuda::Result<()> {
        bytes_mut(&mut self.arena)[offset..offset + bytes.len()].copy_from_slice(bytes);
        Ok(())
    }
    fn download(&mut self, offset: usize, out: &mut [u8]) -> ferrite_cuda::Result<()> {
        let n = out.len();
        out.copy_from_slice(&bytes_mut(&mut self.arena)[offset..offset + n]);
        Ok(())
    }
    fn launch(&mut self, kernel: &str, grid: u32, params: &mut [*mut c_void]) -> ferrite_cuda::Result<()> {
        // SAFETY: `params` holds one pointer per argument of the kernel, to values of the types
        // its entry reads (lower.rs builds them in the kernel's order); the pointer arguments are
        // addresses inside `arena` and `weights`, which the lowering keeps within the tensors'
        // regions, and which live as long as `self`.
        unsafe { self.lib.launch(kernel, grid, ferrite_cuda::lower::BLOCK, params) }
            .map_err(ferrite_cuda::Error::Driver)?;
        self.launches += 1;
        Ok(())
    }
}

/// Runs `art` twice on the emulated device and checks it against the CPU; returns the number of
/// ops placed on the device and whether that was the whole graph.
fn check(lib: &Emulator, name: &str, art: &AlignedBytes, feed: &Feed) -> (usize, bool) {
    let model = Model::from_bytes(art).unwrap();
    let g = GraphView::of(&model);
    let mut cpu = Session::new(&model).unwrap();
    let want = output_bits(&cpu.run(&feed.as_inputs()).unwrap());
    let mut host = Session::new(&model).unwrap();
    let mut dev = Offload::new(&host, EmuEngine::new(lib, &model));
    let p = plan(&g, &|op: &ferrite_cuda::OpNode| dev.supports(op));
    host.arena_mut().fill(0xFF);
    for run in 0..2 {
        let (out, copies) = run_placed(&mut host, &g, &p, &mut dev, &feed.as_inputs()).unwrap();
        assert_eq!(output_bits(&out), want, "{name}, run {run}: outputs differ from the CPU session's");
        assert_eq!(copies.uploads + copies.downloads, p.transfers.len(), "{name}");
    }
    let on_gpu = p.count(Place::Gpu);
    let per_run: usize = (0..g.ops.len()).filter(|&i| p.places[i] == Place::Gpu).map(|i| dev.launch_count(i)).sum();
    assert_eq!(dev.engine().launches, 2 * per_run, "{name}: each device op's launches, once a run");
    if dev.whole_graph() {
        // The whole-graph path: one upload, every launch at once, one download; a fresh arena.
        let mut host = Session::new(&model).unwrap();
        let mut dev = Offload::new(&host, EmuEngine::new(lib, &model));
        host.arena_mut().fill(0xFF);
        for run in 0..2 {
            let out = dev.run_whole(&mut host, &g, &feed.as_inputs()).unwrap();
            assert_eq!(output_bits(&out), want, "{name}, whole graph, run {run}");
        }
        // Every intermediate too (an int8 model's output can hide a float step's last bit behind
        // a requantization): the bytes each op's outputs left in the arena, on both sides.
        let written = arena_bytes_written_by_outputs(&cpu);
        let device = bytes_mut(&mut dev.engine().arena)[..written.len()].to_vec();
        let cpu_arena = cpu.arena_mut();
        let differ = (0..written.len()).filter(|&i| written[i] && device[i] != cpu_arena[i]).count();
        assert_eq!(differ, 0, "{name}: intermediate bytes differ from the CPU's");
    } else {
        let mut s = Session::new(&model).unwrap();
        assert!(matches!(dev.run_whole(&mut s, &g, &feed.as_inputs()), Err(ferrite_cuda::Error::Plan(_))));
    }
    (on_gpu, p.whole_graph)
}

#[test]
fn every_trained_model_gives_the_cpu_bits_on_the_emulated_device() {
    if !have_shared_data() {
        eprintln!("skipped: ../shared/data (real inputs) is not here");
        return;
    }
    let Some(lib) = Emulator::build() else { return };
    let mut placed = Vec::new();
    for name in ["kws-dscnn", "kws-crnn", "intent-lstm", "intent-transformer"] {
        let art = trained_artifact(name, Precision::F32);
        let feed = real_input(&Model::from_bytes(&art).unwrap());
        placed.push((name.to_string(), check(&lib, name, &art, &feed)));
        // fp16 weights, widened exactly by the kernels as by the CPU.
        let art = trained_artifact(name, Precision::Fp16);
        let label = format!("{name} fp16");
        placed.push((label.clone(), check(&lib, &label, &art, &feed)));
    }
    let int8 = [
        ("kws-dscnn", "fsdd"),
        ("kws-crnn", "fsdd"),
        ("intent-lstm", "snips-intents"),
        ("intent-transformer", "snips-intents"),
    ];
    for (name, data) in int8 {
        let art = int8_artifact(name, data);
        let feed = real_input(&Model::from_bytes(&art).unwrap());
        let label = format!("{name} int8");
        placed.push((label.clone(), check(&lib, &label, &art, &feed)));
    }
    // Batches (`--batch`): the same launches over 8 examples at once.
    for (name, precision) in [("kws-crnn", Precision::F32), ("intent-transformer", Precision::F32)] {
        let (path, mut opts) = trained_options(name, precision);
        opts.import.batch = 8;
        let art = AlignedBytes::copy_from(&ferrite_quantizer::quantize::quantize(&path, &opts).unwrap().bytes);
        let feed = match real_input(&Model::from_bytes(&art).unwrap()) {
            Feed::F32(v) => Feed::F32(v.repeat(8)),
            Feed::I32(v) => Feed::I32(v.repeat(8)),
            other => other,
        };
        let label = format!("{name} batch 8");
        placed.push((label.clone(), check(&lib, &label, &art, &feed)));
    }
    eprintln!("ops on the emulated device: {placed:?}");
    let get = |n: &str| placed.iter().find(|(m, _)| m == n).unwrap().1;
    // What the kernels cover today: the int8 keyword spotter whole, and the int8 products of
    // the others (the f32 models only move data on the device, since no f32 kernel exists yet).
    assert_eq!(get("kws-dscnn int8"), (13, true));
    assert!(get("intent-transformer int8").0 >= 20, "{placed:?}");
    assert!(get("kws-crnn int8").0 >= 4, "{placed:?}");
}

/// A token id outside the vocabulary: the device's Gather reports the CPU's error (same op,
/// same rule), per op and whole-graph, and the next good run gives the CPU's bits again.
#[test]
fn an_index_out_of_range_on_the_device_is_the_cpu_error() {
    let Some(lib) = Emulator::build() else { return };
    let art = trained_artifact("intent-transformer", Precision::F32);
    let model = Model::from_bytes(&art).unwrap();
    let n = model.inputs().next().unwrap().info.len();
    let good: Vec<i32> = (0..n as i32).map(|i| 1 + i % 50).collect();
    let mut bad = good.clone();
    bad[3] = 99_999;
    let mut cpu = Session::new(&model).unwrap();
    let want_err = cpu.run(&[Input::I32(&bad)]).err().expect("the CPU refuses the index");
    assert!(matches!(want_err, ferrite_runtime::Error::BadOp { .. }), "{want_err:?}");
    let want = output_bits(&cpu.run(&[Input::I32(&good)]).unwrap());

    let g = GraphView::of(&model);
    let mut host = Session::new(&model).unwrap();
    let mut dev = Offload::new(&host, EmuEngine::new(&lib, &model));
    assert!(dev.whole_graph());
    let e = dev.run_whole(&mut host, &g, &[Input::I32(&bad)]).err();
    assert_eq!(e, Some(ferrite_cuda::Error::Run(want_err)));
    assert_eq!(output_bits(&dev.run_whole(&mut host, &g, &[Input::I32(&good)]).unwrap()), want);
    let p = plan(&g, &|op: &ferrite_cuda::OpNode| dev.supports(op));
    let e = run_placed(&mut host, &g, &p, &mut dev, &[Input::I32(&bad)]).err();
    assert_eq!(e, Some(ferrite_cuda::Error::Run(want_err)));
    let (out, _) = run_placed(&mut host, &g, &p, &mut dev, &[Input::I32(&good)]).unwrap();
    assert_eq!(output_bits(&out), want);
}

/// The pretrained encoder's intent model (models/minilm/prepare.py builds its graph): f32, and
/// int8 with its DynQMatMul products on the device; the mask's few ops without a kernel (Max,
/// Compare, Not, a Cast) stay on the CPU, so this is the per-op path with real transfers.
#[test]
fn intent_minilm_gives_the_cpu_bits_on_the_emulated_device() {
    let Some(onnx) = minilm_onnx("intent-minilm") else { return };
    if !have_shared_data() {
        eprintln!("skipped: ../shared/data (calibration) is not here");
        return;
    }
    let Some(lib) = Emulator::build() else { return };
    for precision in [Precision::F32, Precision::Int8] {
        let art = minilm_artifact("intent-minilm", &onnx, precision);
        let model = Model::from_bytes(&art).unwrap();
        let feed = real_input(&model);
        let label = format!("intent-minilm {precision:?}");
        let (on_gpu, _) = check(&lib, &label, &art, &feed);
        eprintln!("{label}: {on_gpu} of {} ops on the emulated device", model.op_count());
        // Every product (MatMul, and DynQMatMul in int8) is among them.
        let g = GraphView::of(&model);
        let host = Session::new(&model).unwrap();
        let dev = Offload::new(&host, EmuEngine::new(&lib, &model));
        let p = plan(&g, &|op: &ferrite_cuda::OpNode| dev.supports(op));
        for (op, place) in g.ops.iter().zip(&p.places) {
            assert!(!is_heavy(op.code) || *place == Place::Gpu, "{label}: {} ({:?}) on the CPU", op.name, op.code);
        }
    }
}
