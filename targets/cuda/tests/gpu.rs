//! On a machine with a GPU (feature `cuda`): NVRTC accepts the kernels, and every model runs on
//! the device with the CPU session's outputs bit for bit: per op (`run_placed`, CPU fallback for
//! ops without a kernel) with the weights copied and with them registered in place, and, where
//! every op has a kernel, as one recorded CUDA Graph (`run_whole`). Without a GPU these skip,
//! saying so, unless `FERRITE_REQUIRE_GPU` is set (the device script sets it), when a missing GPU
//! fails them.
//!
//! The models: every `.fer` in `FERRITE_DEVICE_MODELS` (the device script's, built here by
//! targets/cuda/device/prepare.sh, since the GPU machine has neither the data nor the quantizer's
//! inputs), else the trained models converted on the spot.
#![cfg(feature = "cuda")]

use ferrite_cuda::gpu::{CudaEngine, DeviceWeights, Kernels, WeightsMode};
use ferrite_cuda::{plan, run_placed, Device, Engine, Error, GraphView, Offload, OpNode};
use ferrite_e2e::{arena_bytes_written_by_outputs, output_bits, trained_artifact};
use ferrite_quantizer::quantize::Precision;
use ferrite_runtime::{AlignedBytes, Input, Model, Session};

fn device() -> Option<Device> {
    match Device::open(0) {
        Ok(d) => {
            eprintln!("device: {:?}", d.info());
            Some(d)
        }
        Err(Error::NotAvailable(why)) if std::env::var_os("FERRITE_REQUIRE_GPU").is_none() => {
            eprintln!("skipped: {why}");
            None
        }
        Err(e) => panic!("{e}"),
    }
}

fn artifacts() -> Vec<(String, AlignedBytes)> {
    if let Some(dir) = std::env::var_os("FERRITE_DEVICE_MODELS") {
        let mut v: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "fer"))
            .map(|p| {
                (
                    p.file_stem().unwrap().to_string_lossy().into_owned(),
                    AlignedBytes::copy_from(&std::fs::read(&p).unwrap()),
                )
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        assert!(!v.is_empty(), "no .fer in {dir:?}");
        return v;
    }
    ["kws-dscnn", "kws-crnn", "intent-lstm", "intent-transformer"]
        .iter()
        .map(|n| (n.to_string(), trained_artifact(n, Precision::F32)))
        .collect()
}

/// Deterministic inputs of each graph input's type: values in [−2, 2] for f32, token ids 1..=97.
enum Owned {
    F32(Vec<f32>),
    I32(Vec<i32>),
}

fn inputs(model: &Model<'_>) -> Vec<Owned> {
    model
        .inputs()
        .map(|d| {
            let n = d.info.len();
            match d.info.dtype {
                ferrite_runtime::format::DType::I32 => Owned::I32((0..n).map(|i| 1 + (i as i32 * 7919) % 97).collect()),
                _ => Owned::F32((0..n).map(|i| 2.0 * ((i as f32) * 0.37).sin()).collect()),
            }
        })
        .collect()
}

fn as_inputs(v: &[Owned]) -> Vec<Input<'_>> {
    v.iter()
        .map(|o| match o {
            Owned::F32(x) => Input::F32(x),
            Owned::I32(x) => Input::I32(x),
        })
        .collect()
}

#[test]
fn every_model_gives_the_cpu_bits_on_the_device() {
    let Some(dev) = device() else { return };
    let kernels = Kernels::for_device(&dev).unwrap();
    for (name, art) in artifacts() {
        let model = Model::from_bytes(&art).unwrap();
        let feed = inputs(&model);
        let mut cpu = Session::new(&model).unwrap();
        let want = output_bits(&cpu.run(&as_inputs(&feed)).unwrap());
        let g = GraphView::of(&model);
        for mode in [WeightsMode::Upload, WeightsMode::MapHost] {
            let weights = DeviceWeights::new(&dev, &model, mode).unwrap();
            let engine = CudaEngine::new(kernels.clone(), weights.clone(), model.arena_len()).unwrap();
            let mut host = Session::new(&model).unwrap();
            let mut off = Offload::new(&host, engine);
            let p = plan(&g, &|op: &OpNode| off.supports(op));
            for run in 0..2 {
                let (out, _) = run_placed(&mut host, &g, &p, &mut off, &as_inputs(&feed)).unwrap();
                assert_eq!(output_bits(&out), want, "{name}, {mode:?}, per op, run {run}");
            }
            if off.whole_graph() {
                for graphs in [true, false] {
                    off.engine().use_graphs = graphs;
                    for run in 0..2 {
                        let out = off.run_whole(&mut host, &g, &as_inputs(&feed)).unwrap();
                        assert_eq!(
                            output_bits(&out),
                            want,
                            "{name}, {mode:?}, whole graph (CUDA Graph {graphs}), run {run}"
                        );
                    }
                }
                // Every intermediate, not only the outputs (see tests/emulated_device.rs).
                let written = arena_bytes_written_by_outputs(&cpu);
                let mut device = vec![0u8; written.len()];
                off.engine().download(0, &mut device).unwrap();
                let cpu_arena = cpu.arena_mut();
                let differ = (0..written.len()).filter(|&i| written[i] && device[i] != cpu_arena[i]).count();
                assert_eq!(differ, 0, "{name}, {mode:?}: intermediate bytes differ from the CPU's");
            }
            eprintln!(
                "{name} {mode:?}: {} of {} ops on the GPU, bit for bit",
                p.count(ferrite_cuda::Place::Gpu),
                p.places.len()
            );
        }
    }
}
