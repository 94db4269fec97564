//! Op selection: an artifact whose ops are all built loads; one with an op whose `op-*` feature is
//! off is refused at load with `Error::OpNotBuilt`, naming the op and the feature. Meaningful in
//! both builds: `cargo test -p ferrite-runtime` (every op) and, in `.ci/run`,
//! `cargo test -p ferrite-runtime --no-default-features --features std --test op_selection`
//! with LSTM left out.

use ferrite_runtime::{AlignedBytes, Error, Model};

fn golden(name: &str) -> AlignedBytes {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/golden/v1").join(name);
    AlignedBytes::copy_from(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

#[test]
fn an_op_left_out_is_refused_with_its_feature() {
    let bytes = golden("lstm_fwd.fer");
    let built = cfg!(feature = "op-lstm");
    match Model::from_bytes(bytes.as_slice()) {
        Ok(_) => assert!(built, "an LSTM artifact loaded without op-lstm"),
        Err(Error::OpNotBuilt { op, feature, .. }) => {
            assert!(!built, "op-lstm is on, yet LSTM was refused");
            assert_eq!((op, feature), ("LSTM", "op-lstm"));
            let msg = Error::OpNotBuilt { index: 0, op, feature }.to_string();
            assert!(msg.contains("op-lstm"), "{msg}");
        }
        Err(e) => panic!("unexpected error: {e}"),
    }
}

/// The audio frontend's FFT sizes are selected the same way: a size left out is refused at load.
#[test]
fn an_fft_size_left_out_is_refused() {
    let bytes = golden("tiny_audio_preprocess.fer"); // n_fft = 64
    let built = cfg!(feature = "fft-64");
    match Model::from_bytes(bytes.as_slice()) {
        Ok(_) => assert!(built, "a 64-point frontend loaded without fft-64"),
        Err(Error::BadPreprocess(rule)) => {
            assert!(!built, "fft-64 is on, yet the frontend was refused: {rule}");
            assert!(rule.contains("fft-N"), "{rule}");
        }
        Err(e) => panic!("unexpected error: {e}"),
    }
}

/// int8 QMatMul/QConv over row-major weights (early int8 artifacts) need `int8-row-major`;
/// `.ci/run` also runs this with the file's ops on and that feature off.
#[test]
fn row_major_int8_weights_need_their_feature() {
    let bytes = golden("tiny_int8_gru_gemm.fer"); // GRU, then a row-major int8 QMatMul
    let ops = cfg!(all(
        feature = "op-gru",
        feature = "op-quantize",
        feature = "op-qmatmul",
        feature = "op-dequantize",
        feature = "op-softmax"
    ));
    let row_major = cfg!(feature = "int8-row-major");
    match Model::from_bytes(bytes.as_slice()) {
        Ok(_) => assert!(ops && row_major, "loaded without the features it needs"),
        Err(Error::BadOp { rule, .. }) if rule.contains("int8-row-major") => {
            assert!(ops && !row_major, "refused although int8-row-major is on")
        }
        Err(Error::OpNotBuilt { .. }) => assert!(!ops, "an op was refused although all are on"),
        Err(e) => panic!("unexpected error: {e}"),
    }
}
