//! Bounded fuzzing of `decode_observation`, the first code every Kafka payload meets, plus a
//! replay of the committed corpus in `tests/corpus/observation` (file names say the outcome:
//! `ok-NAME` or `err-REASON-NAME`, REASON being the dead-letter reason).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::test_runner::Config;
use seer_proto::convert::{DecodeError, decode_observation, timestamp};
use seer_proto::v1::Observation;

fn config() -> Config {
    Config {
        // Bounded for CI; PROPTEST_CASES=100000 digs deeper locally.
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(256),
        // Failures become corpus files instead of regressions files in the source tree.
        failure_persistence: None,
        ..Config::default()
    }
}

/// Every rejection must carry something a dead-letter reader can act on, not just a category.
fn assert_explained(err: &DecodeError) {
    let detail = match err {
        DecodeError::Undecodable(m) | DecodeError::BadTimestamp(m) => m.trim(),
        DecodeError::MissingField(f) => f.trim(),
        DecodeError::NonFinite => "value",
    };
    assert!(!detail.is_empty(), "rejection without detail: {err:?}");
    assert!(!err.to_string().trim().is_empty());
    assert!(!err.reason().as_str().is_empty());
}

/// What an accepted observation promises its consumers.
fn assert_usable(obs: &Observation) {
    assert!(!obs.series_id.trim().is_empty(), "{obs:?}");
    assert!(obs.timestamp.is_some(), "{obs:?}");
    assert!(obs.value.is_finite(), "{obs:?}");
}

fn check(payload: &[u8]) -> Result<Observation, DecodeError> {
    let result = decode_observation(payload);
    match &result {
        Ok(obs) => assert_usable(obs),
        Err(err) => assert_explained(err),
    }
    result
}

/// Whether the decoder must accept `text` as the JSON value of `field`: the contract of the
/// JSON format, restated independently of the decoder's code.
fn acceptable(field: &str, text: &str) -> bool {
    // Parsed in place, so depth limits apply as they do inside the observation.
    let Ok(serde_json::Value::Object(mut wrapper)) =
        serde_json::from_str::<serde_json::Value>(&format!("{{\"x\": {text}}}"))
    else {
        return false;
    };
    let value = wrapper.remove("x").unwrap();
    use serde_json::Value as V;
    match (field, value) {
        ("series_id", V::String(s)) => !s.trim().is_empty(),
        ("timestamp", V::Number(n)) => {
            n.as_i64().is_some() || n.as_f64().is_some_and(f64::is_finite)
        }
        ("timestamp", V::String(s)) => seer_core::time::parse_timestamp(&s).is_ok(),
        ("value", V::Number(_)) => true,
        ("value", V::String(s)) => s.trim().parse::<f64>().is_ok_and(f64::is_finite),
        ("features", V::Object(m)) => m.values().all(V::is_number),
        ("unknown_field", _) => true,
        _ => false,
    }
}

fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// Values wrong for most fields: wrong types, depth past serde_json's recursion limit,
/// numbers no f64 or i64 holds.
fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("null".to_string()),
        Just("true".to_string()),
        Just("[]".to_string()),
        Just("{}".to_string()),
        Just("1e400".to_string()),
        Just("-1e400".to_string()),
        Just("NaN".to_string()),
        Just("Infinity".to_string()),
        Just("01".to_string()),
        Just("[1, 2".to_string()),
        (1usize..600).prop_map(|d| format!("{}{}", "[".repeat(d), "]".repeat(d))),
        (1usize..600).prop_map(|d| format!("{}1{}", "{\"a\":".repeat(d), "}".repeat(d))),
        "[0-9]{20,60}",
    ]
}

fn series_id() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "[a-z0-9_./-]{1,12}".prop_map(|s| quoted(&s)),
        // Unicode, escapes and control characters survive serde_json's string escaping.
        6 => "\\PC{0,12}".prop_map(|s| quoted(&s)),
        1 => Just(r#""\ud800""#.to_string()),
        1 => Just(r#""\u00e9\u2028\uffff""#.to_string()),
        1 => Just(r#""   ""#.to_string()),
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => hostile(),
    ]
}

fn timestamp_field() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => any::<i64>().prop_map(|n| n.to_string()),
        1 => Just(i64::MAX.to_string()),
        1 => Just(i64::MIN.to_string()),
        1 => Just("9223372036854775808".to_string()),
        1 => Just("-9223372036854775809".to_string()),
        1 => Just("1e300".to_string()),
        1 => Just("-1.5".to_string()),
        6 => prop_oneof![
            Just("2024-01-01T00:00:00Z"),
            Just("2024-02-29 12:00"),
            Just("9999-12-31T23:59:59+23:59"),
            Just("0000-01-01T00:00:00-23:59"),
            Just("2023-02-29"),
            Just("2024-01-01T24:00:00Z"),
            Just("yesterday"),
            Just("99999999999999999999"),
        ]
        .prop_map(quoted),
        1 => "\\PC{0,24}".prop_map(|s| quoted(&s)),
        1 => hostile(),
    ]
}

fn value_field() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => any::<f64>()
            .prop_filter("finite", |v| v.is_finite())
            .prop_map(|v| serde_json::to_string(&v).unwrap()),
        4 => any::<i64>().prop_map(|n| n.to_string()),
        1 => Just("1.7976931348623157e308".to_string()),
        1 => Just("5e-324".to_string()),
        1 => Just("-0".to_string()),
        4 => prop_oneof![
            Just(" 2.5 "),
            Just("NaN"),
            Just("nan"),
            Just("-inf"),
            Just("Infinity"),
            Just("1e400"),
            Just("1,5"),
            Just(""),
        ]
        .prop_map(quoted),
        1 => "\\PC{0,12}".prop_map(|s| quoted(&s)),
        1 => hostile(),
    ]
}

fn features_field() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => proptest::collection::hash_map("\\PC{0,6}", -1e9f64..1e9, 0..4)
            .prop_map(|m| serde_json::to_string(&m).unwrap()),
        1 => Just(r#"{"t": "1.0"}"#.to_string()),
        1 => Just(r#"{"t": null}"#.to_string()),
        1 => Just(r#"{"t": 1e400}"#.to_string()),
        1 => Just("[1.0]".to_string()),
        1 => hostile(),
    ]
}
/// One byte-level change, so near-valid JSON also reaches the decoder.
#[derive(Debug, Clone)]
enum Mutation {
    None,
    Truncate(usize),
    Flip(usize, u8),
    Insert(usize, u8),
    Remove(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        6 => Just(Mutation::None),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        1 => (any::<usize>(), 1u8..=255).prop_map(|(i, b)| Mutation::Flip(i, b)),
        1 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => any::<usize>().prop_map(Mutation::Remove),
    ]
}

fn apply(mut bytes: Vec<u8>, m: &Mutation) -> Vec<u8> {
    let n = bytes.len().max(1);
    match *m {
        Mutation::None => {}
        Mutation::Truncate(i) => bytes.truncate(i % n),
        Mutation::Flip(i, b) => {
            if let Some(x) = bytes.get_mut(i % n) {
                *x ^= b;
            }
        }
        Mutation::Insert(i, b) => bytes.insert(i % (bytes.len() + 1), b),
        Mutation::Remove(i) => {
            if !bytes.is_empty() {
                bytes.remove(i % n);
            }
        }
    }
    bytes
}

/// A JSON object built from fields that may be absent, duplicated or unknown, in any order.
#[derive(Debug, Clone)]
struct JsonCase {
    fields: Vec<(&'static str, String)>,
    leading: String,
    mutation: Mutation,
}

impl JsonCase {
    fn bytes(&self) -> Vec<u8> {
        let body: Vec<String> = self
            .fields
            .iter()
            .map(|(k, v)| format!("{}: {v}", quoted(k)))
            .collect();
        let text = format!("{}{{{}}}", self.leading, body.join(", "));
        apply(text.into_bytes(), &self.mutation)
    }

    /// Whether the decoder must accept it: untouched bytes, each required field once and good.
    fn must_accept(&self) -> bool {
        if !matches!(self.mutation, Mutation::None) {
            return false;
        }
        let unknown_ok = self
            .fields
            .iter()
            .filter(|(k, _)| *k == "unknown_field")
            .all(|(k, v)| acceptable(k, v));
        // A known field twice is serde's "duplicate field" error.
        let once_and_good = |name: &str, optional: bool| {
            let mut it = self.fields.iter().filter(|(k, _)| *k == name);
            match (it.next(), it.next()) {
                (None, _) => optional,
                (Some((k, v)), None) => acceptable(k, v),
                _ => false,
            }
        };
        unknown_ok
            && once_and_good("series_id", false)
            && once_and_good("timestamp", false)
            && once_and_good("value", false)
            && once_and_good("features", true)
    }
}

fn json_case() -> impl Strategy<Value = JsonCase> {
    let field = prop_oneof![
        series_id().prop_map(|f| ("series_id", f)),
        timestamp_field().prop_map(|f| ("timestamp", f)),
        value_field().prop_map(|f| ("value", f)),
        features_field().prop_map(|f| ("features", f)),
        hostile().prop_map(|v| ("unknown_field", v)),
    ];
    (
        series_id(),
        timestamp_field(),
        value_field(),
        proptest::option::of(features_field()),
        prop_oneof![
            2 => Just(Vec::new()),
            1 => proptest::collection::vec(field, 1..3),
        ],
        prop_oneof![
            4 => Just(vec![0usize, 1, 2]),
            1 => proptest::sample::subsequence(vec![0usize, 1, 2], 0..=3),
        ],
        "[ \t\r\n]{0,3}",
        mutation(),
    )
        .prop_map(
            |(id, ts, value, features, extra, keep, leading, mutation)| {
                let mut fields = Vec::new();
                // Dropping required fields by index keeps "missing field" cases common.
                let required = [("series_id", id), ("timestamp", ts), ("value", value)];
                for (i, f) in required.into_iter().enumerate() {
                    if keep.contains(&i) {
                        fields.push(f);
                    }
                }
                if let Some(f) = features {
                    fields.push(("features", f));
                }
                fields.extend(extra);
                JsonCase {
                    fields,
                    leading,
                    mutation,
                }
            },
        )
}

fn observation() -> impl Strategy<Value = Observation> {
    (
        // `{` and whitespace first: the decoder tells JSON from protobuf by the first bytes.
        prop_oneof![
            "[{ \t\n]{0,2}\\PC{0,40}",
            "\\{[a-z]{8,40}",
            "[a-zA-Z0-9_:-]{1,16}",
        ]
        .prop_filter("non-blank", |s| !s.trim().is_empty()),
        any::<i64>(),
        0i32..1_000_000_000,
        any::<f64>().prop_filter("finite", |v| v.is_finite()),
        proptest::collection::hash_map(
            "\\PC{0,8}",
            any::<f64>().prop_filter("finite", |v| v.is_finite()),
            0..4,
        ),
    )
        .prop_map(|(series_id, seconds, nanos, value, features)| Observation {
            series_id,
            timestamp: Some(prost_types::Timestamp { seconds, nanos }),
            value,
            features,
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = check(&bytes);
    }

    #[test]
    fn arbitrary_bytes_after_a_brace_never_panic(
        lead in "[ \t\r\n]{0,2}",
        bytes in proptest::collection::vec(any::<u8>(), 0..128),
    ) {
        let mut payload = lead.into_bytes();
        payload.push(b'{');
        payload.extend(bytes);
        let _ = check(&payload);
    }

    #[test]
    fn mutated_json_is_decoded_or_explained(case in json_case()) {
        let bytes = case.bytes();
        let result = check(&bytes);
        if case.must_accept() {
            prop_assert!(
                result.is_ok(),
                "{:?} rejected: {:?}",
                String::from_utf8_lossy(&bytes),
                result
            );
        }
    }

    #[test]
    fn protobuf_round_trips(obs in observation()) {
        let bytes = prost::Message::encode_to_vec(&obs);
        prop_assert_eq!(check(&bytes), Ok(obs));
    }

    #[test]
    fn json_round_trips(obs in observation(), leading in "[ \t\r\n]{0,2}") {
        // JSON carries whole seconds only.
        let obs = Observation {
            timestamp: Some(timestamp(obs.timestamp.unwrap().seconds)),
            ..obs
        };
        let json = serde_json::json!({
            "series_id": obs.series_id,
            "timestamp": obs.timestamp.unwrap().seconds,
            "value": obs.value,
            "features": obs.features,
        });
        let payload = format!("{leading}{json}");
        prop_assert_eq!(check(payload.as_bytes()), Ok(obs), "{}", payload);
    }
}

#[test]
fn a_json_observation_with_an_rfc3339_timestamp_round_trips() {
    let obs = Observation {
        series_id: "é/1".into(),
        timestamp: Some(timestamp(1_704_067_200)),
        value: -0.5,
        features: HashMap::from([("t".to_string(), 1.0)]),
    };
    let payload = r#"{"series_id": "é/1", "timestamp": "2024-01-01T00:00:00Z", "value": -0.5,
                     "features": {"t": 1.0}}"#;
    assert_eq!(check(payload.as_bytes()), Ok(obs));
}

#[test]
fn json_floats_decode_to_the_exact_value_they_print() {
    // Found by json_round_trips: serde_json's default parser was 5 ulps off for this one.
    let v = 1.9486258118480942e-196_f64;
    let payload = format!(r#"{{"series_id": "a", "timestamp": 0, "value": {v:?}}}"#);
    assert_eq!(
        check(payload.as_bytes()).unwrap().value.to_bits(),
        v.to_bits()
    );
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus/observation")
}

#[test]
fn corpus_replays_with_the_outcome_its_name_gives() {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("tests/corpus/observation")
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    assert!(entries.len() >= 5, "corpus went missing: {entries:?}");
    for path in entries {
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let bytes = std::fs::read(&path).unwrap();
        let result = check(&bytes);
        if name.starts_with("ok-") {
            assert!(result.is_ok(), "{name}: {result:?}");
        } else if let Some(rest) = name.strip_prefix("err-") {
            let reason = rest.split('-').next().unwrap();
            match result {
                Err(e) => assert_eq!(e.reason().as_str(), reason, "{name}: {e}"),
                Ok(obs) => panic!("{name}: accepted {obs:?}"),
            }
        } else {
            panic!("{name}: corpus names start with ok- or err-REASON-");
        }
    }
}
