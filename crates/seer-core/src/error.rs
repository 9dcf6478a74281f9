//! The one error type of seer-core.

use thiserror::Error;

/// Everything that can go wrong in seer-core's domain logic.
///
/// Messages are meant to be shown to a user as they are: they quote the offending input and, for
/// CSV input, name the 1-based line of the file (the header is line 1) and the column.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CoreError {
    #[error(
        "cannot parse {0:?} as a timestamp: expected unix seconds, RFC 3339 \
         (2024-01-01T00:00:00Z), \"2024-01-01 00:00[:00]\" or \"2024-01-01\""
    )]
    InvalidTimestamp(String),

    #[error(
        "unknown time feature {0:?}: expected one of minute_of_hour, hour_of_day, day_of_week, \
         day_of_month, day_of_year, month_of_year"
    )]
    UnknownTimeFeature(String),

    #[error("empty input: no header line")]
    EmptyInput,

    #[error("no data rows after the header")]
    NoRows,

    #[error("line {line}: column {index} of the header has no name")]
    UnnamedColumn { line: u64, index: usize },

    #[error("line {line}: column {name:?} appears more than once (also as {other:?})")]
    DuplicateColumn {
        line: u64,
        name: String,
        other: String,
    },

    #[error("line {line}: columns {first:?} and {second:?} both name the {role}")]
    AmbiguousColumns {
        line: u64,
        first: String,
        second: String,
        role: &'static str,
    },

    #[error("missing required column(s) {missing}; the header is {header:?}")]
    MissingColumns {
        missing: String,
        header: Vec<String>,
    },

    #[error("line {line}: expected {expected} fields as in the header, found {found}")]
    FieldCount {
        line: u64,
        expected: usize,
        found: usize,
    },

    #[error("line {line}: empty series id")]
    EmptySeriesId { line: u64 },

    #[error("line {line}: column {column:?}: cannot parse {value:?} as a number")]
    InvalidNumber {
        line: u64,
        column: String,
        value: String,
    },

    #[error("line {line}: column {column:?}: cannot parse {value:?} as a timestamp")]
    InvalidTimestampField {
        line: u64,
        column: String,
        value: String,
    },

    #[error("line {line}: {message}")]
    Csv { line: u64, message: String },

    #[error("cannot read csv input: {0}")]
    Read(String),

    #[error("frequency must be a positive spacing, got {0}")]
    InvalidFrequency(crate::time::Frequency),

    #[error("series {id:?}: timestamp {timestamp} is not on the {freq} grid starting at {start}")]
    OffGrid {
        id: String,
        timestamp: String,
        freq: crate::time::Frequency,
        start: String,
    },

    #[error(
        "series {id:?}: timestamps {first} and {second} fall in the same {freq} period; a series \
         on a calendar grid has one point per period (is it finer than {freq}?)"
    )]
    SamePeriod {
        id: String,
        first: String,
        second: String,
        freq: crate::time::Frequency,
    },

    #[error(
        "series {id:?}: regular grid would have {points} points, more than the limit of {limit}"
    )]
    GridTooLarge {
        id: String,
        points: u128,
        limit: usize,
    },

    #[error("series {id:?}: {detail}")]
    InconsistentSeries { id: String, detail: String },

    #[error("no quantile levels given")]
    NoLevels,

    #[error("invalid quantile level {0:?}: expected a number strictly between 0 and 1")]
    InvalidLevel(String),

    #[error("{what} has {found} values but the actuals have {expected}")]
    LengthMismatch {
        what: String,
        expected: usize,
        found: usize,
    },

    #[error("{what} is not finite at step {step}, where the actual is observed")]
    NonFiniteForecast { what: String, step: usize },

    #[error("invalid synthetic data spec: {0}")]
    InvalidSynthetic(String),

    #[error("window capacity must be between 1 and {limit} points, got {capacity}")]
    InvalidWindowCapacity { capacity: usize, limit: usize },

    #[error(
        "frequency rule for prefix {prefix:?}: frequency must be a positive spacing, got {freq}"
    )]
    InvalidFrequencyRule {
        prefix: String,
        freq: crate::time::Frequency,
    },

    #[error("invalid batch policy: {0}")]
    InvalidBatchPolicy(String),

    #[error(
        "frequency {0:?}: expected a positive number of seconds or e.g. 15min, 1h, 1d, 1w, \
         or a calendar spacing: 1mo (month), 1q (quarter), 1y (year)"
    )]
    UnparsableFrequency(String),
}
