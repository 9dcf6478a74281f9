//! Layered configuration: embedded defaults → `--config FILE` → `SEER_<SECTION>__<KEY>`
//! environment variables → command-line flags, each layer overriding the one before.
//!
//! The defaults name every key there is, so they double as the schema: a key they lack is an
//! error (a typo never silently does nothing), and a value must have the default's type. Strings
//! from the environment and from flags are read as that type. Every effective value remembers
//! where it came from, so errors and `seer config print` can say which file line, variable or
//! flag set it. Tables listed as free-form (`kafka.properties`) take any key.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use toml::{Table, Value};

/// Where an effective value came from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Default,
    File { path: PathBuf, line: usize },
    Env(String),
    Flag(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::File { path, line } => write!(f, "{}:{line}", path.display()),
            Source::Env(var) => write!(f, "env {var}"),
            Source::Flag(flag) => write!(f, "flag {flag}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{origin}: unknown configuration key {key}")]
    UnknownKey { key: String, origin: Source },
    #[error("{origin}: {key}: expected {expected}, got {got}")]
    BadValue {
        key: String,
        origin: Source,
        expected: &'static str,
        got: String,
    },
    #[error("{path}: {message}")]
    File { path: String, message: String },
    /// A value of the right type that the service cannot use (a zero batch size...).
    #[error("{key} = {value} ({origin}): {message}")]
    Invalid {
        key: String,
        value: String,
        origin: Source,
        message: String,
    },
    #[error("configuration: {0}")]
    Schema(String),
}

/// Keys whose values are never printed.
fn is_secret(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["password", "secret", "token", "sasl.jaas"]
        .iter()
        .any(|s| k.contains(s))
}

/// The configuration being assembled: the merged values and where each came from.
#[derive(Debug, Clone)]
pub struct Layers {
    defaults: Table,
    merged: Table,
    sources: BTreeMap<String, Source>,
    free_tables: Vec<String>,
}

impl Layers {
    /// Starts from the concatenated default documents. `free_tables` are dotted paths of tables
    /// whose keys are not fixed (e.g. `kafka.properties`).
    pub fn new(defaults: &str, free_tables: &[&str]) -> Result<Self, ConfigError> {
        let table: Table = toml::from_str(defaults)
            .map_err(|e| ConfigError::Schema(format!("embedded defaults: {e}")))?;
        let mut sources = BTreeMap::new();
        for (key, _) in leaves(&table, "") {
            sources.insert(key, Source::Default);
        }
        Ok(Layers {
            merged: table.clone(),
            defaults: table,
            sources,
            free_tables: free_tables.iter().map(|s| s.to_string()).collect(),
        })
    }

    /// Merges a TOML file over what is there.
    pub fn file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        self.file_text(path, &text)
    }

    /// Merges TOML text that came from `path` (named in errors and sources).
    pub fn file_text(&mut self, path: &Path, text: &str) -> Result<(), ConfigError> {
        let table: Table = toml::from_str(text).map_err(|e| ConfigError::File {
            path: match e.span() {
                Some(span) => format!("{}:{}", path.display(), line_of(text, span.start)),
                None => path.display().to_string(),
            },
            message: e.message().to_string(),
        })?;
        let lines = key_lines(text);
        for (key, value) in leaves(&table, "") {
            let origin = Source::File {
                path: path.to_path_buf(),
                line: lines.get(&key).copied().unwrap_or(1),
            };
            self.set_value(&key, value, origin)?;
        }
        Ok(())
    }

    /// Applies every `SEER_<SECTION>__<KEY>` variable (`__` separates path segments; names are
    /// case-insensitive). Variables without `__` (`SEER_ADAPTER`) are not configuration keys.
    pub fn env(
        &mut self,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(), ConfigError> {
        let mut vars: Vec<(String, String)> = vars
            .into_iter()
            .filter(|(k, _)| k.starts_with("SEER_") && k.contains("__"))
            .collect();
        // a stable order, so that which of two conflicting variables wins does not depend on
        // the environment's order
        vars.sort();
        for (var, raw) in vars {
            let key = var["SEER_".len()..]
                .split("__")
                .map(|s| s.to_ascii_lowercase())
                .collect::<Vec<_>>()
                .join(".");
            self.set(&key, &raw, Source::Env(var.clone()))?;
        }
        Ok(())
    }

    /// Sets `key` from a string (an env variable or a flag), read as the default's type: numbers
    /// and booleans parse, arrays are comma-separated (or a TOML array), free-form tables are
    /// `k=v,k=v`.
    pub fn set(&mut self, key: &str, raw: &str, origin: Source) -> Result<(), ConfigError> {
        let value = match self.expected(key) {
            Some(expected) => parse_as(&expected, raw).ok_or_else(|| ConfigError::BadValue {
                key: key.to_string(),
                origin: origin.clone(),
                expected: type_name(&expected),
                got: format!("{raw:?}"),
            })?,
            None if self.in_free_table(key) => Value::String(raw.to_string()),
            None => {
                return Err(ConfigError::UnknownKey {
                    key: key.to_string(),
                    origin,
                });
            }
        };
        match value {
            Value::Table(t) => {
                for (k, v) in t {
                    self.set_value(&format!("{key}.{k}"), v, origin.clone())?;
                }
                Ok(())
            }
            v => self.set_value(key, v, origin),
        }
    }

    /// Sets `key` to a typed value, checked against the default's type.
    pub fn set_value(
        &mut self,
        key: &str,
        value: Value,
        origin: Source,
    ) -> Result<(), ConfigError> {
        let value = match self.expected(key) {
            Some(Value::Table(_)) if !matches!(value, Value::Table(_)) => {
                return Err(ConfigError::BadValue {
                    key: key.to_string(),
                    origin,
                    expected: "a table",
                    got: value.to_string(),
                });
            }
            Some(expected) => coerce(&expected, value).map_err(|got| ConfigError::BadValue {
                key: key.to_string(),
                origin: origin.clone(),
                expected: type_name(&expected),
                got,
            })?,
            None if self.in_free_table(key) => match value {
                Value::Table(_) | Value::Array(_) | Value::Datetime(_) => {
                    return Err(ConfigError::BadValue {
                        key: key.to_string(),
                        origin,
                        expected: "a string, number or boolean",
                        got: value.to_string(),
                    });
                }
                Value::String(s) => Value::String(s),
                other => Value::String(other.to_string()),
            },
            None => {
                return Err(ConfigError::UnknownKey {
                    key: key.to_string(),
                    origin,
                });
            }
        };
        // a free-form table's keys are librdkafka-style dotted names, kept whole
        let path: Vec<String> = match self.free_table_of(key) {
            Some((table, rest)) => table
                .split('.')
                .chain(std::iter::once(rest))
                .map(str::to_string)
                .collect(),
            None => key.split('.').map(str::to_string).collect(),
        };
        insert(&mut self.merged, &path, value);
        self.sources.insert(key.to_string(), origin);
        Ok(())
    }

    /// The typed configuration. Each service's own checks come after this (see
    /// [`Layers::invalid`] for errors that name the key and its source).
    pub fn build<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        // through text, so that a value the type rejects (a negative count...) comes back with a
        // position, which names its key
        let text = toml::to_string(&self.merged).map_err(|e| ConfigError::Schema(e.to_string()))?;
        toml::from_str(&text).map_err(|e: toml::de::Error| {
            let key = e.span().and_then(|span| {
                let line = line_of(&text, span.start);
                key_lines(&text)
                    .into_iter()
                    .filter(|(_, l)| *l == line)
                    .map(|(k, _)| k)
                    .max_by_key(|k| k.len())
            });
            match key {
                Some(key) => self.invalid(&key, e.message().to_string()),
                None => ConfigError::Schema(e.message().to_string()),
            }
        })
    }

    /// Where `key`'s effective value came from.
    pub fn source_of(&self, key: &str) -> Source {
        self.sources.get(key).cloned().unwrap_or(Source::Default)
    }

    /// An error for a key whose value the service rejects, naming its value and source.
    pub fn invalid(&self, key: &str, message: impl Into<String>) -> ConfigError {
        let value = lookup(&self.merged, key)
            .map(|v| {
                if is_secret(key) {
                    "\"<redacted>\"".to_string()
                } else {
                    v.to_string()
                }
            })
            .unwrap_or_default();
        ConfigError::Invalid {
            key: key.to_string(),
            value,
            origin: self.source_of(key),
            message: message.into(),
        }
    }

    /// Every key the defaults define, with its default value (free-form tables as one entry).
    pub fn default_keys(&self) -> Vec<(String, Value)> {
        let mut out = leaves(&self.defaults, "");
        for t in &self.free_tables {
            if lookup(&self.defaults, t).is_some() && !out.iter().any(|(k, _)| k == t) {
                out.push((t.clone(), Value::Table(Table::new())));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// The effective configuration of `sections` as TOML, each value followed by its source;
    /// secrets print as `<redacted>` when set.
    pub fn render(&self, sections: &[&str]) -> String {
        let mut out = String::new();
        for section in sections {
            let Some(Value::Table(table)) = self.merged.get(*section) else {
                continue;
            };
            self.render_table(&mut out, section, table);
        }
        out
    }

    fn render_table(&self, out: &mut String, path: &str, table: &Table) {
        use std::fmt::Write;
        let _ = writeln!(out, "[{path}]");
        let mut subtables = Vec::new();
        for (k, v) in table {
            let key = format!("{path}.{k}");
            if let Value::Table(t) = v {
                subtables.push((key, t));
                continue;
            }
            let shown = if is_secret(&key) && v.as_str() != Some("") {
                "\"<redacted>\"".to_string()
            } else {
                v.to_string()
            };
            let name = if k
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                k.clone()
            } else {
                format!("{k:?}")
            };
            let _ = writeln!(out, "{name} = {shown}  # {}", self.source_of(&key));
        }
        out.push('\n');
        for (key, t) in subtables {
            self.render_table(out, &key, t);
        }
    }

    fn expected(&self, key: &str) -> Option<Value> {
        lookup(&self.defaults, key).cloned()
    }

    fn in_free_table(&self, key: &str) -> bool {
        self.free_table_of(key).is_some()
    }

    /// (the free-form table, the key inside it) when `key` lies in one.
    fn free_table_of<'k>(&self, key: &'k str) -> Option<(&str, &'k str)> {
        self.free_tables.iter().find_map(|t| {
            key.strip_prefix(t.as_str())
                .and_then(|rest| rest.strip_prefix('.'))
                .filter(|rest| !rest.is_empty())
                .map(|rest| (t.as_str(), rest))
        })
    }
}

/// The environment variable that sets `key` (`ingest.max_batch` → `SEER_INGEST__MAX_BATCH`).
pub fn env_name(key: &str) -> String {
    format!("SEER_{}", key.replace('.', "__").to_ascii_uppercase())
}

fn lookup<'a>(table: &'a Table, key: &str) -> Option<&'a Value> {
    let mut parts = key.split('.');
    let mut value = table.get(parts.next()?)?;
    for part in parts {
        value = value.as_table()?.get(part)?;
    }
    Some(value)
}

fn insert(table: &mut Table, path: &[String], value: Value) {
    match path {
        [] => {}
        [key] => {
            table.insert(key.to_string(), value);
        }
        [head, rest @ ..] => {
            let entry = table
                .entry(head.to_string())
                .or_insert_with(|| Value::Table(Table::new()));
            if !entry.is_table() {
                *entry = Value::Table(Table::new());
            }
            if let Value::Table(t) = entry {
                insert(t, rest, value);
            }
        }
    }
}

/// The non-table values under `table`, by dotted path; an empty table counts as a value, so a
/// file may set one.
fn leaves(table: &Table, prefix: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            Value::Table(t) if !t.is_empty() => out.extend(leaves(t, &key)),
            Value::Table(_) => {}
            _ => out.push((key, v.clone())),
        }
    }
    out
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a number",
        Value::Boolean(_) => "true or false",
        Value::Datetime(_) => "a datetime",
        Value::Array(_) => "a list",
        Value::Table(_) => "a table",
    }
}

/// `value` as the default's type; integers widen to floats, nothing else converts.
fn coerce(expected: &Value, value: Value) -> Result<Value, String> {
    match (expected, value) {
        (Value::Float(_), Value::Integer(i)) => Ok(Value::Float(i as f64)),
        (Value::Array(defaults), Value::Array(items)) => {
            let Some(first) = defaults.first() else {
                return Ok(Value::Array(items));
            };
            items
                .into_iter()
                .map(|item| coerce(first, item))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array)
        }
        (e, v) if std::mem::discriminant(e) == std::mem::discriminant(&v) => Ok(v),
        (_, v) => Err(v.to_string()),
    }
}

fn parse_as(expected: &Value, raw: &str) -> Option<Value> {
    let s = raw.trim();
    Some(match expected {
        Value::String(_) => Value::String(raw.to_string()),
        Value::Integer(_) => Value::Integer(s.replace('_', "").parse().ok()?),
        Value::Float(_) => Value::Float(s.parse().ok()?),
        Value::Boolean(_) => Value::Boolean(match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => true,
            "false" | "0" | "no" | "off" => false,
            _ => return None,
        }),
        Value::Array(defaults) => {
            if s.starts_with('[') {
                let t: Table = toml::from_str(&format!("v = {s}")).ok()?;
                return coerce(expected, t.get("v")?.clone()).ok();
            }
            let element = defaults
                .first()
                .cloned()
                .unwrap_or(Value::String(String::new()));
            Value::Array(
                s.split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(|p| parse_as(&element, p))
                    .collect::<Option<Vec<_>>>()?,
            )
        }
        Value::Table(_) => {
            let mut t = Table::new();
            for pair in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=')?;
                if k.trim().is_empty() {
                    return None;
                }
                t.insert(k.trim().to_string(), Value::String(v.trim().to_string()));
            }
            Value::Table(t)
        }
        Value::Datetime(_) => return None,
    })
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The line of each key in a TOML document, by dotted path.
fn key_lines(text: &str) -> BTreeMap<String, usize> {
    use toml::de::{DeTable, DeValue};
    fn walk(table: &DeTable<'_>, prefix: &str, text: &str, out: &mut BTreeMap<String, usize>) {
        for (k, v) in table.iter() {
            let key = if prefix.is_empty() {
                k.get_ref().to_string()
            } else {
                format!("{prefix}.{}", k.get_ref())
            };
            out.insert(key.clone(), line_of(text, k.span().start));
            if let DeValue::Table(t) = v.get_ref() {
                walk(t, &key, text, out);
            }
        }
    }
    let mut out = BTreeMap::new();
    if let Ok(doc) = DeTable::parse(text) {
        walk(doc.get_ref(), "", text, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULTS: &str = r#"
[kafka]
brokers = "127.0.0.1:9092"
sasl_password = ""
[kafka.properties]

[ingest]
max_batch = 1024
ratio = 0.5
enabled = true
quantiles = [0.1, 0.5, 0.9]
"#;

    fn layers() -> Layers {
        Layers::new(DEFAULTS, &["kafka.properties"]).unwrap()
    }

    #[derive(serde::Deserialize, Debug)]
    struct Cfg {
        kafka: Kafka,
        ingest: Ingest,
    }
    #[derive(serde::Deserialize, Debug)]
    struct Kafka {
        brokers: String,
        properties: BTreeMap<String, String>,
        #[allow(dead_code)]
        sasl_password: String,
    }
    #[derive(serde::Deserialize, Debug)]
    struct Ingest {
        max_batch: usize,
        ratio: f64,
        enabled: bool,
        quantiles: Vec<f64>,
    }

    #[test]
    fn later_layers_win_and_remember_their_source() {
        let mut l = layers();
        let file = Path::new("seer.toml");
        l.file_text(
            file,
            "[ingest]\nmax_batch = 10\nratio = 1\n\n[kafka]\nbrokers = \"file:9092\"\n",
        )
        .unwrap();
        l.env([
            ("SEER_INGEST__MAX_BATCH".to_string(), "20".to_string()),
            ("SEER_ADAPTER".to_string(), "software".to_string()),
            ("PATH".to_string(), "/bin".to_string()),
        ])
        .unwrap();
        l.set(
            "kafka.brokers",
            "flag:9092",
            Source::Flag("--brokers".into()),
        )
        .unwrap();
        let c: Cfg = l.build().unwrap();
        // env beats file, flags beat env and file, file beats default
        assert_eq!(c.ingest.max_batch, 20);
        assert_eq!(c.kafka.brokers, "flag:9092");
        assert_eq!(c.ingest.ratio, 1.0);
        assert!(c.ingest.enabled);
        assert_eq!(
            l.source_of("ingest.max_batch"),
            Source::Env("SEER_INGEST__MAX_BATCH".into())
        );
        assert_eq!(
            l.source_of("ingest.ratio"),
            Source::File {
                path: file.into(),
                line: 3
            }
        );
        assert_eq!(l.source_of("ingest.enabled"), Source::Default);
        assert_eq!(l.source_of("kafka.brokers").to_string(), "flag --brokers");
    }

    #[test]
    fn env_beats_file_regardless_of_call_order_of_flags() {
        let mut l = layers();
        l.set("ingest.max_batch", "5", Source::Flag("--max-batch".into()))
            .unwrap();
        assert_eq!(l.build::<Cfg>().unwrap().ingest.max_batch, 5);
    }

    #[test]
    fn unknown_keys_name_the_key_and_where_it_was_set() {
        let mut l = layers();
        let err = l
            .file_text(Path::new("c.toml"), "[ingest]\n\nmax_bach = 3\n")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "c.toml:3: unknown configuration key ingest.max_bach"
        );
        let err = l
            .env([("SEER_INGEST__MAX_BACH".to_string(), "3".to_string())])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "env SEER_INGEST__MAX_BACH: unknown configuration key ingest.max_bach"
        );
        let err = l
            .file_text(Path::new("c.toml"), "[nope]\nx = 1\n")
            .unwrap_err();
        assert!(
            err.to_string().contains("unknown configuration key nope.x"),
            "{err}"
        );
    }

    #[test]
    fn bad_values_name_the_key_the_type_and_the_source() {
        let mut l = layers();
        let err = l
            .file_text(Path::new("c.toml"), "[ingest]\nmax_batch = \"many\"\n")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "c.toml:2: ingest.max_batch: expected an integer, got \"many\""
        );
        let err = l
            .env([("SEER_INGEST__ENABLED".to_string(), "perhaps".to_string())])
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("env SEER_INGEST__ENABLED: ingest.enabled: expected true or false"),
            "{err}"
        );
        let err = l
            .file_text(Path::new("c.toml"), "[ingest]\nquantiles = [0.1, \"x\"]\n")
            .unwrap_err();
        assert!(err.to_string().contains("ingest.quantiles"), "{err}");
        let err = l
            .file_text(Path::new("bad.toml"), "[ingest\nmax_batch = 1\n")
            .unwrap_err();
        assert!(err.to_string().starts_with("bad.toml:1: "), "{err}");
    }

    #[test]
    fn strings_parse_as_the_default_type() {
        let mut l = layers();
        l.env([
            (
                "SEER_INGEST__QUANTILES".to_string(),
                "0.05, 0.95".to_string(),
            ),
            ("SEER_INGEST__RATIO".to_string(), "2".to_string()),
            (
                "SEER_KAFKA__PROPERTIES".to_string(),
                "socket.keepalive.enable=true,fetch.min.bytes=1".to_string(),
            ),
        ])
        .unwrap();
        l.file_text(
            Path::new("c.toml"),
            "[kafka.properties]\n\"client.rack\" = \"eu-1a\"\nretries = 5\n",
        )
        .unwrap();
        let c: Cfg = l.build().unwrap();
        assert_eq!(c.ingest.quantiles, vec![0.05, 0.95]);
        assert_eq!(c.ingest.ratio, 2.0);
        assert_eq!(c.kafka.properties["socket.keepalive.enable"], "true");
        assert_eq!(c.kafka.properties["client.rack"], "eu-1a");
        assert_eq!(c.kafka.properties["retries"], "5");
        l.set("ingest.quantiles", "[0.2, 0.8]", Source::Flag("--q".into()))
            .unwrap();
        assert_eq!(l.build::<Cfg>().unwrap().ingest.quantiles, vec![0.2, 0.8]);
    }

    #[test]
    fn render_shows_sources_and_hides_secrets() {
        let mut l = layers();
        l.env([
            (
                "SEER_KAFKA__SASL_PASSWORD".to_string(),
                "hunter2".to_string(),
            ),
            (
                "SEER_KAFKA__PROPERTIES".to_string(),
                "ssl.key.password=pw".to_string(),
            ),
        ])
        .unwrap();
        let text = l.render(&["kafka"]);
        assert!(
            !text.contains("hunter2") && !text.contains("pw\""),
            "{text}"
        );
        assert!(
            text.contains("sasl_password = \"<redacted>\"  # env SEER_KAFKA__SASL_PASSWORD"),
            "{text}"
        );
        assert!(
            text.contains("brokers = \"127.0.0.1:9092\"  # default"),
            "{text}"
        );
        assert!(text.contains("[kafka.properties]"), "{text}");
        // what render prints is a configuration file seer reads back
        let reread: String = text
            .lines()
            .map(|l| l.split("  #").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        let mut again = layers();
        again.file_text(Path::new("printed.toml"), &reread).unwrap();
    }

    #[test]
    fn invalid_names_value_and_source() {
        let mut l = layers();
        l.set("ingest.max_batch", "0", Source::Flag("--max-batch".into()))
            .unwrap();
        let err = l.invalid("ingest.max_batch", "must be at least 1");
        assert_eq!(
            err.to_string(),
            "ingest.max_batch = 0 (flag --max-batch): must be at least 1"
        );
    }

    #[test]
    fn values_the_type_rejects_name_their_key() {
        #[derive(serde::Deserialize, Debug)]
        struct Unsigned {
            #[allow(dead_code)]
            ingest: UnsignedIngest,
        }
        #[derive(serde::Deserialize, Debug)]
        struct UnsignedIngest {
            #[allow(dead_code)]
            max_batch: u32,
        }
        let mut l = Layers::new("[ingest]\nmax_batch = 1\n", &[]).unwrap();
        l.set(
            "ingest.max_batch",
            "-1",
            Source::Env("SEER_INGEST__MAX_BATCH".into()),
        )
        .unwrap();
        let err = l.build::<Unsigned>().unwrap_err().to_string();
        assert!(
            err.starts_with("ingest.max_batch = -1 (env SEER_INGEST__MAX_BATCH): "),
            "{err}"
        );
    }

    #[test]
    fn env_names() {
        assert_eq!(env_name("ingest.max_batch"), "SEER_INGEST__MAX_BATCH");
        assert_eq!(env_name("kafka.properties"), "SEER_KAFKA__PROPERTIES");
    }
}

/// Field deserializers for config sections whose Rust types are richer than TOML's: TOML has no
/// null (an empty string is "unset") and no duration (the key names its unit).
pub mod fields {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    /// `""` → `None`, anything else → `Some`.
    pub fn empty_as_none<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: From<String>,
    {
        let s = String::deserialize(d)?;
        Ok((!s.is_empty()).then(|| T::from(s)))
    }

    /// Whole milliseconds (keys ending in `_ms`).
    pub fn millis<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }

    /// Whole seconds (keys ending in `_seconds`).
    pub fn seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_secs(u64::deserialize(d)?))
    }
}
