//! The binary's one configuration loader: every service command (and `seer up`, `seer replay`,
//! `seer config print`) builds its [`SeerConfig`] here, from the embedded defaults of each
//! crate, then `--config FILE`, then `SEER_<SECTION>__<KEY>` variables, then `--set KEY=VALUE`
//! and the command's own flags.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use seer_engine::EngineConfig;
use seer_gateway::GatewayConfig;
use seer_ingest::IngestConfig;
use seer_runtime::{
    ConfigError, GrpcConfig, KafkaConfig, Layers, LogConfig, ModelStoreConfig, ShutdownConfig,
    Source, Topics,
};
use seer_trainer::TrainerConfig;
use serde::Deserialize;

/// Every section any seer process reads; one file (a ConfigMap) can configure them all.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeerConfig {
    pub log: LogConfig,
    pub kafka: KafkaConfig,
    pub topics: Topics,
    pub shutdown: ShutdownConfig,
    pub grpc: GrpcConfig,
    pub model_store: ModelStoreConfig,
    pub ingest: IngestConfig,
    pub engine: EngineConfig,
    pub gateway: GatewayConfig,
    pub trainer: TrainerConfig,
}

impl SeerConfig {
    /// The ingest's config with the shared sections it uses filled in.
    pub fn ingest(&self) -> IngestConfig {
        IngestConfig {
            kafka: self.kafka.clone(),
            topics: self.topics.clone(),
            grpc: self.grpc.clone(),
            grace: self.shutdown.grace(),
            ..self.ingest.clone()
        }
    }

    pub fn engine(&self) -> EngineConfig {
        EngineConfig {
            grpc: self.grpc.clone(),
            kafka: self.kafka.clone(),
            models_topic: self.topics.models.clone(),
            model_store: self.model_store.clone(),
            ..self.engine.clone()
        }
    }

    pub fn trainer(&self) -> TrainerConfig {
        TrainerConfig {
            kafka: self.kafka.clone(),
            topics: self.topics.clone(),
            model_store: self.model_store.clone(),
            ..self.trainer.clone()
        }
    }

    pub fn gateway(&self) -> GatewayConfig {
        GatewayConfig {
            kafka: self.kafka.clone(),
            topics: self.topics.clone(),
            grpc: self.grpc.clone(),
            ..self.gateway.clone()
        }
    }
}

/// Keys whose tables take any key: extra librdkafka properties, per-prefix frequencies.
pub const FREE_TABLES: &[&str] = &["kafka.properties", "ingest.frequencies"];

/// All embedded defaults, in the order `seer config print` shows them.
pub fn defaults() -> String {
    [
        seer_runtime::DEFAULTS,
        seer_ingest::DEFAULTS,
        seer_engine::DEFAULTS,
        seer_gateway::DEFAULTS,
        seer_trainer::DEFAULTS,
    ]
    .join("\n")
}

/// What every configurable command takes.
#[derive(Args, Debug, Clone, Default)]
pub struct ConfigArgs {
    /// TOML file over the defaults (`seer config print` shows every key)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Set any key, e.g. --set ingest.max_batch=512 (repeatable; beats file and environment)
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

/// A command's own flag: its name, the key it sets, and its value when given.
pub type Flag<'a> = (&'static str, &'static str, Option<&'a str>);

/// The topic flags of the commands that read and write all three topics.
#[derive(Args, Debug, Clone, Default)]
pub struct TopicArgs {
    /// topics.observations
    #[arg(long)]
    pub observations_topic: Option<String>,
    /// topics.forecasts
    #[arg(long)]
    pub forecasts_topic: Option<String>,
    /// topics.dead_letters
    #[arg(long)]
    pub dlq_topic: Option<String>,
}

impl TopicArgs {
    pub fn flags(&self) -> [Flag<'_>; 3] {
        [
            (
                "observations-topic",
                "topics.observations",
                self.observations_topic.as_deref(),
            ),
            (
                "forecasts-topic",
                "topics.forecasts",
                self.forecasts_topic.as_deref(),
            ),
            (
                "dlq-topic",
                "topics.dead_letters",
                self.dlq_topic.as_deref(),
            ),
        ]
    }
}

/// Loads the layers: defaults → file → environment → `--set` → flags.
pub fn layers(args: &ConfigArgs, flags: &[Flag<'_>]) -> Result<Layers, ConfigError> {
    let mut layers = Layers::new(&defaults(), FREE_TABLES)?;
    if let Some(file) = &args.config {
        layers.file(file)?;
    }
    layers.env(std::env::vars())?;
    for kv in &args.set {
        let (key, value) = kv.split_once('=').ok_or_else(|| ConfigError::BadValue {
            key: kv.clone(),
            origin: Source::Flag("--set".into()),
            expected: "KEY=VALUE",
            got: format!("{kv:?}"),
        })?;
        layers.set(
            key.trim(),
            value,
            Source::Flag(format!("--set {}", key.trim())),
        )?;
    }
    for (flag, key, value) in flags {
        if let Some(v) = value {
            layers.set(key, v, Source::Flag(format!("--{flag}")))?;
        }
    }
    Ok(layers)
}

/// `--kafka KEY=VALUE` flags as `kafka.properties.KEY` settings.
pub fn kafka_properties(layers: &mut Layers, items: &[String]) -> Result<(), ConfigError> {
    for kv in items {
        match kv.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => layers.set(
                &format!("kafka.properties.{}", k.trim()),
                v.trim(),
                Source::Flag("--kafka".into()),
            )?,
            _ => {
                return Err(ConfigError::BadValue {
                    key: "kafka.properties".into(),
                    origin: Source::Flag("--kafka".into()),
                    expected: "KEY=VALUE",
                    got: format!("{kv:?}"),
                });
            }
        }
    }
    Ok(())
}

/// The typed configuration, with every service's own checks run against it so an error names
/// the key, its value and where it was set.
pub fn build(layers: &Layers, service: Service) -> Result<SeerConfig, ConfigError> {
    let config: SeerConfig = layers.build()?;
    let check = |r: Result<(), (&'static str, String)>| match r {
        Ok(()) => Ok(()),
        Err((key, msg)) => Err(layers.invalid(key, msg)),
    };
    check(config.log.validate())?;
    let uses_kafka = !matches!(service, Service::Engine) || config.engine.follow_models;
    if uses_kafka {
        check(config.kafka.validate())?;
    }
    match service {
        Service::Ingest => match config.ingest().validate() {
            Err(seer_ingest::IngestError::Config(key, msg)) => Err(layers.invalid(key, msg)),
            Err(e) => Err(ConfigError::Schema(e.to_string())),
            Ok(()) => Ok(()),
        }?,
        Service::Engine => config
            .engine()
            .validate()
            .map_err(|e| ConfigError::Schema(e.to_string()))?,
        Service::Gateway => check(config.gateway().check())?,
        Service::Trainer => config
            .trainer()
            .validate()
            .map_err(|e| ConfigError::Schema(e.to_string()))?,
        // `seer up` gives the trainer a model store of its own
        Service::All => {
            for s in [Service::Ingest, Service::Engine, Service::Gateway] {
                build(layers, s)?;
            }
        }
    }
    Ok(config)
}

/// Loads and checks the configuration of one service command.
pub fn load(
    args: &ConfigArgs,
    flags: &[Flag<'_>],
    service: Service,
) -> anyhow::Result<(Layers, SeerConfig)> {
    let layers = layers(args, flags).context("configuration")?;
    let config = build(&layers, service).context("configuration")?;
    Ok((layers, config))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Service {
    Ingest,
    Engine,
    Gateway,
    Trainer,
    /// Every section (what `seer up` runs)
    All,
}

impl Service {
    /// The sections the service reads, in print order.
    pub fn sections(self) -> &'static [&'static str] {
        match self {
            Service::Ingest => &["log", "kafka", "topics", "shutdown", "grpc", "ingest"],
            Service::Engine => &[
                "log",
                "kafka",
                "topics",
                "shutdown",
                "grpc",
                "model_store",
                "engine",
            ],
            Service::Trainer => &[
                "log",
                "kafka",
                "topics",
                "shutdown",
                "model_store",
                "trainer",
            ],
            Service::Gateway => &["log", "kafka", "topics", "shutdown", "grpc", "gateway"],
            Service::All => &[
                "log",
                "kafka",
                "topics",
                "shutdown",
                "grpc",
                "model_store",
                "ingest",
                "engine",
                "gateway",
                "trainer",
            ],
        }
    }
}

#[derive(Args)]
pub struct PrintArgs {
    /// The service whose configuration to show (default: every section)
    #[arg(value_enum, default_value = "all")]
    pub service: Service,
    #[command(flatten)]
    pub config: ConfigArgs,
}

/// `seer config print`: the effective configuration, each value with its source, secrets
/// redacted; fails like the service would on a bad value.
pub fn print(a: &PrintArgs) -> anyhow::Result<()> {
    let (layers, _) = load(&a.config, &[], a.service)?;
    let mut out = format!(
        "# effective configuration of seer {}; after each value, where it was set\n\n",
        format!("{:?}", a.service).to_lowercase()
    );
    out += &layers.render(a.service.sections());
    crate::terminal::write_stdout(&out)
}

/// Logging for commands that have no service configuration of their own (train, predict...):
/// the `[log]` section from the environment, `SEER_LOG` as the older spelling of its filter.
pub fn log_from_env() -> LogConfig {
    let mut config = LogConfig::default();
    if let Ok(filter) = std::env::var("SEER_LOG") {
        config.filter = filter;
    }
    if let Ok(layers) = layers(&ConfigArgs::default(), &[])
        && let Ok(c) = layers.build::<SeerConfig>()
    {
        let from_env = |key| matches!(layers.source_of(key), Source::Env(_));
        if from_env("log.filter") {
            config.filter = c.log.filter;
        }
        if from_env("log.format") {
            config.format = c.log.format;
        }
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_build_and_pass_every_service_check() {
        let layers = Layers::new(&defaults(), FREE_TABLES).unwrap();
        let c = build(&layers, Service::All).unwrap();
        assert_eq!(c.ingest().topics.observations, "seer.observations");
        assert_eq!(c.engine().listen.port(), 50051);
    }

    #[test]
    fn a_service_check_names_key_value_and_source() {
        let mut layers = Layers::new(&defaults(), FREE_TABLES).unwrap();
        layers
            .set(
                "ingest.max_in_flight",
                "0",
                Source::Env("SEER_INGEST__MAX_IN_FLIGHT".into()),
            )
            .unwrap();
        let err = build(&layers, Service::Ingest).unwrap_err().to_string();
        assert_eq!(
            err,
            "ingest.max_in_flight = 0 (env SEER_INGEST__MAX_IN_FLIGHT): must be at least 1"
        );
        // the engine does not read the ingest's section
        build(&layers, Service::Engine).unwrap();
    }

    /// docs/configuration.md lists every key with its environment variable.
    #[test]
    fn every_key_is_documented() {
        let docs = include_str!("../../../docs/configuration.md");
        let layers = Layers::new(&defaults(), FREE_TABLES).unwrap();
        let mut missing = Vec::new();
        for (key, _) in layers.default_keys() {
            let env = seer_runtime::env_name(&key);
            if !docs.contains(&format!("`{key}`")) || !docs.contains(&format!("`{env}`")) {
                missing.push(key);
            }
        }
        assert!(missing.is_empty(), "undocumented keys: {missing:?}");
    }
}
