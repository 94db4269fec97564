//! Streaming memory is flat (issue 11): the process's resident set after ten minutes of a keyword
//! stream is what it was after one. A test binary of its own, so that no other test's threads or
//! buffers move the figure; Linux's `/proc/self/status` (`VmRSS`) gives it (elsewhere the test
//! says so and passes: tests/zero_alloc.rs proves the cause, no allocation, everywhere).

use ferrite_e2e::{int8_artifact, shared_data};
use ferrite_runtime::preprocess::wav;
use ferrite_runtime::stream::{KeywordStream, OwnedStreamBuffers};
use ferrite_runtime::{Model, Preprocessing, Session};

/// Resident set size in KiB, if the OS tells.
fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn resident_memory_after_ten_minutes_of_stream_equals_that_after_one() {
    if !ferrite_e2e::have_shared_data() {
        return;
    }
    if rss_kib().is_none() {
        eprintln!("no /proc/self/status here: resident memory not measured");
        return;
    }
    let art = int8_artifact("kws-dscnn", "fsdd");
    let model = Model::from_bytes(&art).unwrap();
    let Preprocessing::Audio(fe) = model.preprocessing() else { panic!("kws has a frontend") };
    let params = model.stream_params().expect("stream defaults in the artifact");
    let mut buffers = OwnedStreamBuffers::new(&fe, model.labels().count(), &params).unwrap();
    let mut stream = KeywordStream::new(Session::new(&model).unwrap(), params, buffers.borrow()).unwrap();
    let mut audio = Vec::new();
    for name in ["7_theo_3", "3_george_1", "0_jackson_2"] {
        let b = std::fs::read(shared_data().join(format!("fsdd/recordings/{name}.wav"))).unwrap();
        audio.extend(wav::parse(&b).unwrap().samples().map(|v| (v * 32768.0) as i16));
        audio.extend((0..6000u32).map(|i| ((i.wrapping_mul(2_654_435_761) >> 22) as i16) - 512));
    }
    let minute = 60 * fe.sample_rate() as u64;
    let (mut detections, mut chunk) = (0usize, 1usize);
    let mut push_until = |stream: &mut KeywordStream<'_, '_, '_>, until: u64| {
        while stream.samples_seen() < until {
            for piece in audio.chunks(chunk) {
                stream.push(piece, |_| detections += 1).unwrap();
            }
            chunk = chunk % 997 + 37;
        }
    };
    push_until(&mut stream, minute);
    let after_one = rss_kib().unwrap();
    push_until(&mut stream, 10 * minute);
    let after_ten = rss_kib().unwrap();
    eprintln!("resident memory: {after_one} KiB after one minute of stream, {after_ten} KiB after ten");
    assert_eq!(after_ten, after_one, "resident memory grew over nine more minutes of stream");
    assert!(detections > 0, "the clips are heard");
}
