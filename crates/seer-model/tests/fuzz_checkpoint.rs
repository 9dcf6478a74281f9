//! Bounded fuzzing of the checkpoint loader (`checkpoint::load`: config.json, then
//! model.safetensors checked against it), starting from real checkpoints written by
//! `checkpoint::save`, plus a replay of the committed corpus in `tests/corpus/checkpoint`.
//!
//! Corpus layout: `config/{ok,err}-NAME.json` are loaded with weights initialised for the base
//! LSTM config below (so an ok config must imply the same tensors), `weights/{ok,err}-NAME` are
//! loaded with that base config.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use proptest::test_runner::Config;
use seer_core::features::TimeFeature;
use seer_model::checkpoint::{CONFIG_FILE, WEIGHTS_FILE, Weights, init_weights, load, save};
use seer_model::{ModelConfig, ModelError, ModelKind};
use serde_json::{Value, json};

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

/// A directory of its own under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "seer-fuzz-checkpoint-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A tiny valid config of each kind, as `seer model init` would write one.
fn base(kind: ModelKind) -> ModelConfig {
    let mut c = ModelConfig {
        model: kind,
        freq: 3600.into(),
        context_length: 8,
        horizon: 4,
        time_features: vec![TimeFeature::HourOfDay],
        input_size: None,
        hidden_size: 2,
        num_layers: 1,
        quantiles: vec![],
        channels: vec![],
        kernel_size: 0,
        dilations: vec![],
        lags: vec![],
        cardinality: 0,
        embedding_dim: 0,
        distribution: None,
        num_samples: 0,
        series_ids: None,
        classes: vec![],
        seasonal_naive_series: Vec::new(),
        covariates: Vec::new(),
    };
    match kind {
        ModelKind::Lstm | ModelKind::Rnn | ModelKind::Seq2seq => c.quantiles = vec![0.1, 0.5, 0.9],
        ModelKind::Tcn => {
            c.quantiles = vec![0.5];
            c.hidden_size = 0;
            c.num_layers = 0;
            c.channels = vec![2, 3];
            c.kernel_size = 2;
            c.dilations = vec![1, 2];
        }
        ModelKind::Deepar => {
            c.lags = vec![1, 24];
            c.cardinality = 2;
            c.embedding_dim = 1;
            c.distribution = Some("student_t".into());
            c.num_samples = 10;
            c.series_ids = Some(vec!["a".into(), "b".into()]);
        }
        ModelKind::Bilstm => {}
        ModelKind::Classifier => c.classes = vec!["up".into(), "down".into()],
    }
    c
}

/// config.json text and safetensors bytes of a real checkpoint, as `save` writes them.
fn saved(kind: ModelKind) -> (String, Vec<u8>) {
    static SAVED: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    let all = SAVED.get_or_init(|| {
        ModelKind::ALL
            .iter()
            .map(|&kind| {
                let c = base(kind);
                let dir = TempDir::new("base");
                save(&dir.0, &c, &init_weights(&c, 7).unwrap()).unwrap();
                let config = std::fs::read_to_string(dir.0.join(CONFIG_FILE)).unwrap();
                let weights = std::fs::read(dir.0.join(WEIGHTS_FILE)).unwrap();
                (config, weights)
            })
            .collect()
    });
    let i = ModelKind::ALL.iter().position(|&k| k == kind).unwrap();
    all[i].clone()
}

fn load_files(dir: &TempDir, config: &[u8], weights: &[u8]) -> Result<(), ModelError> {
    std::fs::write(dir.0.join(CONFIG_FILE), config).unwrap();
    std::fs::write(dir.0.join(WEIGHTS_FILE), weights).unwrap();
    let result = load(&dir.0);
    match &result {
        Ok((c, w)) => {
            // What load promises: a valid config and exactly the tensors it implies.
            c.validate().unwrap();
            w.check(&seer_model::checkpoint::expected_tensors(c).unwrap())
                .unwrap();
        }
        Err(e) => assert_clear(e),
    }
    result.map(|_| ())
}

/// A rejection names what was wrong: the file or tensor, and a non-empty reason.
fn assert_clear(e: &ModelError) {
    let msg = e.to_string();
    assert!(!msg.trim().is_empty(), "{e:?}");
    assert!(!msg.trim_end().ends_with(':'), "reason missing: {msg}");
    match e {
        ModelError::Config { path, message } | ModelError::Io { path, message } => {
            assert!(!path.is_empty() && !message.trim().is_empty(), "{e:?}")
        }
        ModelError::Tensor { name, message } => {
            assert!(!name.is_empty() && !message.trim().is_empty(), "{e:?}")
        }
        ModelError::Invalid(m) => assert!(!m.trim().is_empty(), "{e:?}"),
        other => panic!("a checkpoint load failed with a non-checkpoint error: {other:?}"),
    }
}

fn kind() -> impl Strategy<Value = ModelKind> {
    proptest::sample::select(ModelKind::ALL.to_vec())
}

/// Values to put in any config field: edges of usize and f64, wrong types, deep nesting.
fn hostile_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(json!(0)),
        Just(json!(1)),
        Just(json!(-1)),
        Just(json!(3)),
        Just(json!(1_000_000)),
        Just(json!(u32::MAX)),
        Just(json!(u64::MAX)),
        Just(json!(u64::MAX / 2)),
        Just(json!(i64::MIN)),
        Just(json!(1e308)),
        Just(json!(0.5)),
        Just(json!(1.0)),
        Just(json!(-0.0)),
        Just(json!(null)),
        Just(json!(true)),
        Just(json!("")),
        Just(json!("lstm")),
        Just(json!("tcn")),
        Just(json!("deepar")),
        Just(json!("negative_binomial")),
        Just(json!("hour_of_day")),
        Just(json!("NaN")),
        "\\PC{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z_]{1,6}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const FIELDS: [&str; 20] = [
    "model",
    "freq",
    "context_length",
    "horizon",
    "time_features",
    "input_size",
    "hidden_size",
    "num_layers",
    "quantiles",
    "channels",
    "kernel_size",
    "dilations",
    "lags",
    "cardinality",
    "embedding_dim",
    "distribution",
    "num_samples",
    "series_ids",
    "classes",
    "unknown",
];

#[derive(Debug, Clone)]
enum ConfigEdit {
    Set(&'static str, Value),
    Remove(&'static str),
    /// One element of a list field (quantiles, channels, lags, …) replaced.
    SetElement(&'static str, usize, Value),
}

fn config_edit() -> impl Strategy<Value = ConfigEdit> {
    let field = proptest::sample::select(FIELDS.to_vec());
    prop_oneof![
        3 => (field.clone(), hostile_value()).prop_map(|(f, v)| ConfigEdit::Set(f, v)),
        1 => field.clone().prop_map(ConfigEdit::Remove),
        2 => (field, any::<usize>(), hostile_value())
            .prop_map(|(f, i, v)| ConfigEdit::SetElement(f, i, v)),
    ]
}

fn edit(config: &str, edits: &[ConfigEdit]) -> String {
    let Value::Object(mut map) = serde_json::from_str::<Value>(config).unwrap() else {
        unreachable!("save writes an object")
    };
    for e in edits {
        match e {
            ConfigEdit::Set(k, v) => {
                map.insert(k.to_string(), v.clone());
            }
            ConfigEdit::Remove(k) => {
                map.remove(*k);
            }
            ConfigEdit::SetElement(k, i, v) => {
                if let Some(Value::Array(items)) = map.get_mut(*k)
                    && !items.is_empty()
                {
                    let n = items.len();
                    items[i % n] = v.clone();
                }
            }
        }
    }
    serde_json::to_string_pretty(&Value::Object(map)).unwrap()
}

/// One byte-level change.
#[derive(Debug, Clone)]
enum Mutation {
    Truncate(usize),
    Flip(usize, u8),
    Insert(usize, u8),
    /// The 8-byte little-endian header length at the start of a safetensors file.
    HeaderLength(u64),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 1u8..=255).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        prop_oneof![
            Just(0u64),
            Just(u64::MAX),
            Just(100_000_001),
            any::<u64>(),
            0u64..512,
        ]
        .prop_map(Mutation::HeaderLength),
    ]
}

fn mutate(mut bytes: Vec<u8>, m: &Mutation) -> Vec<u8> {
    let n = bytes.len().max(1);
    match *m {
        Mutation::Truncate(i) => bytes.truncate(i % n),
        Mutation::Flip(i, b) => {
            if let Some(x) = bytes.get_mut(i % n) {
                *x ^= b;
            }
        }
        Mutation::Insert(i, b) => bytes.insert(i % (bytes.len() + 1), b),
        Mutation::HeaderLength(len) => {
            if bytes.len() >= 8 {
                bytes[..8].copy_from_slice(&len.to_le_bytes());
            }
        }
    }
    bytes
}

/// A change to the JSON header of a safetensors file, the data left as it is.
#[derive(Debug, Clone)]
enum HeaderEdit {
    Dtype(usize, &'static str),
    /// A dtype and the flat shape that keeps the tensor's byte length, so the file stays
    /// well-formed and the loader's own dtype decoding and shape checks are reached.
    Retype(usize, &'static str),
    Shape(usize, Vec<u64>),
    Offsets(usize, u64, u64),
    Rename(usize, String),
    Metadata(Value),
}

const DTYPES: [&str; 12] = [
    "F32", "F64", "F16", "BF16", "I64", "I32", "I8", "U8", "BOOL", "F8_E4M3", "C64", "X",
];

fn header_edit() -> impl Strategy<Value = HeaderEdit> {
    let dtype = proptest::sample::select(DTYPES.to_vec());
    let dim = prop_oneof![
        0u64..5,
        Just(u64::MAX),
        Just(1 << 32),
        Just(u64::MAX / 4 + 1)
    ];
    prop_oneof![
        (any::<usize>(), dtype.clone()).prop_map(|(i, d)| HeaderEdit::Dtype(i, d)),
        (any::<usize>(), dtype).prop_map(|(i, d)| HeaderEdit::Retype(i, d)),
        (any::<usize>(), proptest::collection::vec(dim, 0..4))
            .prop_map(|(i, s)| HeaderEdit::Shape(i, s)),
        (
            any::<usize>(),
            prop_oneof![0u64..200, Just(u64::MAX)],
            prop_oneof![0u64..200, Just(u64::MAX)]
        )
            .prop_map(|(i, a, b)| HeaderEdit::Offsets(i, a, b)),
        (
            any::<usize>(),
            prop_oneof![Just("__metadata__".to_string()), "\\PC{0,8}"]
        )
            .prop_map(|(i, n)| HeaderEdit::Rename(i, n)),
        hostile_value().prop_map(HeaderEdit::Metadata),
    ]
}

fn dtype_bytes(d: &str) -> Option<usize> {
    match d {
        "F64" | "I64" | "C64" => Some(8),
        "F32" | "I32" => Some(4),
        "F16" | "BF16" => Some(2),
        "I8" | "U8" | "BOOL" | "F8_E4M3" => Some(1),
        _ => None,
    }
}

fn edit_header(bytes: &[u8], e: &HeaderEdit) -> Vec<u8> {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let Value::Object(mut header) = serde_json::from_slice::<Value>(&bytes[8..8 + n]).unwrap()
    else {
        unreachable!("save writes an object")
    };
    let data = &bytes[8 + n..];
    let names: Vec<String> = header
        .keys()
        .filter(|k| *k != "__metadata__")
        .cloned()
        .collect();
    let pick = |i: usize| names[i % names.len()].clone();
    match e {
        HeaderEdit::Dtype(i, d) => header[&pick(*i)]["dtype"] = json!(d),
        HeaderEdit::Retype(i, d) => {
            let t = &mut header[&pick(*i)];
            let offsets = &t["data_offsets"];
            let len = offsets[1].as_u64().unwrap() - offsets[0].as_u64().unwrap();
            if let Some(size) = dtype_bytes(d).filter(|s| len % *s as u64 == 0) {
                t["dtype"] = json!(d);
                t["shape"] = json!([len / size as u64]);
            }
        }
        HeaderEdit::Shape(i, s) => header[&pick(*i)]["shape"] = json!(s),
        HeaderEdit::Offsets(i, a, b) => header[&pick(*i)]["data_offsets"] = json!([a, b]),
        HeaderEdit::Rename(i, new) => {
            let t = header.remove(&pick(*i)).unwrap();
            header.insert(new.clone(), t);
        }
        HeaderEdit::Metadata(v) => {
            header.insert("__metadata__".into(), v.clone());
        }
    }
    let text = serde_json::to_vec(&Value::Object(header)).unwrap();
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&text);
    out.extend_from_slice(data);
    out
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn edited_configs_load_or_explain(
        kind in kind(),
        edits in proptest::collection::vec(config_edit(), 1..4),
    ) {
        let (config, weights) = saved(kind);
        let dir = TempDir::new("config");
        let _ = load_files(&dir, edit(&config, &edits).as_bytes(), &weights);
    }

    #[test]
    fn mutated_config_text_loads_or_explains(kind in kind(), m in mutation()) {
        let (config, weights) = saved(kind);
        let dir = TempDir::new("config-text");
        let _ = load_files(&dir, &mutate(config.into_bytes(), &m), &weights);
    }

    #[test]
    fn arbitrary_config_text_is_rejected_or_loaded(text in "\\PC{0,200}") {
        let (_, weights) = saved(ModelKind::Lstm);
        let dir = TempDir::new("config-any");
        let _ = load_files(&dir, text.as_bytes(), &weights);
    }

    #[test]
    fn mutated_weights_are_rejected(
        kind in kind(),
        mutations in proptest::collection::vec(mutation(), 1..3),
    ) {
        let (config, weights) = saved(kind);
        let bytes = mutations.iter().fold(weights.clone(), mutate);
        let dir = TempDir::new("weights");
        let result = load_files(&dir, config.as_bytes(), &bytes);
        // A flipped bit in a float can leave a valid file; any other change must be caught.
        if result.is_ok() {
            prop_assert_eq!(bytes.len(), weights.len());
        }
    }

    #[test]
    fn edited_weight_headers_load_or_explain(kind in kind(), e in header_edit()) {
        let (config, weights) = saved(kind);
        let dir = TempDir::new("header");
        let _ = load_files(&dir, config.as_bytes(), &edit_header(&weights, &e));
    }

    #[test]
    fn arbitrary_bytes_are_not_weights(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        prop_assert!(Weights::from_safetensors(&bytes).is_err() || bytes.len() >= 8);
    }
}

#[test]
fn every_base_checkpoint_loads() {
    for kind in ModelKind::ALL {
        let (config, weights) = saved(kind);
        let dir = TempDir::new("ok");
        load_files(&dir, config.as_bytes(), &weights).unwrap_or_else(|e| panic!("{kind:?}: {e}"));
    }
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus/checkpoint")
}

fn corpus(sub: &str) -> Vec<(String, Vec<u8>)> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(corpus_dir().join(sub))
        .unwrap_or_else(|e| panic!("tests/corpus/checkpoint/{sub}: {e}"))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    entries
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_str().unwrap().to_string();
            (name, std::fs::read(&p).unwrap())
        })
        .collect()
}

fn expect_outcome(name: &str, result: Result<(), ModelError>) {
    if name.starts_with("ok-") {
        assert!(result.is_ok(), "{name}: {result:?}");
    } else if name.starts_with("err-") {
        assert!(result.is_err(), "{name}: loaded");
    } else {
        panic!("{name}: corpus names start with ok- or err-");
    }
}

#[test]
fn corpus_replays_with_the_outcome_its_name_gives() {
    let (config, weights) = saved(ModelKind::Lstm);
    let dir = TempDir::new("corpus");
    let configs = corpus("config");
    let weight_files = corpus("weights");
    assert!(
        configs.len() + weight_files.len() >= 5,
        "corpus went missing"
    );
    for (name, bytes) in configs {
        expect_outcome(&name, load_files(&dir, &bytes, &weights));
    }
    for (name, bytes) in weight_files {
        expect_outcome(&name, load_files(&dir, config.as_bytes(), &bytes));
    }
}
