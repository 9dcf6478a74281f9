//! The models there are and the version of each this gateway treats as active: the engine's
//! model list (cached, [`EngineModels`]) and the active/previous version per model name
//! ([`ModelState`]), kept in this gateway's memory. The state is per replica and starts empty on
//! a restart; until a version is activated, the served one counts as active.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use seer_proto::v1::engine_client::EngineClient;
use seer_proto::v1::{ListModelsRequest, ModelInfo};
use tonic::Request;
use tonic::transport::Channel;

use crate::status::RequestError;

/// How long a ListModels answer is reused before the engine is asked again.
const MODELS_TTL: Duration = Duration::from_secs(2);

/// The versions of one model as this gateway tracks them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Versions {
    pub active: String,
    pub previous: String,
    pub activated_at: Option<prost_types::Timestamp>,
}

/// Active/previous version per model name (see the module docs).
#[derive(Default)]
pub struct ModelState {
    versions: Mutex<HashMap<String, Versions>>,
}

impl ModelState {
    pub fn get(&self, name: &str) -> Versions {
        self.versions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
            .unwrap_or_default()
    }

    pub fn activate(&self, name: &str, version: &str) -> Versions {
        let mut map = self.versions.lock().unwrap_or_else(|e| e.into_inner());
        let v = map.entry(name.to_string()).or_default();
        if v.active != version {
            v.previous = std::mem::replace(&mut v.active, version.to_string());
        }
        v.activated_at = Some(now());
        v.clone()
    }

    /// Swaps active and previous; `None` when there is no previous version.
    pub fn rollback(&self, name: &str) -> Option<Versions> {
        let mut map = self.versions.lock().unwrap_or_else(|e| e.into_inner());
        let v = map.get_mut(name).filter(|v| !v.previous.is_empty())?;
        std::mem::swap(&mut v.active, &mut v.previous);
        v.activated_at = Some(now());
        Some(v.clone())
    }
}

fn now() -> prost_types::Timestamp {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    prost_types::Timestamp {
        seconds: d.as_secs() as i64,
        nanos: d.subsec_nanos() as i32,
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
    use super::*;

    #[test]
    fn activate_and_rollback_track_two_versions() {
        let s = ModelState::default();
        assert_eq!(s.get("m"), Versions::default());
        assert!(s.rollback("m").is_none());
        let v = s.activate("m", "v1");
        assert_eq!((v.active.as_str(), v.previous.as_str()), ("v1", ""));
        assert!(s.rollback("m").is_none());
        // activating the active version again keeps the previous one
        s.activate("m", "v2");
        let v = s.activate("m", "v2");
        assert_eq!((v.active.as_str(), v.previous.as_str()), ("v2", "v1"));
        let v = s.rollback("m").unwrap();
        assert_eq!((v.active.as_str(), v.previous.as_str()), ("v1", "v2"));
    }
}
