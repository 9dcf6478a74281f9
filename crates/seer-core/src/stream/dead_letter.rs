//! Why a message went to the dead-letter topic: the one list of reasons. The ingest writes
//! [`DeadLetterReason::as_str`] into the `seer-reason` header and labels its dead-letter metric
//! with it; `seer up`, the docs and the tests read this list rather than keep their own.

use std::fmt;

/// A dead-letter reason. The names never change between releases: consumers of the dead-letter
/// topic match on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeadLetterReason {
    /// The payload is neither a protobuf `Observation` nor a JSON object of one.
    Undecodable,
    /// `series_id` or `timestamp` is absent or empty.
    MissingField,
    /// The value is NaN or ±Inf.
    NonFiniteValue,
    /// The timestamp is out of range or unparsable.
    BadTimestamp,
    /// Older than the oldest slot the series' window holds.
    Late,
    /// Not on the series' time grid.
    OffGrid,
    /// Larger than the ingest's `max_message_bytes`.
    Oversized,
    /// Further in the future than the ingest's `max_future_seconds`.
    FutureTimestamp,
    /// The Kafka key is not the payload's series id (the series would be split across
    /// partitions and owners).
    KeyMismatch,
    /// A finite value beyond the ±3.4e38 a window holds (single precision).
    OutOfRange,
}

impl DeadLetterReason {
    pub const ALL: [DeadLetterReason; 10] = [
        DeadLetterReason::Undecodable,
        DeadLetterReason::MissingField,
        DeadLetterReason::NonFiniteValue,
        DeadLetterReason::BadTimestamp,
        DeadLetterReason::Late,
        DeadLetterReason::OffGrid,
        DeadLetterReason::Oversized,
        DeadLetterReason::FutureTimestamp,
        DeadLetterReason::KeyMismatch,
        DeadLetterReason::OutOfRange,
    ];

    /// The header value and metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            DeadLetterReason::Undecodable => "undecodable",
            DeadLetterReason::MissingField => "missing_field",
            DeadLetterReason::NonFiniteValue => "non_finite_value",
            DeadLetterReason::BadTimestamp => "bad_timestamp",
            DeadLetterReason::Late => "late",
            DeadLetterReason::OffGrid => "off_grid",
            DeadLetterReason::Oversized => "oversized",
            DeadLetterReason::FutureTimestamp => "future_timestamp",
            DeadLetterReason::KeyMismatch => "key_mismatch",
            DeadLetterReason::OutOfRange => "out_of_range",
        }
    }

    pub fn parse(name: &str) -> Option<DeadLetterReason> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

impl fmt::Display for DeadLetterReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_lowercase_and_round_trip() {
        let mut names: Vec<&str> = DeadLetterReason::ALL.iter().map(|r| r.as_str()).collect();
        for (r, n) in DeadLetterReason::ALL.iter().zip(&names) {
            assert_eq!(DeadLetterReason::parse(n), Some(*r));
            assert!(n.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
        }
        names.sort();
        names.dedup();
        assert_eq!(names.len(), DeadLetterReason::ALL.len());
        assert_eq!(DeadLetterReason::parse("nope"), None);
    }
}
