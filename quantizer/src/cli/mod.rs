//! Commands of the `ferrite` tool that live in modules of their own (the others are still in
//! main.rs).

pub mod audit;
pub mod bench;
pub mod chunks;
pub mod device;
pub mod embed;
pub mod explain;
pub mod sign;
pub mod stream;
