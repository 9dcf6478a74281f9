//! Bounded fuzzing of seer-core's text decoders: `read_long_csv` (the only CSV entry point) and
//! the timestamp, frequency and quantile-level parsers it and the command line use, plus a
//! replay of the committed corpus in `tests/corpus/csv` (file names say the outcome: `ok-NAME`,
//! or `err-lineN-NAME` for an error that must name line N, or `err-NAME` for one that names no
//! line, such as a missing column).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::test_runner::Config;
use seer_core::CoreError;
use seer_core::csv::{Dataset, read_long_csv};
use seer_core::quantiles::parse_levels;
use seer_core::time::{Frequency, format_timestamp, parse_timestamp};

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

/// The 1-based line a message names (`line N: …`), if any.
fn named_line(err: &CoreError) -> Option<u64> {
    let msg = err.to_string();
    let rest = msg.strip_prefix("line ")?;
    rest[..rest.find(':')?].parse().ok()
}

/// Reads `bytes` and checks what every outcome promises: a dataset that keeps the documented
/// invariants, or an error with a message that names a line the input has.
fn read(bytes: &[u8]) -> Result<Dataset, CoreError> {
    let result = read_long_csv(bytes);
    match &result {
        Ok(d) => {
            assert!(!d.series.is_empty());
            let mut ids = HashSet::new();
            for s in &d.series {
                assert!(!s.id.is_empty());
                assert!(ids.insert(s.id.as_str()), "series {:?} twice", s.id);
                assert!(s.timestamps.windows(2).all(|w| w[0] < w[1]), "{s:?}");
                assert_eq!(s.values.len(), s.timestamps.len());
                assert_eq!(s.features.len(), d.feature_names.len());
                assert!(s.features.iter().all(|f| f.len() == s.timestamps.len()));
                // Non-finite spellings are stored as missing points.
                let finite_or_nan = |v: &f64| v.is_finite() || v.is_nan();
                assert!(s.values.iter().all(finite_or_nan));
            }
        }
        Err(err) => {
            let msg = err.to_string();
            assert!(!msg.trim().is_empty(), "{err:?}");
            if let Some(line) = named_line(err) {
                let lines = bytes.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
                assert!(
                    (1..=lines).contains(&line),
                    "{msg}: the input has {lines} lines"
                );
            }
        }
    }
    result
}

/// A well-formed file: header names in any order, case and alias; rows without quotes, so each
/// row is one line.
#[derive(Debug, Clone)]
struct CsvFile {
    header: Vec<String>,
    /// Column index of id, timestamp, value, optional label, then the features.
    roles: Roles,
    rows: Vec<Vec<String>>,
    newline: &'static str,
    bom: bool,
}

#[derive(Debug, Clone)]
struct Roles {
    id: usize,
    timestamp: usize,
    value: usize,
    features: Vec<usize>,
}

impl CsvFile {
    fn text(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.bom {
            out.extend_from_slice("\u{feff}".as_bytes());
        }
        let lines = std::iter::once(&self.header).chain(&self.rows);
        for fields in lines {
            out.extend_from_slice(fields.join(",").as_bytes());
            out.extend_from_slice(self.newline.as_bytes());
        }
        out
    }
}

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => any::<f64>()
            .prop_filter("finite", |v| v.is_finite())
            .prop_map(|v| v.to_string()),
        2 => (-1000i64..1000).prop_map(|v| v.to_string()),
        1 => prop_oneof![
            Just(""),
            Just("nan"),
            Just("NaN"),
            Just("inf"),
            Just("-Infinity"),
            Just("1e308"),
            Just("1e400"),
            Just(" 2.5 "),
            Just("+.5"),
        ]
        .prop_map(str::to_string),
    ]
}

fn timestamp() -> impl Strategy<Value = (i64, String)> {
    // Years 0000..=9999, the range the RFC 3339 spellings cover.
    let t = -62_167_219_200i64..253_402_300_800;
    prop_oneof![
        any::<i64>().prop_map(|t| (t, t.to_string())),
        t.clone().prop_map(|t| (t, format_timestamp(t))),
        t.prop_map(|t| (t, format_timestamp(t).replace('T', " ").replace('Z', ""))),
    ]
}

fn csv_file() -> impl Strategy<Value = CsvFile> {
    let names = (
        prop_oneof![Just("series_id"), Just("unique_id"), Just("Series_ID")],
        prop_oneof![Just("timestamp"), Just("ds"), Just("TimeStamp")],
        prop_oneof![Just("value"), Just("y"), Just("VALUE")],
        any::<bool>(),
        0usize..3,
    );
    (names, 1usize..8)
        .prop_flat_map(|((id, ts, value, label, n_features), n_rows)| {
            let mut header: Vec<String> = vec![id.into(), ts.into(), value.into()];
            if label {
                header.push("label".into());
            }
            header.extend((0..n_features).map(|i| format!("f{i}")));
            let width = header.len();
            let row = (
                "[a-c]{1,2}",
                timestamp(),
                number(),
                "[a-z]{0,3}",
                proptest::collection::vec(number(), n_features),
            )
                .prop_map(move |(id, (_, ts), value, class, features)| {
                    let mut r = vec![id, ts, value];
                    if label {
                        r.push(class);
                    }
                    r.extend(features);
                    r
                });
            (
                Just(header),
                proptest::collection::vec(row, n_rows),
                // A column order: a permutation of the header's indices.
                Just((0..width).collect::<Vec<usize>>()).prop_shuffle(),
                prop_oneof![Just("\n"), Just("\r\n")],
                any::<bool>(),
            )
        })
        .prop_map(|(header, rows, order, newline, bom)| {
            let permute = |fields: &[String]| order.iter().map(|&i| fields[i].clone()).collect();
            let at = |i: usize| order.iter().position(|&k| k == i).unwrap();
            let n_fixed = header.len() - header.iter().filter(|h| h.starts_with('f')).count();
            CsvFile {
                roles: Roles {
                    id: at(0),
                    timestamp: at(1),
                    value: at(2),
                    features: (n_fixed..header.len()).map(at).collect(),
                },
                header: permute(&header),
                rows: rows.iter().map(|r| permute(r)).collect(),
                newline,
                bom,
            }
        })
}

/// One way to break one data row so that the reader must reject it at that row's line.
#[derive(Debug, Clone)]
enum Corruption {
    ExtraField,
    MissingField,
    EmptyId(&'static str),
    BadTimestamp(&'static str),
    BadValue(String),
    BadFeature(String),
    InvalidUtf8,
    /// An opening quote that never closes swallows the rest of the file into one field.
    UnclosedQuote,
}

fn corruption() -> impl Strategy<Value = Corruption> {
    let bad_number = prop_oneof![
        Just("1.2.3".to_string()),
        Just("0x10".to_string()),
        Just("1e".to_string()),
        Just("--1".to_string()),
        Just("1_000".to_string()),
        Just("١٢".to_string()),
        "x[a-z0-9]{0,4}",
    ];
    prop_oneof![
        Just(Corruption::ExtraField),
        Just(Corruption::MissingField),
        prop_oneof![Just(""), Just("   "), Just("\t")].prop_map(Corruption::EmptyId),
        prop_oneof![
            Just(""),
            Just("2023-02-29"),
            Just("2024-13-01"),
            Just("2024-01-01T24:00:00Z"),
            Just("99999999999999999999"),
            Just("1.5"),
            Just("tomorrow"),
        ]
        .prop_map(Corruption::BadTimestamp),
        bad_number.clone().prop_map(Corruption::BadValue),
        bad_number.prop_map(Corruption::BadFeature),
        Just(Corruption::InvalidUtf8),
        Just(Corruption::UnclosedQuote),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = read(&bytes);
    }

    #[test]
    fn csv_like_text_after_a_valid_header_never_panics(
        header in prop_oneof![
            Just("series_id,timestamp,value"),
            Just("unique_id,ds,y,label,temp"),
            Just("\u{feff}ds,y,unique_id"),
        ],
        body in "[a-c0-9,\"\r\n .:TZ+-]{0,300}",
    ) {
        let _ = read(format!("{header}\n{body}").as_bytes());
    }

    #[test]
    fn well_formed_files_are_read(file in csv_file()) {
        let result = read(&file.text());
        let d = result.map_err(|e| TestCaseError::fail(format!("{e}")))?;
        let ids: HashSet<&str> = file.rows.iter().map(|r| r[file.roles.id].as_str()).collect();
        prop_assert_eq!(d.series.len(), ids.len());
        let points: HashSet<(&str, i64)> = file
            .rows
            .iter()
            .map(|r| (r[file.roles.id].as_str(), parse_timestamp(&r[file.roles.timestamp]).unwrap()))
            .collect();
        let read_points: usize = d.series.iter().map(|s| s.timestamps.len()).sum();
        prop_assert_eq!(read_points, points.len());
    }

    #[test]
    fn a_corrupted_row_is_rejected_naming_its_line(
        file in csv_file(),
        row in any::<prop::sample::Index>(),
        how in corruption(),
        quoted_before in any::<bool>(),
        blank_lines in 0usize..3,
    ) {
        let mut file = file;
        let k = row.index(file.rows.len());
        let r = &mut file.rows[k];
        let feature = file.roles.features.first().copied();
        let mut raw: Option<(usize, Vec<u8>)> = None;
        match &how {
            Corruption::ExtraField => r.push("1".into()),
            Corruption::MissingField => {
                r.pop();
            }
            Corruption::EmptyId(s) => r[file.roles.id] = s.to_string(),
            Corruption::BadTimestamp(s) => r[file.roles.timestamp] = s.to_string(),
            Corruption::BadValue(s) => r[file.roles.value] = s.clone(),
            Corruption::BadFeature(s) => match feature {
                Some(f) => r[f] = s.clone(),
                None => r[file.roles.value] = s.clone(),
            },
            Corruption::InvalidUtf8 => raw = Some((file.roles.id, b"a\xff\xfe".to_vec())),
            // In the first column, so the record is one field long even at the end of the file,
            // where the csv crate closes the quote itself.
            Corruption::UnclosedQuote => r[0] = format!("\"{}", r[0]),
        }
        // A quoted field with a line break in an earlier row: lines are the file's, not rows.
        let extra_lines = if quoted_before && k > 0 {
            let id = file.roles.id;
            let earlier = &mut file.rows[k - 1];
            earlier[id] = format!("\"{}{}x\"", earlier[id], file.newline);
            1
        } else {
            0
        };
        // Blank lines are skipped as records but still count as lines.
        file.rows.splice(k..k, std::iter::repeat_n(Vec::new(), blank_lines));
        let k = k + blank_lines;
        let mut bytes = file.text();
        if let Some((field, replacement)) = raw {
            bytes = splice_field(&file, k, field, &replacement);
        }
        // The header is line 1 and row k (0-based) starts on line k + 2.
        let line = k as u64 + 2 + extra_lines;
        match read(&bytes) {
            Ok(d) => prop_assert!(false, "accepted: {d:?}"),
            Err(e) => prop_assert_eq!(
                named_line(&e),
                Some(line),
                "{:?} in row {} of {:?}: {}",
                how,
                k,
                String::from_utf8_lossy(&bytes),
                e
            ),
        }
    }

    #[test]
    fn timestamps_parse_without_panicking(s in "\\PC{0,40}|[0-9T:+ Z.-]{0,30}") {
        let _ = parse_timestamp(&s);
    }

    #[test]
    fn formatted_timestamps_parse_back(t in -62_167_219_200i64..253_402_300_800) {
        prop_assert_eq!(parse_timestamp(&format_timestamp(t)), Ok(t));
    }

    #[test]
    fn any_timestamp_formats(t in any::<i64>()) {
        prop_assert!(!format_timestamp(t).is_empty());
    }

    #[test]
    fn frequencies_and_levels_parse_without_panicking(s in "\\PC{0,24}|[0-9a-z., ]{0,24}") {
        if let Ok(f) = Frequency::parse(&s) {
            prop_assert!(f.is_valid());
            prop_assert_eq!(Frequency::parse(&f.to_string()).ok(), Some(f));
        }
        if let Ok(levels) = parse_levels(&s) {
            prop_assert!(levels.iter().all(|q| *q > 0.0 && *q < 1.0));
        }
    }
}

/// The file's bytes with field `field` of row `k` replaced by raw (possibly non-UTF-8) bytes.
fn splice_field(file: &CsvFile, k: usize, field: usize, replacement: &[u8]) -> Vec<u8> {
    let mut rows = file.rows.clone();
    rows[k][field] = "\u{0}".into();
    let text = CsvFile {
        rows,
        ..file.clone()
    }
    .text();
    let at = text.iter().position(|&b| b == 0).unwrap();
    let mut out = text[..at].to_vec();
    out.extend_from_slice(replacement);
    out.extend_from_slice(&text[at + 1..]);
    out
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus/csv")
}

#[test]
fn corpus_replays_with_the_outcome_its_name_gives() {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("tests/corpus/csv")
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    assert!(entries.len() >= 5, "corpus went missing: {entries:?}");
    for path in entries {
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let result = read(&std::fs::read(&path).unwrap());
        if name.starts_with("ok-") {
            assert!(result.is_ok(), "{name}: {result:?}");
        } else if let Some(rest) = name.strip_prefix("err-") {
            let err = match result {
                Err(e) => e,
                Ok(d) => panic!("{name}: accepted {d:?}"),
            };
            let line = rest
                .strip_prefix("line")
                .and_then(|r| r.split('-').next())
                .map(|n| n.parse::<u64>().unwrap());
            assert_eq!(named_line(&err), line, "{name}: {err}");
        } else {
            panic!("{name}: corpus names start with ok- or err-");
        }
    }
}
