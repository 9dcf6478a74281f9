//! The GPU layer of seer: adapter selection, buffers, the WGSL kernel registry, one host-side
//! wrapper per kernel (`ops`), and an f64 CPU reference for every kernel (`reference`).

mod context;
mod cpu;
mod error;
pub mod kernels;
pub mod ops;
mod recorder;
pub mod reference;
mod tensor;
pub mod testing;

pub use context::{AdapterChoice, AdapterSummary, GpuContext};
pub use error::GpuError;
pub use recorder::{Recorder, linear_grid};
pub use tensor::{Buffer, Tensor};
