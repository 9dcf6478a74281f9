//! `seer ingest`: consumes observations from Kafka, keeps a window per series for the partitions
//! it owns, batches the series that are due, asks an engine for their forecasts over gRPC, and
//! publishes forecasts (and dead letters) back to Kafka, storing a partition's offset only when
//! every message up to it is finished (at-least-once: a crash re-forecasts, never skips).
//!
//! [`IngestState`] is the whole of that logic without Kafka (decode, place, due, batch, commit
//! position); [`run`] is the Kafka shell around it.

mod config;
mod error;
mod metrics;
mod shell;
mod state;
mod transactions;

pub use config::{DEFAULTS, IngestConfig};
pub use error::IngestError;
pub use metrics::IngestMetrics;
pub use shell::run;
pub use state::{Batch, InFlight, Incoming, IngestState, Placement};
