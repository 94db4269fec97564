//! Keyword spotting over a stream from C: the runtime's `KeywordStream` (a window model on a
//! sliding window) or `RecurrentStream` (a step model, its state carried) in caller memory. Push
//! 16-bit PCM at the model's rate; each call takes samples until one fires a detection (or the
//! chunk ends), so a caller loops until every sample is taken and never loses a detection.

use crate::{filled, FERRITE_E_INPUT, FERRITE_OK};
use crate::{guard, model_ref, status_of, FerriteModel, FERRITE_E_BUFFER, FERRITE_E_NO_PREPROCESSING, FERRITE_E_NULL};
use core::ffi::c_void;
use core::mem::{align_of, size_of};
use ferrite_runtime::preprocess::AudioFrontend;
use ferrite_runtime::stream::{Detection, KeywordStream, RecurrentStream, StreamBuffers, StreamLens, StreamParams};
use ferrite_runtime::{Model, PreparedOp, Preprocessing, Region, Result, Session, SessionOptions, ARENA_ALIGN};

/// A keyword stream: a session of a keyword model and the stream's frontend and detector, in
/// caller memory (opaque).
pub struct FerriteStream {
    stream: Inner,
}

/// Which stream: a window model's or a step model's.
enum Inner {
    Window(KeywordStream<'static, 'static, 'static>),
    Recurrent(RecurrentStream<'static, 'static, 'static>),
}

impl Inner {
    fn push_until_detection(&mut self, pcm: &[i16]) -> Result<(usize, Option<Detection>)> {
        match self {
            Inner::Window(s) => s.push_until_detection(pcm),
            Inner::Recurrent(s) => s.push_until_detection(pcm),
        }
    }

    fn samples_seen(&self) -> u64 {
        match self {
            Inner::Window(s) => s.samples_seen(),
            Inner::Recurrent(s) => s.samples_seen(),
        }
    }

    fn reset(&mut self) {
        match self {
            Inner::Window(s) => s.reset(),
            Inner::Recurrent(s) => s.reset(),
        }
    }
}

/// How a stream runs its model and decides (docs/PREPROCESSING.md, "Streaming").
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FerriteStreamParams {
    /// Audio frames between runs of the model, 1 to 65536.
    pub hop_frames: u32,
    /// Runs whose posteriors are averaged, 1 to 256.
    pub smooth: u32,
    /// Smoothed posterior a keyword must reach, in (0, 1].
    pub threshold: f32,
    /// Samples after a detection's window end before another may fire.
    pub refractory: u32,
    /// The class that never fires (no keyword), or -1 for none.
    pub background: i64,
}

/// A keyword heard in the stream.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FerriteDetection {
    /// Class index (`ferrite_model_label` names it).
    pub label: usize,
    /// Its smoothed posterior.
    pub score: f32,
    /// First sample of the window that fired, counted from the start of the stream.
    pub start: u64,
    /// One past its last sample.
    pub end: u64,
}

// Stream memory is only 16-byte aligned: everything placed in it must need no more.
const _: () =
    assert!(align_of::<FerriteStream>() <= 16 && align_of::<PreparedOp>() <= 16 && align_of::<Region>() <= 16);

fn to_c(p: StreamParams) -> FerriteStreamParams {
    FerriteStreamParams {
        hop_frames: p.hop_frames,
        smooth: p.smooth,
        threshold: p.threshold,
        refractory: p.refractory,
        background: p.background.map_or(-1, i64::from),
    }
}

fn from_c(p: &FerriteStreamParams) -> Option<StreamParams> {
    let background = if p.background < 0 { None } else { Some(u32::try_from(p.background).ok()?) };
    let params = StreamParams {
        hop_frames: p.hop_frames,
        smooth: p.smooth,
        threshold: p.threshold,
        refractory: p.refractory,
        background,
    };
    params.check().ok().map(|_| params)
}

/// Writes the model's default stream parameters (its artifact's, else the runtime's) to `*params`.
/// `FERRITE_E_NO_PREPROCESSING` for a model without an audio frontend.
#[no_mangle]
pub unsafe extern "C" fn ferrite_stream_defaults(model: *const FerriteModel, params: *mut FerriteStreamParams) -> i32 {
    guard(|| {
        let (Some(m), false) = (model_ref(model), params.is_null()) else { return FERRITE_E_NULL };
        let Preprocessing::Audio(fe) = m.preprocessing() else { return FERRITE_E_NO_PREPROCESSING };
        let p = m.stream_params().unwrap_or_else(|| StreamParams::defaults_for(&fe));
        // SAFETY: a non-null pointer to a writable FerriteStreamParams.
        unsafe { params.write(to_c(p)) };
        FERRITE_OK
    })
}

/// Where each part of a stream's memory starts, in bytes from its (16-byte aligned) start.
struct Layout {
    ops: usize,
    regions: usize,
    floats: usize,
    lens: StreamLens,
    /// f32 of the step model's state (0 for a window model).
    state: usize,
    floats_end: usize,
    total: usize,
}

/// What a stream is made of: the model its session runs, the frontend, the classes and the state.
struct Parts<'m> {
    run: &'m Model<'static>,
    fe: AudioFrontend,
    classes: usize,
    state: usize,
}

/// A window model's parts: `None` without an audio frontend.
fn window_parts(m: &'static Model<'static>) -> Option<Parts<'static>> {
    let Preprocessing::Audio(fe) = m.preprocessing() else { return None };
    let classes = m.outputs().next().map_or(0, |o| o.info.len());
    Some(Parts { run: m, fe, classes, state: 0 })
}

/// A step model's parts, the frontend and classes from its whole-clip model: `None` when the
/// whole-clip model has no audio frontend or the step model no second input (its state).
fn recurrent_parts(whole: &'static Model<'static>, step: &'static Model<'static>) -> Option<Parts<'static>> {
    let Preprocessing::Audio(fe) = whole.preprocessing() else { return None };
    let classes = whole.outputs().next().map_or(0, |o| o.info.len());
    let state = step.inputs().nth(1)?.info.len();
    Some(Parts { run: step, fe, classes, state })
}

fn layout(parts: &Parts<'_>, p: &StreamParams) -> Layout {
    let (m, lens) = (parts.run, StreamLens::of(&parts.fe, parts.classes, p));
    let f = lens.frontend;
    let n_floats = f.tables + f.scratch + f.samples + f.rows + lens.history + lens.posteriors + parts.state;
    let align = |x: usize, a: usize| x.div_ceil(a) * a;
    let ops = align(size_of::<FerriteStream>(), align_of::<PreparedOp>());
    let regions = align(ops + m.op_count() * size_of::<PreparedOp>(), align_of::<Region>());
    let floats = align(regions + m.region_count() * size_of::<Region>(), align_of::<f32>());
    let floats_end = floats + n_floats * size_of::<f32>();
    let total = floats_end + (ARENA_ALIGN - 1) + m.arena_len();
    Layout { ops, regions, floats, lens, state: parts.state, floats_end, total }
}

/// Bytes of memory (16-byte aligned) a stream of `model` with `params` needs; 0 when either is
/// null, the model has no audio frontend or the parameters break a rule.
#[no_mangle]
pub unsafe extern "C" fn ferrite_stream_memory_size(
    model: *const FerriteModel,
    params: *const FerriteStreamParams,
) -> usize {
    // SAFETY: passed on: a null or valid pointer to parameters.
    unsafe { memory_size(model_ref(model).and_then(window_parts), params) }
}

/// The bytes a stream of `parts` with `params` needs; 0 without parts or for bad parameters.
///
/// # Safety
/// `params` is null or points to valid parameters.
unsafe fn memory_size(parts: Option<Parts<'static>>, params: *const FerriteStreamParams) -> usize {
    // SAFETY: a null or valid pointer to parameters (the caller's promise).
    let p = unsafe { params.as_ref() }.and_then(from_c);
    match (parts, p) {
        (Some(parts), Some(p)) => layout(&parts, &p).total,
        _ => 0,
    }
}

/// Creates a stream of `model` with `params` in `memory` (`len` bytes, 16-byte aligned, at least
/// [`ferrite_stream_memory_size`]); `*stream` points into `memory`. Computes the frontend's tables;
/// allocates nothing. `FERRITE_E_INPUT` for parameters that break a rule.
#[no_mangle]
pub unsafe extern "C" fn ferrite_stream_create(
    model: *const FerriteModel,
    params: *const FerriteStreamParams,
    memory: *mut c_void,
    len: usize,
    stream: *mut *mut FerriteStream,
) -> i32 {
    guard(|| {
        // SAFETY: a null or valid pointer to parameters.
        let (Some(m), Some(p)) = (model_ref(model), unsafe { params.as_ref() }) else { return FERRITE_E_NULL };
        let Some(parts) = window_parts(m) else { return FERRITE_E_NO_PREPROCESSING };
        // SAFETY: the caller's promises about `memory`, `len` and `stream`, passed on.
        unsafe { create(&parts, p, memory, len, stream, |s, p, b, _| KeywordStream::new(s, p, b).map(Inner::Window)) }
    })
}

/// Bytes of memory (16-byte aligned) a recurrent stream needs: `step`, a step model (one frame
/// of features and its state in; logits and the new state out), run once per frame with its state
/// carried, with the audio frontend and classes of `whole`, its whole-clip model, and `params`.
/// 0 when a pointer is null, `whole` has no audio frontend, `step` no state input or the
/// parameters break a rule.
#[no_mangle]
pub unsafe extern "C" fn ferrite_recurrent_stream_memory_size(
    whole: *const FerriteModel,
    step: *const FerriteModel,
    params: *const FerriteStreamParams,
) -> usize {
    let parts = model_ref(whole).zip(model_ref(step)).and_then(|(w, s)| recurrent_parts(w, s));
    // SAFETY: passed on: a null or valid pointer to parameters.
    unsafe { memory_size(parts, params) }
}

/// Creates a recurrent stream of `step` with the frontend and classes of `whole` (see
/// [`ferrite_recurrent_stream_memory_size`]) in `memory`; the state starts at zero. Push, count,
/// reset and detections as for [`ferrite_stream_create`]'s streams. `FERRITE_E_INPUT` when the
/// parameters break a rule or `step`'s inputs do not fit (one frame of the frontend's features,
/// then the state, both f32), `FERRITE_E_BUFFER` when its logits are not one per class of
/// `whole`, `FERRITE_E_ARTIFACT` when `whole`'s frontend subtracts a window's mean (a step model
/// sees one frame).
#[no_mangle]
pub unsafe extern "C" fn ferrite_recurrent_stream_create(
    whole: *const FerriteModel,
    step: *const FerriteModel,
    params: *const FerriteStreamParams,
    memory: *mut c_void,
    len: usize,
    stream: *mut *mut FerriteStream,
) -> i32 {
    guard(|| {
        // SAFETY: a null or valid pointer to parameters.
        let (Some(w), Some(st), Some(p)) = (model_ref(whole), model_ref(step), unsafe { params.as_ref() }) else {
            return FERRITE_E_NULL;
        };
        let Preprocessing::Audio(fe) = w.preprocessing() else { return FERRITE_E_NO_PREPROCESSING };
        let Some(parts) = recurrent_parts(w, st) else { return FERRITE_E_INPUT };
        // SAFETY: the caller's promises about `memory`, `len` and `stream`, passed on.
        unsafe {
            create(&parts, p, memory, len, stream, |s, p, b, state| {
                RecurrentStream::new(s, fe, p, b, state).map(Inner::Recurrent)
            })
        }
    })
}

/// Lays a stream of `parts` out in `memory` and makes it with `make` (session, parameters,
/// buffers, state).
///
/// # Safety
/// `memory` is null or holds `len` writable bytes handed over for the stream's lifetime;
/// `stream` is null or writable.
unsafe fn create(
    parts: &Parts<'static>,
    p: &FerriteStreamParams,
    memory: *mut c_void,
    len: usize,
    stream: *mut *mut FerriteStream,
    make: impl FnOnce(
        Session<'static, 'static, 'static>,
        StreamParams,
        StreamBuffers<'static>,
        &'static mut [f32],
    ) -> Result<Inner>,
) -> i32 {
    if memory.is_null() || stream.is_null() {
        return FERRITE_E_NULL;
    }
    let Some(p) = from_c(p) else { return FERRITE_E_INPUT };
    let (l, m) = (layout(parts, &p), parts.run);
    if len < l.total || !(memory as usize).is_multiple_of(16) {
        return FERRITE_E_BUFFER;
    }
    let (no, nr) = (m.op_count(), m.region_count());
    let n_floats = (l.floats_end - l.floats) / size_of::<f32>();
    let memory = memory.cast::<u8>();
    let end = memory as usize + l.floats_end;
    let pad = end.div_ceil(ARENA_ALIGN) * ARENA_ALIGN - end;
    // SAFETY: `memory` holds `len` ≥ l.total writable bytes handed over for the stream's
    // lifetime; the parts are disjoint, in bounds and aligned (layout()), and initialised before
    // the slices over them are made.
    let (ops, regions, floats, arena) = unsafe {
        (
            filled(memory.add(l.ops).cast::<PreparedOp>(), no, PreparedOp::EMPTY),
            filled(memory.add(l.regions).cast::<Region>(), nr, Region::EMPTY),
            filled(memory.add(l.floats).cast::<f32>(), n_floats, 0.0),
            core::slice::from_raw_parts_mut(memory.add(l.floats_end + pad), m.arena_len()),
        )
    };
    let f = l.lens.frontend;
    let (tables, rest) = floats.split_at_mut(f.tables);
    let (scratch, rest) = rest.split_at_mut(f.scratch);
    let (samples, rest) = rest.split_at_mut(f.samples);
    let (rows, rest) = rest.split_at_mut(f.rows);
    let (history, rest) = rest.split_at_mut(l.lens.history);
    let (posteriors, state) = rest.split_at_mut(l.lens.posteriors);
    debug_assert_eq!(state.len(), l.state);
    if let Err(e) = parts.fe.tables(tables) {
        return status_of(&e);
    }
    let session = match Session::with_buffers(m, arena, ops, regions, SessionOptions::default()) {
        Ok(s) => s,
        Err(e) => return status_of(&e),
    };
    let buffers = StreamBuffers { tables, scratch, samples, rows, history, posteriors };
    match make(session, p, buffers, state) {
        Ok(inner) => {
            let ptr = memory.cast::<FerriteStream>();
            // SAFETY: the stream's slot at the start of `memory` is aligned (16 ≥ its alignment:
            // asserted at compile time) and does not overlap the parts above.
            unsafe {
                ptr.write(FerriteStream { stream: inner });
                *stream = ptr;
            }
            FERRITE_OK
        }
        Err(e) => status_of(&e),
    }
}

/// Pushes up to `n` samples of 16-bit mono PCM at the model's rate, stopping after the first that
/// fires a detection: `*taken` samples were taken, and `*fired` is 1 with `*detection` filled when
/// one fired (else 0). Call again with the rest until every sample is taken.
#[no_mangle]
pub unsafe extern "C" fn ferrite_stream_push(
    stream: *mut FerriteStream,
    pcm: *const i16,
    n: usize,
    taken: *mut usize,
    fired: *mut i32,
    detection: *mut FerriteDetection,
) -> i32 {
    guard(|| {
        if stream.is_null() || (pcm.is_null() && n > 0) || taken.is_null() || fired.is_null() || detection.is_null() {
            return FERRITE_E_NULL;
        }
        // SAFETY: a pointer from ferrite_stream_create, used by one caller at a time, and `n`
        // readable samples (none when `n` is 0).
        let (s, pcm) = unsafe { (&mut *stream, if n == 0 { &[][..] } else { core::slice::from_raw_parts(pcm, n) }) };
        match s.stream.push_until_detection(pcm) {
            Ok((used, d)) => {
                // SAFETY: non-null pointers to writable values.
                unsafe {
                    *taken = used;
                    *fired = i32::from(d.is_some());
                    if let Some(d) = d {
                        *detection = FerriteDetection { label: d.class, score: d.score, start: d.start, end: d.end };
                    }
                }
                FERRITE_OK
            }
            Err(e) => status_of(&e),
        }
    })
}

/// Samples pushed into `stream` so far (0 for null).
#[no_mangle]
pub unsafe extern "C" fn ferrite_stream_samples(stream: *const FerriteStream) -> u64 {
    // SAFETY: a null or valid pointer from ferrite_stream_create.
    unsafe { stream.as_ref() }.map_or(0, |s| s.stream.samples_seen())
}

/// Starts the stream over (a new stream in the same memory).
#[no_mangle]
pub unsafe extern "C" fn ferrite_stream_reset(stream: *mut FerriteStream) -> i32 {
    guard(|| {
        // SAFETY: a null or valid pointer from ferrite_stream_create.
        let Some(s) = (unsafe { stream.as_mut() }) else { return FERRITE_E_NULL };
        s.stream.reset();
        FERRITE_OK
    })
}
