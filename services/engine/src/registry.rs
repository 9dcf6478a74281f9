//! The models an engine serves: every checkpoint directory under the models directory, plus the
//! built-in seasonal naive.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use seer_gpu::GpuContext;
use seer_model::checkpoint::{self, CONFIG_FILE, WEIGHTS_FILE, Weights, content_version};
use seer_model::{MAX_HORIZON, Model, ModelConfig};
use seer_proto::convert::frequency_fields;
use seer_proto::v1::{CovariateInfo, ModelInfo};

use crate::error::EngineError;

/// Name of the built-in seasonal naive model (always served).
pub const SEASONAL_NAIVE: &str = "seasonal_naive";
/// Version of the built-in model.
pub const BUILTIN_VERSION: &str = "builtin";
/// Horizon of `seasonal_naive` when a request asks for 0 and the default model is not neural.
pub const NAIVE_DEFAULT_HORIZON: usize = 24;
/// Levels a model reports when the request names none and the model has no levels of its own
/// (DeepAR, seasonal naive): what `Model::predict` uses.
pub const DEFAULT_LEVELS: [f64; 3] = [0.1, 0.5, 0.9];

/// How a served model computes.
pub enum Backend {
    Neural(Box<Model>),
    SeasonalNaive,
}

/// One model under its served name.
pub struct ServedModel {
    pub name: String,
    /// Hex of a 48-bit FNV-1a hash over config.json then model.safetensors (`builtin` for the
    /// seasonal naive).
    pub version: String,
    pub backend: Backend,
}

impl ServedModel {
    pub fn kind_name(&self) -> &'static str {
        match &self.backend {
            Backend::Neural(m) => m.kind().name(),
            Backend::SeasonalNaive => SEASONAL_NAIVE,
        }
    }

    pub fn config(&self) -> Option<&ModelConfig> {
        match &self.backend {
            Backend::Neural(m) => Some(&m.config),
            Backend::SeasonalNaive => None,
        }
    }

    /// Whether the checkpoint leaves series `id` to the seasonal naive.
    pub fn leaves_to_seasonal_naive(&self, id: &str) -> bool {
        match &self.backend {
            Backend::Neural(m) => m.leaves_to_seasonal_naive(id),
            Backend::SeasonalNaive => false,
        }
    }

    /// Whether the model answers Forecast (the gap filler and the classifier do not).
    pub fn forecasts(&self) -> bool {
        match &self.backend {
            Backend::Neural(m) => m.kind().forecasts(),
            Backend::SeasonalNaive => true,
        }
    }

    /// Longest horizon a request may ask for: a TCN predicts its configured horizon directly,
    /// the autoregressive models and the seasonal naive go up to `MAX_HORIZON`.
    pub fn max_horizon(&self) -> usize {
        match &self.backend {
            Backend::Neural(m) => m.max_horizon(),
            _ => MAX_HORIZON,
        }
    }
}

/// The versions of one model this engine holds: the one it serves and the one before it (kept
/// loaded, so a rollback is a swap, not a load).
struct Versions {
    active: Arc<ServedModel>,
    previous: Option<Arc<ServedModel>>,
}

/// The served models by name, and which one answers requests that name none. A model's active
/// version can be swapped while requests run: each request holds the `Arc` it resolved, so a
/// batch in flight finishes on the version it started with.
pub struct ModelRegistry {
    models: RwLock<BTreeMap<String, Versions>>,
    default: String,
}

impl ModelRegistry {
    /// Loads every subdirectory of `models_dir` holding a `config.json` as a model named after
    /// the directory (others are skipped). The default is `default_model` when given (it must be
    /// served), else the only forecasting checkpoint, else `seasonal_naive`; several forecasting
    /// checkpoints and no `default_model` is an error. Blocking (file reads, GPU uploads).
    pub fn load(
        ctx: &GpuContext,
        models_dir: Option<&Path>,
        default_model: Option<&str>,
    ) -> Result<ModelRegistry, EngineError> {
        let mut models = Vec::new();
        if let Some(dir) = models_dir {
            let io = |e: std::io::Error| EngineError::Io {
                path: dir.display().to_string(),
                message: e.to_string(),
            };
            let mut entries: Vec<_> = std::fs::read_dir(dir)
                .map_err(io)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(io)?;
            entries.sort_by_key(|e| e.file_name());
            for entry in entries {
                let path = entry.path();
                if !path.is_dir() || !path.join(CONFIG_FILE).is_file() {
                    continue;
                }
                let name = entry.file_name().into_string().map_err(|n| {
                    EngineError::Config(format!(
                        "model directory name {n:?} is not UTF-8; models are named after their directory"
                    ))
                })?;
                models.push(load_checkpoint(ctx, &name, &path)?);
            }
        }
        ModelRegistry::from_models(models, default_model)
    }

    /// A registry of already loaded models (plus `seasonal_naive`), with the same default rule
    /// as [`ModelRegistry::load`].
    pub fn from_models(
        models: Vec<ServedModel>,
        default_model: Option<&str>,
    ) -> Result<ModelRegistry, EngineError> {
        let mut map: BTreeMap<String, Arc<ServedModel>> = BTreeMap::new();
        map.insert(
            SEASONAL_NAIVE.to_string(),
            Arc::new(ServedModel {
                name: SEASONAL_NAIVE.into(),
                version: BUILTIN_VERSION.into(),
                backend: Backend::SeasonalNaive,
            }),
        );
        for m in models {
            if m.name.is_empty() {
                return Err(EngineError::Config("a model name is empty".into()));
            }
            if map.contains_key(&m.name) {
                return Err(EngineError::Config(format!(
                    "two models are named {:?} ({SEASONAL_NAIVE} is built in)",
                    m.name
                )));
            }
            map.insert(m.name.clone(), Arc::new(m));
        }
        let default = match default_model.filter(|d| !d.is_empty()) {
            Some(d) => {
                let m = map.get(d).ok_or_else(|| {
                    EngineError::Config(format!(
                        "default model {d:?} is not among the served models ({})",
                        map.keys().cloned().collect::<Vec<_>>().join(", ")
                    ))
                })?;
                if !m.forecasts() {
                    return Err(EngineError::Config(format!(
                        "default model {d:?} is a {} model, which does not forecast",
                        m.kind_name()
                    )));
                }
                d.to_string()
            }
            None => {
                let neural: Vec<&String> = map
                    .values()
                    .filter(|m| m.forecasts() && m.name != SEASONAL_NAIVE)
                    .map(|m| &m.name)
                    .collect();
                match neural.as_slice() {
                    [] => SEASONAL_NAIVE.to_string(),
                    [one] => (*one).clone(),
                    several => {
                        return Err(EngineError::Config(format!(
                            "several forecasting models ({}) and no default_model to choose one",
                            several
                                .iter()
                                .map(|s| s.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )));
                    }
                }
            }
        };
        Ok(ModelRegistry {
            models: RwLock::new(
                map.into_iter()
                    .map(|(name, active)| {
                        (
                            name,
                            Versions {
                                active,
                                previous: None,
                            },
                        )
                    })
                    .collect(),
            ),
            default,
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Versions>> {
        self.models.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn default_name(&self) -> &str {
        &self.default
    }

    /// The active version of `name`.
    pub fn get(&self, name: &str) -> Option<Arc<ServedModel>> {
        self.read().get(name).map(|v| v.active.clone())
    }

    /// The version held for rollback, if any.
    pub fn previous(&self, name: &str) -> Option<Arc<ServedModel>> {
        self.read().get(name).and_then(|v| v.previous.clone())
    }

    /// The version of `name` a request pins: the active one or the one held before it.
    pub fn pinned(&self, name: &str, version: &str) -> Option<Arc<ServedModel>> {
        let map = self.read();
        let v = map.get(name)?;
        std::iter::once(&v.active)
            .chain(v.previous.as_ref())
            .find(|m| m.version == version)
            .cloned()
    }

    /// Serves `model` as the active version of its name; the replaced version is kept as the
    /// previous one and returned. A model that is not served already, or of another kind than
    /// the one it replaces, is refused: a swap changes weights, not what a name means.
    pub fn swap(&self, model: Arc<ServedModel>) -> Result<Arc<ServedModel>, EngineError> {
        let mut map = self.models.write().unwrap_or_else(|e| e.into_inner());
        let v = map
            .get_mut(&model.name)
            .ok_or_else(|| EngineError::UnknownModel(model.name.clone()))?;
        if v.active.kind_name() != model.kind_name() {
            return Err(EngineError::Config(format!(
                "model {:?} is a {} model; version {} is a {}",
                model.name,
                v.active.kind_name(),
                model.version,
                model.kind_name()
            )));
        }
        let old = std::mem::replace(&mut v.active, model);
        v.previous = Some(old.clone());
        Ok(old)
    }

    /// Swaps the active and the previous version back; `None` when there is no previous one.
    pub fn swap_back(&self, name: &str) -> Option<Arc<ServedModel>> {
        let mut map = self.models.write().unwrap_or_else(|e| e.into_inner());
        let v = map.get_mut(name)?;
        let previous = v.previous.take()?;
        let old = std::mem::replace(&mut v.active, previous);
        v.previous = Some(old.clone());
        Some(old)
    }

    /// The model a request names; the default for an empty name.
    pub fn resolve(&self, name: &str) -> Result<Arc<ServedModel>, EngineError> {
        let name = if name.is_empty() { &self.default } else { name };
        self.get(name)
            .ok_or_else(|| EngineError::UnknownModel(name.to_string()))
    }

    /// The active version of every model, by name.
    pub fn models(&self) -> Vec<Arc<ServedModel>> {
        self.read().values().map(|v| v.active.clone()).collect()
    }

    /// The horizon of a request that asks for 0.
    pub fn default_horizon(&self, model: &ServedModel) -> usize {
        let default = self.get(&self.default);
        match model.config().or_else(|| {
            default
                .as_deref()
                .and_then(|d| d.config())
                .filter(|_| self.default != SEASONAL_NAIVE)
        }) {
            Some(c) => c.horizon,
            None => NAIVE_DEFAULT_HORIZON,
        }
    }

    /// What ListModels answers, by name.
    pub fn infos(&self) -> Vec<ModelInfo> {
        self.models()
            .iter()
            .map(|m| {
                let c = m.config();
                ModelInfo {
                    name: m.name.clone(),
                    kind: m.kind_name().to_string(),
                    version: m.version.clone(),
                    context_length: c.map_or(0, |c| c.context_length as u32),
                    horizon: self.default_horizon(m) as u32,
                    freq_seconds: c.map_or(0, |c| frequency_fields(c.freq).0),
                    freq_months: c.map_or(0, |c| frequency_fields(c.freq).1),
                    covariates: c.map_or_else(Vec::new, |c| {
                        c.covariates
                            .iter()
                            .map(|cov| CovariateInfo {
                                name: cov.name.clone(),
                                kind: cov.label().into(),
                            })
                            .collect()
                    }),
                    is_default: m.name == self.default,
                    max_horizon: m.max_horizon().min(u32::MAX as usize) as u32,
                    history_points: c
                        .map_or(0, |c| c.history_points().min(u32::MAX as usize) as u32),
                }
            })
            .collect()
    }
}

/// Reads one checkpoint directory once: its bytes give the version, its tensors the model.
pub fn load_checkpoint(
    ctx: &GpuContext,
    name: &str,
    dir: &Path,
) -> Result<ServedModel, EngineError> {
    let read = |file: &str| {
        let p = dir.join(file);
        std::fs::read(&p).map_err(|e| EngineError::Io {
            path: p.display().to_string(),
            message: e.to_string(),
        })
    };
    let config_bytes = read(CONFIG_FILE)?;
    let weights_bytes = read(WEIGHTS_FILE)?;
    served_from_bytes(
        ctx,
        name,
        &dir.display().to_string(),
        &config_bytes,
        &weights_bytes,
    )
}

/// A served model from a checkpoint's two files (a models directory, the model store);
/// `origin` names where they came from in errors.
pub fn served_from_bytes(
    ctx: &GpuContext,
    name: &str,
    origin: &str,
    config_bytes: &[u8],
    weights_bytes: &[u8],
) -> Result<ServedModel, EngineError> {
    let fail = |source| EngineError::Load {
        name: name.to_string(),
        path: origin.to_string(),
        source: Box::new(source),
    };
    let config = checkpoint::parse_config(config_bytes, origin).map_err(fail)?;
    let weights = Weights::from_safetensors(weights_bytes).map_err(fail)?;
    let model = Model::from_parts(ctx, config, weights).map_err(fail)?;
    Ok(ServedModel {
        name: name.to_string(),
        version: content_version(config_bytes, weights_bytes),
        backend: Backend::Neural(Box::new(model)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_is_short_hex_and_sensitive_to_both_files() {
        let v = content_version(b"{}", b"abc");
        assert_eq!(v.len(), 12);
        assert!(v.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(v, content_version(b"{} ", b"abc"));
        assert_ne!(v, content_version(b"{}", b"abd"));
        // streaming equals hashing the concatenation
        assert_eq!(
            content_version(b"ab", b"cd"),
            format!("{:012x}", seer_core::hash::fnv1a64(b"abcd") >> 16)
        );
    }

    fn naive(name: &str, version: &str) -> Arc<ServedModel> {
        Arc::new(ServedModel {
            name: name.into(),
            version: version.into(),
            backend: Backend::SeasonalNaive,
        })
    }

    #[test]
    fn a_swap_leaves_requests_in_flight_on_their_version_and_keeps_the_previous() {
        let r = ModelRegistry::from_models(
            vec![ServedModel {
                name: "m".into(),
                version: "v1".into(),
                backend: Backend::SeasonalNaive,
            }],
            Some("m"),
        )
        .unwrap();
        let in_flight = r.resolve("m").unwrap();
        let replaced = r.swap(naive("m", "v2")).unwrap();
        assert_eq!(replaced.version, "v1");
        assert_eq!(
            in_flight.version, "v1",
            "a resolved request keeps its version"
        );
        assert_eq!(r.resolve("").unwrap().version, "v2");
        assert_eq!(r.previous("m").unwrap().version, "v1");
        assert_eq!(r.pinned("m", "v1").unwrap().version, "v1");
        assert_eq!(r.pinned("m", "v2").unwrap().version, "v2");
        assert!(r.pinned("m", "v0").is_none());
        assert_eq!(
            r.infos().iter().find(|i| i.name == "m").unwrap().version,
            "v2"
        );
        // back: a swap, no load
        assert_eq!(r.swap_back("m").unwrap().version, "v2");
        assert_eq!(r.get("m").unwrap().version, "v1");
        assert_eq!(r.previous("m").unwrap().version, "v2");
        assert!(matches!(
            r.swap(naive("nope", "v1")),
            Err(EngineError::UnknownModel(n)) if n == "nope"
        ));
        assert!(r.swap_back("nope").is_none());
    }

    #[test]
    fn builtin_only_registry_defaults_to_seasonal_naive() {
        let r = ModelRegistry::from_models(vec![], None).unwrap();
        assert_eq!(r.default_name(), SEASONAL_NAIVE);
        assert_eq!(r.resolve("").unwrap().version, BUILTIN_VERSION);
        assert!(matches!(
            r.resolve("nope"),
            Err(EngineError::UnknownModel(n)) if n == "nope"
        ));
        let infos = r.infos();
        assert_eq!(infos.len(), 1);
        assert!(infos[0].is_default);
        assert_eq!(infos[0].horizon as usize, NAIVE_DEFAULT_HORIZON);
        assert!(ModelRegistry::from_models(vec![], Some("lstm")).is_err());
    }
}
