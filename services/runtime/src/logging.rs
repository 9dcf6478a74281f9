//! Logging to stderr: text for a terminal, JSON lines for a cluster's log pipeline.

use serde::Deserialize;

/// The `[log]` section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    pub format: String,
    pub filter: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        crate::defaults::section("log")
    }
}

impl LogConfig {
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if !matches!(self.format.as_str(), "text" | "json") {
            return Err(("log.format", "must be text or json".into()));
        }
        tracing_subscriber::EnvFilter::try_new(&self.filter)
            .map_err(|e| ("log.filter", e.to_string()))?;
        Ok(())
    }
}

/// Installs the process-wide subscriber; a second call (tests) leaves the first in place.
pub fn init_logging(config: &LogConfig) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if config.format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
