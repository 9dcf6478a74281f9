//! The models there are and the version of each that is active: the engine's model list
//! (cached, [`EngineModels`]) and, per model name, the active and previous version and the live
//! quality of each version as the models topic records them ([`ModelState`]). Every gateway
//! replica reads the same topic, and Activate/Rollback write to it, so replicas agree and a
//! restart loses nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use seer_proto::v1::engine_client::EngineClient;
use seer_proto::v1::{ListModelsRequest, ModelInfo, VersionQuality};
use seer_runtime::models_topic::{ActiveRecord, ModelRecord, now_ms};
use seer_runtime::{KafkaHealth, ModelsFeed, ModelsPublisher, RuntimeError};
use tokio_util::sync::CancellationToken;
use tonic::Request;
use tonic::transport::Channel;

use crate::status::RequestError;

/// How long a ListModels answer is reused before the engine is asked again.
const MODELS_TTL: Duration = Duration::from_secs(2);

/// How long Activate/Rollback wait to read their own record back from the topic.
const READ_BACK: Duration = Duration::from_secs(5);

/// The versions of one model as the models topic records them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Versions {
    pub active: String,
    pub previous: String,
    pub activated_at: Option<prost_types::Timestamp>,
    pub reason: String,
}

fn timestamp_ms(ms: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    }
}

/// Active/previous version and live quality per model name (see the module docs).
pub struct ModelState {
    feed: ModelsFeed,
    publisher: ModelsPublisher,
}

impl ModelState {
    /// Starts reading `topic`; records are written through `health`'s producer settings.
    pub fn start(
        kafka: &seer_runtime::KafkaConfig,
        health: &KafkaHealth,
        topic: &str,
        shutdown: CancellationToken,
    ) -> Result<ModelState, RuntimeError> {
        Ok(ModelState {
            feed: ModelsFeed::start(kafka, health, topic, "seer-gateway", shutdown)?,
            publisher: ModelsPublisher::new(kafka, health, topic)?,
        })
    }

    pub fn get(&self, name: &str) -> Versions {
        self.feed.with(|v| {
            v.active(name)
                .map(|a| Versions {
                    active: a.active.clone(),
                    previous: a.previous.clone(),
                    activated_at: Some(timestamp_ms(a.at_ms)),
                    reason: a.reason.clone(),
                })
                .unwrap_or_default()
        })
    }

    /// Whether the topic records `version` of `name` (a version engines can load).
    pub fn knows(&self, name: &str, version: &str) -> bool {
        self.feed.with(|v| v.version(name, version).is_some())
    }

    /// Live quality of each version of `name`, newest score first.
    pub fn quality(&self, name: &str) -> Vec<VersionQuality> {
        let mut out: Vec<(i64, VersionQuality)> = self.feed.with(|v| {
            v.get(name)
                .map(|e| {
                    e.quality
                        .values()
                        .map(|q| {
                            (
                                q.at_ms,
                                VersionQuality {
                                    version: q.version.clone(),
                                    mase: q.mase,
                                    wql: q.wql,
                                    coverage_80: q.coverage_80,
                                    scored_points: q.scored_points,
                                    updated_at: Some(timestamp_ms(q.at_ms)),
                                },
                            )
                        })
                        .collect()
                })
                .unwrap_or_default()
        });
        out.sort_by_key(|q| std::cmp::Reverse(q.0));
        out.into_iter().map(|(_, q)| q).collect()
    }

    /// Records `active` (with `previous` before it) as the version of `name` every engine
    /// serves, and waits to read the record back, so the answer reflects it.
    pub async fn set_active(
        &self,
        name: &str,
        active: &str,
        previous: &str,
        reason: &str,
    ) -> Result<Versions, RequestError> {
        let record = ActiveRecord {
            model: name.to_string(),
            active: active.to_string(),
            previous: previous.to_string(),
            at_ms: now_ms(),
            reason: reason.to_string(),
        };
        let at = record.at_ms;
        self.publisher
            .publish(&ModelRecord::Active(record))
            .await
            .map_err(|e| match e {
                RuntimeError::Kafka(k) => RequestError::Kafka(k),
                other => RequestError::Internal(other.to_string()),
            })?;
        let seen = self
            .feed
            .wait_until(READ_BACK, |v| {
                v.active(name)
                    .is_some_and(|a| a.active == active && a.at_ms >= at)
            })
            .await;
        if !seen {
            tracing::warn!(
                model = name,
                version = active,
                "activation written but not read back within {READ_BACK:?}"
            );
        }
        Ok(Versions {
            active: active.to_string(),
            previous: previous.to_string(),
            activated_at: Some(timestamp_ms(at)),
            reason: reason.to_string(),
        })
    }
}

/// The engine's model list, cached for [`MODELS_TTL`].
pub(crate) struct EngineModels {
    client: EngineClient<Channel>,
    cache: tokio::sync::Mutex<Option<(Instant, Arc<Vec<ModelInfo>>)>>,
}

impl EngineModels {
    pub(crate) fn new(client: EngineClient<Channel>) -> Self {
        EngineModels {
            client,
            cache: tokio::sync::Mutex::new(None),
        }
    }

    /// The served models; `fresh` skips the cache (a name was not found in it).
    pub(crate) async fn list(
        &self,
        fresh: bool,
        timeout: Duration,
    ) -> Result<Arc<Vec<ModelInfo>>, RequestError> {
        let mut cache = self.cache.lock().await;
        if let Some((at, list)) = cache.as_ref()
            && !fresh
            && at.elapsed() < MODELS_TTL
        {
            return Ok(list.clone());
        }
        let mut req = Request::new(ListModelsRequest {});
        req.set_timeout(timeout);
        let list = Arc::new(
            self.client
                .clone()
                .list_models(req)
                .await
                .map_err(|s| RequestError::engine("ListModels", s.code(), s.message()))?
                .into_inner()
                .models,
        );
        *cache = Some((Instant::now(), list.clone()));
        Ok(list)
    }

    /// The model a request names (empty: the engine's default); not found names `field`.
    pub(crate) async fn resolve(
        &self,
        name: &str,
        field: &'static str,
        timeout: Duration,
    ) -> Result<ModelInfo, RequestError> {
        let pick = |list: &[ModelInfo]| {
            list.iter()
                .find(|m| {
                    if name.is_empty() {
                        m.is_default
                    } else {
                        m.name == name
                    }
                })
                .cloned()
        };
        if let Some(m) = pick(&self.list(false, timeout).await?) {
            return Ok(m);
        }
        pick(&self.list(true, timeout).await?).ok_or_else(|| {
            if name.is_empty() {
                RequestError::NoDefaultModel { field }
            } else {
                RequestError::UnknownModel {
                    field,
                    name: name.to_string(),
                }
            }
        })
    }
}

/// Longest horizon of a model: what the engine says (`max_horizon`), within the gateway's limit;
/// engines from before that field get the rule they followed (a TCN predicts its configured
/// horizon directly, the others go up to the limit).
pub(crate) fn max_horizon(info: &ModelInfo, limit: u32) -> u32 {
    if info.max_horizon > 0 {
        info.max_horizon.min(limit)
    } else if info.kind == "tcn" {
        info.horizon.min(limit)
    } else {
        limit
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn record_times_become_timestamps() {
        let t = super::timestamp_ms(1_700_000_000_123);
        assert_eq!((t.seconds, t.nanos), (1_700_000_000, 123_000_000));
        let t = super::timestamp_ms(-1);
        assert_eq!((t.seconds, t.nanos), (-1, 999_000_000));
    }
}
