//! One model, many sessions (issue 13): `Model` is `Sync` (its bytes are read-only after
//! validation) and `Session` is `Send`, so N threads can share one mapped model, each with its own
//! session and arena. Run concurrently, every result equals the single-threaded one, bit for bit.

use ferrite_e2e::{int8_artifact, trained_artifact, Rng};
use ferrite_quantizer::quantize::Precision;
use ferrite_runtime::{Input, Model, Session};

const fn sync<T: Sync>() {}
const fn send<T: Send>() {}
const _: () = {
    sync::<Model<'static>>();
    send::<Model<'static>>();
    send::<Session<'static, 'static, 'static>>();
};

fn logits(s: &mut Session<'_, '_, '_>, x: &[f32]) -> Vec<u32> {
    s.run(&[Input::F32(x)]).unwrap().f32(0).unwrap().iter().map(|v| v.to_bits()).collect()
}

#[test]
fn one_model_serves_many_threads_each_with_its_own_session() {
    for art in [int8_artifact("kws-dscnn", "fsdd"), trained_artifact("kws-crnn", Precision::F32)] {
        let model = Model::from_bytes(art.as_slice()).unwrap();
        let n: usize = model.inputs().next().unwrap().info.len();
        let mut r = Rng::new(101);
        let inputs: Vec<Vec<f32>> = (0..16).map(|_| r.vec(n, -2.0, 2.0)).collect();
        // The reference: one session, one thread.
        let mut s = Session::new(&model).unwrap();
        let want: Vec<Vec<u32>> = inputs.iter().map(|x| logits(&mut s, x)).collect();
        // Eight threads, each with its own session, each running every input (in its own order)
        // many times while the others run.
        let got: Vec<Vec<(usize, Vec<u32>)>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|t| {
                    let (model, inputs) = (&model, &inputs);
                    scope.spawn(move || {
                        let mut s = Session::new(model).unwrap();
                        let mut out = Vec::new();
                        for round in 0..4 {
                            for k in 0..inputs.len() {
                                let i = (k * (t + 1) + round) % inputs.len();
                                out.push((i, logits(&mut s, &inputs[i])));
                            }
                        }
                        out
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut checked = 0;
        for (i, l) in got.iter().flatten() {
            assert_eq!(l, &want[*i], "input {i}");
            checked += 1;
        }
        assert_eq!(checked, 8 * 4 * 16);
    }
}
