//! `seer.v1.Models`: what the engine serves (its `ListModels`), and which version of each model
//! this gateway treats as active.
//!
//! State: per model name, the active and the previous version, kept in this gateway's memory
//! ([`ModelState`]); it is per replica and starts empty on a restart (until a version is
//! activated, the served one counts as active). Activate records a version the engine serves
//! (NOT_FOUND otherwise); Rollback swaps active and previous. An ad-hoc Forecast answered by a
//! version other than the active one is refused with FAILED_PRECONDITION, so an operator who
//! pinned a version never gets another one silently. Engines do not swap versions on Activate
//! yet (the trainer of wave 2 will): today a new version arrives by redeploying the engines.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use seer_proto::v1::engine_client::EngineClient;
use seer_proto::v1::models_server::Models;
use seer_proto::v1::{
    ActivateModelRequest, ActivateModelResponse, GetModelRequest, GetModelResponse,
    ListModelsRequest, ListServedModelsRequest, ListServedModelsResponse, ModelInfo,
    RollbackModelRequest, RollbackModelResponse, ServedModel,
};
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use crate::server::{Shared, deadline_of, engine_status, within};

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
    ) -> Result<Arc<Vec<ModelInfo>>, Status> {
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
                .map_err(|s| engine_status(s, "ListModels"))?
                .into_inner()
                .models,
        );
        *cache = Some((Instant::now(), list.clone()));
        Ok(list)
    }

    /// The model a request names (empty: the engine's default); NOT_FOUND naming `field`.
    pub(crate) async fn resolve(
        &self,
        name: &str,
        field: &str,
        timeout: Duration,
    ) -> Result<ModelInfo, Status> {
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
                Status::not_found(format!("{field}: the engine has no default model"))
            } else {
                Status::not_found(format!("{field}: unknown model {name:?}"))
            }
        })
    }
}

/// Longest horizon of a model: a TCN predicts its configured horizon directly, the others go up
/// to the gateway's limit.
pub(crate) fn max_horizon(info: &ModelInfo, limit: u32) -> u32 {
    if info.kind == "tcn" {
        info.horizon.min(limit)
    } else {
        limit
    }
}

/// The Models service. Cheap to clone.
#[derive(Clone)]
pub struct ModelsService {
    pub(crate) shared: Arc<Shared>,
}

impl ModelsService {
    fn served(&self, info: ModelInfo) -> ServedModel {
        let v = self.shared.models_state.get(&info.name);
        ServedModel {
            max_horizon: max_horizon(&info, self.shared.config.max_horizon),
            info: Some(info),
            active_version: v.active,
            previous_version: v.previous,
            activated_at: v.activated_at,
        }
    }

    fn name_of(name: &str) -> Result<&str, Status> {
        let name = name.trim();
        if name.is_empty() {
            return Err(Status::invalid_argument("name: is empty"));
        }
        Ok(name)
    }

    async fn list_inner(
        &self,
        req: Request<ListServedModelsRequest>,
    ) -> Result<ListServedModelsResponse, Status> {
        let _permit = self.shared.admit()?;
        let timeout = self.shared.engine_timeout(deadline_of(&req));
        within(deadline_of(&req), async {
            let list = self.shared.engine_models.list(false, timeout).await?;
            Ok(ListServedModelsResponse {
                models: list.iter().cloned().map(|m| self.served(m)).collect(),
            })
        })
        .await
    }

    async fn get_inner(&self, req: Request<GetModelRequest>) -> Result<GetModelResponse, Status> {
        let _permit = self.shared.admit()?;
        let deadline = deadline_of(&req);
        let timeout = self.shared.engine_timeout(deadline);
        let name = Self::name_of(&req.get_ref().name)?.to_string();
        within(deadline, async {
            let info = self
                .shared
                .engine_models
                .resolve(&name, "name", timeout)
                .await?;
            Ok(GetModelResponse {
                model: Some(self.served(info)),
            })
        })
        .await
    }

    async fn activate_inner(
        &self,
        req: Request<ActivateModelRequest>,
    ) -> Result<ActivateModelResponse, Status> {
        self.shared.admin.check(req.metadata())?;
        let _permit = self.shared.admit()?;
        let deadline = deadline_of(&req);
        let timeout = self.shared.engine_timeout(deadline);
        let name = Self::name_of(&req.get_ref().name)?.to_string();
        let version = req.get_ref().version.trim().to_string();
        within(deadline, async {
            let info = self
                .shared
                .engine_models
                .resolve(&name, "name", timeout)
                .await?;
            if !version.is_empty() && version != info.version {
                return Err(Status::not_found(format!(
                    "version: model {name:?} has no version {version:?} on the engine (it serves {:?})",
                    info.version
                )));
            }
            let v = self.shared.models_state.activate(&name, &info.version);
            tracing::info!(model = %name, active = %v.active, previous = %v.previous, "model activated");
            Ok(ActivateModelResponse {
                model: Some(self.served(info)),
            })
        })
        .await
    }

    async fn rollback_inner(
        &self,
        req: Request<RollbackModelRequest>,
    ) -> Result<RollbackModelResponse, Status> {
        self.shared.admin.check(req.metadata())?;
        let _permit = self.shared.admit()?;
        let deadline = deadline_of(&req);
        let timeout = self.shared.engine_timeout(deadline);
        let name = Self::name_of(&req.get_ref().name)?.to_string();
        within(deadline, async {
            let info = self
                .shared
                .engine_models
                .resolve(&name, "name", timeout)
                .await?;
            let v = self.shared.models_state.rollback(&name).ok_or_else(|| {
                Status::failed_precondition(format!(
                    "name: model {name:?} has no previous version to roll back to"
                ))
            })?;
            tracing::info!(model = %name, active = %v.active, previous = %v.previous, "model rolled back");
            Ok(RollbackModelResponse {
                model: Some(self.served(info)),
            })
        })
        .await
    }
}

#[tonic::async_trait]
impl Models for ModelsService {
    async fn list(
        &self,
        req: Request<ListServedModelsRequest>,
    ) -> Result<Response<ListServedModelsResponse>, Status> {
        let r = self.list_inner(req).await;
        self.shared.metrics.observe("Models.List", &r);
        r.map(Response::new)
    }

    async fn get(
        &self,
        req: Request<GetModelRequest>,
    ) -> Result<Response<GetModelResponse>, Status> {
        let r = self.get_inner(req).await;
        self.shared.metrics.observe("Models.Get", &r);
        r.map(Response::new)
    }

    async fn activate(
        &self,
        req: Request<ActivateModelRequest>,
    ) -> Result<Response<ActivateModelResponse>, Status> {
        let r = self.activate_inner(req).await;
        self.shared.metrics.observe("Models.Activate", &r);
        r.map(Response::new)
    }

    async fn rollback(
        &self,
        req: Request<RollbackModelRequest>,
    ) -> Result<Response<RollbackModelResponse>, Status> {
        let r = self.rollback_inner(req).await;
        self.shared.metrics.observe("Models.Rollback", &r);
        r.map(Response::new)
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
