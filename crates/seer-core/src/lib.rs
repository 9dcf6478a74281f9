//! seer-core: the domain logic of seer's forecasting pipeline, free of IO and of any model.
//!
//! Reading long-format CSV input, timestamps and calendars, the preprocessing that
//! `docs/models.md` specifies (regular grid, context window, imputation, mean scaling, time
//! features), quantiles as numpy computes them (and nearest-rank percentiles), and series ids to
//! embedding rows.
//!
//! Also forecast accuracy metrics, the seasonal-naive baseline they are judged against, the
//! seedable generator behind seer's seeded draws on the host, and a seeded synthetic data
//! generator for demos and tests.

pub mod csv;
mod error;
pub mod features;
pub mod frequency;
pub mod hash;
pub mod metrics;
pub mod naive;
pub mod quantiles;
pub mod rng;
pub mod scaling;
pub mod series;
pub mod stream;
pub mod synthetic;
pub mod time;

pub use error::CoreError;
