//! Side by side with tract on the reference models, same input, same process, one thread.
//! Criterion reports each; the ratio is printed at the end of the run.
//!
//!     cargo bench --bench models

use criterion::{criterion_group, criterion_main, Criterion};
use ferrite_e2e::{ferrite_artifact, npy_value, repo_root, Value};
use ferrite_quantizer::quantize::Precision;
use ferrite_runtime::{Input, Model, Session};
use std::time::{Duration, Instant};
use tract_onnx::prelude::*;

fn tract_plan(path: &std::path::Path, x: &Tensor) -> std::sync::Arc<TypedRunnableModel> {
    let mut m = tract_onnx::onnx().model_for_path(path).unwrap();
    m.set_input_fact(0, InferenceFact::dt_shape(x.datum_type(), x.shape())).unwrap();
    m.into_optimized().unwrap().into_runnable().unwrap()
}

fn mean_time(mut f: impl FnMut(), iters: u32) -> Duration {
    f();
    let t = Instant::now();
    for _ in 0..iters {
        f();
    }
    t.elapsed() / iters
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("models");
    g.sample_size(10);
    let mut ratios = Vec::new();
    for name in ["ref-kws-dscnn", "ref-text-lstm"] {
        let dir = repo_root().join("models").join(name);
        let onnx = dir.join("model.onnx");
        let input = npy_value(&dir.join("input.npy"));
        let tensor: Tensor = match &input {
            Value::F32(s, v) => tract_ndarray::ArrayD::from_shape_vec(s.clone(), v.clone()).unwrap().into_tensor(),
            Value::I64(s, v) => tract_ndarray::ArrayD::from_shape_vec(s.clone(), v.clone()).unwrap().into_tensor(),
        };
        let plan = tract_plan(&onnx, &tensor);
        let tv: TValue = tensor.clone().into_tvalue();
        g.bench_function(format!("{name}/tract"), |b| b.iter(|| plan.run(tvec!(tv.clone())).unwrap()));
        let t_tract = mean_time(|| drop(plan.run(tvec!(tv.clone())).unwrap()), 10);
        for precision in [Precision::F32, Precision::Fp16] {
            let art = ferrite_artifact(&onnx, precision, &[]);
            let model = Model::from_bytes(&art).unwrap();
            let mut s = Session::new(&model).unwrap();
            let feed = match &input {
                Value::F32(_, v) => Input::F32(v),
                Value::I64(_, v) => Input::I64(v),
            };
            g.bench_function(format!("{name}/ferrite-{precision:?}"), |b| b.iter(|| s.run(&[feed]).unwrap().len()));
            let t_fer = mean_time(
                || {
                    s.run(&[feed]).unwrap();
                },
                10,
            );
            ratios.push(format!(
                "{name} {precision:?}: ferrite {:.3} ms, tract {:.3} ms, ferrite/tract = {:.2}",
                t_fer.as_secs_f64() * 1e3,
                t_tract.as_secs_f64() * 1e3,
                t_fer.as_secs_f64() / t_tract.as_secs_f64()
            ));
        }
    }
    g.finish();
    for r in ratios {
        println!("{r}");
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
