//! seer-core: the domain logic of seer's forecasting pipeline, free of IO and of any model.
//!
//! Reading long-format CSV input, timestamps and calendars, the preprocessing that
//! `docs/models.md` specifies (regular grid, context window, imputation, mean scaling, time
//! features), quantiles as numpy computes them, and series ids to embedding rows.

pub mod csv;
mod error;
pub mod features;
pub mod hash;
pub mod quantiles;
pub mod scaling;
pub mod series;
pub mod time;

pub use error::CoreError;
