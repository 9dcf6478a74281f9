//! `seer gateway`: the public gRPC API (`seer.v1.Forecasts`, `seer.v1.Models`).
//!
//! Every replica is self-sufficient: it reads the whole forecasts topic (all partitions, from the
//! beginning, no consumer group and no commits) into a materialised view of the latest forecast
//! per series ([`LatestView`]), so any replica answers for any series and a restart rebuilds the
//! view from the topic. New forecasts also go to a broadcast channel that feeds `Watch`. Ad-hoc
//! `Forecast` calls go to an engine, `Ingest` writes onto the observations topic with an
//! idempotent producer, and `Models` forwards to the engine's `ListModels` while keeping the
//! active/previous version per model from the models topic ([`ModelState`]).

mod auth;
mod catalog;
mod config;
mod error;
mod forecasts;
mod metrics;
mod models;
mod reader;
mod request;
mod server;
mod status;
mod view;

pub use auth::{AdminToken, check_bearer};
pub use catalog::{ModelState, Versions};
pub use config::{DEFAULTS, GatewayConfig};
pub use error::GatewayError;
pub use forecasts::{ForecastsService, MAX_BATCH_IDS};
pub use metrics::GatewayMetrics;
pub use models::ModelsService;
pub use request::parse_grpc_timeout;
pub use server::{Gateway, serve};
pub use status::{RequestError, status_of};
pub use view::{HistoryView, LatestView};
