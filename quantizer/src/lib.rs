//! # ferrite-quantizer
//!
//! Turns ONNX models into Ferrite artifacts: [`import`] (tract-onnx parses and infers shapes; we
//! lower ONNX nodes onto Ferrite ops), [`passes`] (BatchNorm and activation fusion, dead-op
//! removal, fp16 weights), [`plan`] (the arena), [`writer`] (format v1 bytes). The `ferrite`
//! binary in this crate is the command-line front end.

#![deny(missing_docs)]

pub mod alias;
pub mod calibrate;
pub mod classify;
pub mod config;
pub mod embed;
pub mod error;
pub mod eval;
pub mod explain;
pub mod fuse_norm;
pub mod hf_tokenizer;
pub mod import;
pub mod int8;
pub mod ir;
pub mod layout;
pub mod lookup;
pub mod npy;
pub mod passes;
pub mod plan;
pub mod quantize;
pub mod relayout;
pub mod report;
pub mod sign;
pub mod writer;

pub use error::{Error, Result};
