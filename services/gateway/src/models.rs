//! `seer.v1.Models`: what the engine serves (its `ListModels`), and which version of each model
//! is active.
//!
//! State: per model name, the active and the previous version and the live quality of each
//! version, as the models topic records them ([`ModelState`](crate::catalog::ModelState)); until
//! a version is recorded, the served one counts as active. Activate records a version the topic
//! knows (the trainer registers every version it writes to the model store) or the one the
//! engine serves (NOT_FOUND otherwise); Rollback records the previous version as active again.
//! Every engine that follows the topic swaps to the recorded version live. An ad-hoc Forecast
//! is pinned to the active version: an engine that no longer holds it answers NOT_FOUND, so an
//! operator who activated a version never gets another one silently.

use std::sync::Arc;

use seer_proto::v1::models_server::Models;
use seer_proto::v1::{
    ActivateModelRequest, ActivateModelResponse, GetModelRequest, GetModelResponse,
    ListServedModelsRequest, ListServedModelsResponse, ModelInfo, RollbackModelRequest,
    RollbackModelResponse, ServedModel,
};
use tonic::{Request, Response, Status};

use crate::catalog::max_horizon;
use crate::request::{Shared, deadline_of, within};
use crate::status::RequestError;

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
            quality: self.shared.models_state.quality(&info.name),
            info: Some(info),
            active_version: v.active,
            previous_version: v.previous,
            activated_at: v.activated_at,
            activated_reason: v.reason,
        }
    }

    fn name_of(name: &str) -> Result<&str, RequestError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(RequestError::invalid("name", "is empty"));
        }
        Ok(name)
    }

    async fn list_inner(
        &self,
        req: Request<ListServedModelsRequest>,
    ) -> Result<ListServedModelsResponse, RequestError> {
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

    async fn get_inner(
        &self,
        req: Request<GetModelRequest>,
    ) -> Result<GetModelResponse, RequestError> {
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
    ) -> Result<ActivateModelResponse, RequestError> {
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
            let state = &self.shared.models_state;
            let version = if version.is_empty() {
                info.version.clone()
            } else {
                version
            };
            if version != info.version && !state.knows(&name, &version) {
                return Err(RequestError::UnknownVersion {
                    model: name.clone(),
                    version: version.clone(),
                    served: info.version,
                });
            }
            let current = state.get(&name);
            let active = if current.active.is_empty() {
                info.version.clone()
            } else {
                current.active
            };
            // activating the active version again keeps the one before it
            let previous = if active == version {
                current.previous
            } else {
                active
            };
            let v = state
                .set_active(&name, &version, &previous, "activated through seer.v1.Models/Activate")
                .await?;
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
    ) -> Result<RollbackModelResponse, RequestError> {
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
            let state = &self.shared.models_state;
            let current = state.get(&name);
            if current.previous.is_empty() {
                return Err(RequestError::NoPreviousVersion(name.clone()));
            }
            let v = state
                .set_active(
                    &name,
                    &current.previous,
                    &current.active,
                    "rolled back through seer.v1.Models/Rollback",
                )
                .await?;
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
        let r = self.list_inner(req).await.map_err(Status::from);
        self.shared.metrics.observe("Models.List", &r);
        r.map(Response::new)
    }

    async fn get(
        &self,
        req: Request<GetModelRequest>,
    ) -> Result<Response<GetModelResponse>, Status> {
        let r = self.get_inner(req).await.map_err(Status::from);
        self.shared.metrics.observe("Models.Get", &r);
        r.map(Response::new)
    }

    async fn activate(
        &self,
        req: Request<ActivateModelRequest>,
    ) -> Result<Response<ActivateModelResponse>, Status> {
        let r = self.activate_inner(req).await.map_err(Status::from);
        self.shared.metrics.observe("Models.Activate", &r);
        r.map(Response::new)
    }

    async fn rollback(
        &self,
        req: Request<RollbackModelRequest>,
    ) -> Result<Response<RollbackModelResponse>, Status> {
        let r = self.rollback_inner(req).await.map_err(Status::from);
        self.shared.metrics.observe("Models.Rollback", &r);
        r.map(Response::new)
    }
}
