//! Timestamps, and decoding observations from either wire format: protobuf (what producers in
//! other languages send) or a JSON object (what people type into kcat), told apart by content.

use std::collections::HashMap;

use seer_core::stream::DeadLetterReason;
use seer_core::time::Frequency;

use crate::v1::Observation;

/// Why a payload is not an observation; `reason()` is the dead-letter reason header.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    #[error("undecodable payload: {0}")]
    Undecodable(String),
    #[error("missing field {0}")]
    MissingField(&'static str),
    #[error("value is not a finite number")]
    NonFinite,
    #[error("bad timestamp: {0}")]
    BadTimestamp(String),
}

impl DecodeError {
    pub fn reason(&self) -> DeadLetterReason {
        match self {
            DecodeError::Undecodable(_) => DeadLetterReason::Undecodable,
            DecodeError::MissingField(_) => DeadLetterReason::MissingField,
            DecodeError::NonFinite => DeadLetterReason::NonFiniteValue,
            DecodeError::BadTimestamp(_) => DeadLetterReason::BadTimestamp,
        }
    }
}

/// The wall clock as a protobuf timestamp (what `issued_at` fields carry).
pub fn now_timestamp() -> prost_types::Timestamp {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    prost_types::Timestamp {
        seconds: now.as_secs() as i64,
        nanos: now.subsec_nanos() as i32,
    }
}

pub fn timestamp(seconds: i64) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds, nanos: 0 }
}

/// Unix seconds of a protobuf timestamp (sub-second parts truncated: seer's grids are whole
/// seconds).
pub fn seconds(ts: &prost_types::Timestamp) -> i64 {
    ts.seconds
}

/// The proto's two spacing fields (`freq_seconds`, `freq_months`) of a frequency.
pub fn frequency_fields(freq: Frequency) -> (i64, u32) {
    match freq {
        Frequency::Seconds(s) => (s, 0),
        Frequency::Months(m) => (0, m),
    }
}

/// The frequency the proto's two spacing fields give: exactly one must be positive. The error
/// says what is wrong for an INVALID_ARGUMENT, naming the field.
pub fn frequency_from_fields(
    freq_seconds: i64,
    freq_months: u32,
) -> Result<Frequency, (&'static str, String)> {
    match (freq_seconds, freq_months) {
        (s, 0) if s > 0 => Ok(Frequency::Seconds(s)),
        (0, m) if m > 0 => Ok(Frequency::Months(m)),
        (s, 0) => Err((
            "freq_seconds",
            format!(
                "must be a positive number of seconds (or 0 with freq_months set for a calendar spacing), got {s}"
            ),
        )),
        (s, m) => Err((
            "freq_months",
            format!(
                "set with freq_seconds {s}: a window's spacing is either seconds or calendar months ({m}), not both"
            ),
        )),
    }
}

/// An observation from a Kafka payload, checked for the fields every point needs.
pub fn decode_observation(payload: &[u8]) -> Result<Observation, DecodeError> {
    let first = payload.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return from_protobuf(payload).and_then(checked);
    }
    // Protobuf can look like JSON too: the series_id tag is `\n`, and a length of 9, 10, 12, 13
    // or 32 is another whitespace byte, so an id such as `{abcdefgh` starts with `\n\t{`. JSON
    // that does not decode gets that second reading; its own error is the one reported.
    from_json(payload).and_then(checked).or_else(|json_error| {
        from_protobuf(payload)
            .and_then(checked)
            .map_err(|_| json_error)
    })
}

fn from_protobuf(payload: &[u8]) -> Result<Observation, DecodeError> {
    prost::Message::decode(payload).map_err(|e| DecodeError::Undecodable(e.to_string()))
}

/// The fields every point needs.
fn checked(obs: Observation) -> Result<Observation, DecodeError> {
    if obs.series_id.trim().is_empty() {
        return Err(DecodeError::MissingField("series_id"));
    }
    if obs.timestamp.is_none() {
        return Err(DecodeError::MissingField("timestamp"));
    }
    if !obs.value.is_finite() {
        return Err(DecodeError::NonFinite);
    }
    Ok(obs)
}

#[derive(serde::Deserialize)]
struct JsonObservation {
    series_id: Option<String>,
    timestamp: Option<serde_json::Value>,
    value: Option<serde_json::Value>,
    #[serde(default)]
    features: HashMap<String, f64>,
}

fn from_json(payload: &[u8]) -> Result<Observation, DecodeError> {
    let j: JsonObservation =
        serde_json::from_slice(payload).map_err(|e| DecodeError::Undecodable(e.to_string()))?;
    let series_id = j.series_id.ok_or(DecodeError::MissingField("series_id"))?;
    let ts = match j.timestamp.ok_or(DecodeError::MissingField("timestamp"))? {
        serde_json::Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
            .ok_or_else(|| DecodeError::BadTimestamp(n.to_string()))?,
        serde_json::Value::String(s) => seer_core::time::parse_timestamp(&s)
            .map_err(|e| DecodeError::BadTimestamp(e.to_string()))?,
        other => return Err(DecodeError::BadTimestamp(other.to_string())),
    };
    let value = match j.value.ok_or(DecodeError::MissingField("value"))? {
        serde_json::Value::Number(n) => n.as_f64().ok_or(DecodeError::NonFinite)?,
        // "NaN"/"Infinity" spelled as strings are values, just not finite ones
        serde_json::Value::String(s) => s
            .trim()
            .parse::<f64>()
            .map_err(|_| DecodeError::Undecodable(format!("value {s:?} is not a number")))?,
        serde_json::Value::Null => return Err(DecodeError::NonFinite),
        other => {
            return Err(DecodeError::Undecodable(format!(
                "value {other} is not a number"
            )));
        }
    };
    Ok(Observation {
        series_id,
        timestamp: Some(timestamp(ts)),
        value,
        features: j.features,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frequency_fields_round_trip_and_refuse_ambiguity() {
        for f in [
            Frequency::Seconds(60),
            Frequency::MONTHLY,
            Frequency::YEARLY,
        ] {
            let (s, m) = frequency_fields(f);
            assert_eq!(frequency_from_fields(s, m), Ok(f));
        }
        assert_eq!(frequency_from_fields(0, 0).unwrap_err().0, "freq_seconds");
        assert_eq!(frequency_from_fields(-60, 0).unwrap_err().0, "freq_seconds");
        assert_eq!(frequency_from_fields(-60, 3).unwrap_err().0, "freq_months");
        let (field, why) = frequency_from_fields(3600, 1).unwrap_err();
        assert_eq!(field, "freq_months");
        assert!(why.contains("not both"), "{why}");
    }

    #[test]
    fn protobuf_and_json_decode_to_the_same_observation() {
        let obs = Observation {
            series_id: "a".into(),
            timestamp: Some(timestamp(1_700_000_000)),
            value: 2.5,
            features: HashMap::new(),
        };
        let bytes = prost::Message::encode_to_vec(&obs);
        assert_eq!(decode_observation(&bytes).unwrap(), obs);
        let json = br#" {"series_id": "a", "timestamp": "2023-11-14T22:13:20Z", "value": 2.5}"#;
        assert_eq!(decode_observation(json).unwrap(), obs);
        let json = br#"{"series_id": "a", "timestamp": 1700000000, "value": 2.5}"#;
        assert_eq!(decode_observation(json).unwrap(), obs);
    }

    #[test]
    fn bad_payloads_name_their_reason() {
        let cases: [(&[u8], &str); 8] = [
            (b"\xff\xff\xff", "undecodable"),
            (b"{not json", "undecodable"),
            (br#"{"timestamp": 1, "value": 1}"#, "missing_field"),
            (
                br#"{"series_id": " ", "timestamp": 1, "value": 1}"#,
                "missing_field",
            ),
            (br#"{"series_id": "a", "value": 1}"#, "missing_field"),
            (
                br#"{"series_id": "a", "timestamp": 1, "value": "NaN"}"#,
                "non_finite_value",
            ),
            (
                br#"{"series_id": "a", "timestamp": "yesterday", "value": 1}"#,
                "bad_timestamp",
            ),
            (
                br#"{"series_id": "a", "timestamp": 1, "value": null}"#,
                "missing_field",
            ),
        ];
        for (payload, reason) in cases {
            let err = decode_observation(payload).unwrap_err();
            assert_eq!(
                err.reason().as_str(),
                reason,
                "{:?}: {err}",
                String::from_utf8_lossy(payload)
            );
        }
        let obs = Observation {
            series_id: "a".into(),
            timestamp: Some(timestamp(1)),
            value: f64::INFINITY,
            features: HashMap::new(),
        };
        assert_eq!(
            decode_observation(&prost::Message::encode_to_vec(&obs))
                .unwrap_err()
                .reason()
                .as_str(),
            "non_finite_value"
        );
        let obs = Observation {
            series_id: "a".into(),
            timestamp: None,
            value: 1.0,
            features: HashMap::new(),
        };
        assert_eq!(
            decode_observation(&prost::Message::encode_to_vec(&obs))
                .unwrap_err()
                .reason()
                .as_str(),
            "missing_field"
        );
    }
}
