//! The trainer: online fine-tuning inside the serving loop. It scores every published forecast
//! against the actuals as they arrive (live MASE, weighted quantile loss and 80% coverage per
//! model version), keeps a replay buffer of recent and older windows, fine-tunes the active
//! model on the GPU on a schedule or when live error drifts, promotes a candidate only when it
//! beats the active version on windows neither trained on, and rolls a promotion back when it
//! does worse live. Versions go to the model store and the models topic, which every engine
//! follows. One trainer per model trains: the member of a consumer group that holds the models
//! topic's one partition.

mod config;
mod error;
pub mod gate;
pub mod learner;
mod metrics;
pub mod quality;
pub mod replay;
pub mod selection;
mod service;
pub mod state;

pub use config::{DEFAULTS, TrainerConfig};
pub use error::TrainerError;
pub use metrics::TrainerMetrics;
pub use service::{StatusHandle, TrainerStatus, run};
