//! Live model versions: the engine follows the models topic and serves, per model, the version
//! its `active/<model>` record names. A new version is read from the model store, checked
//! against the manifest's checksum and its content version, loaded, warmed up, and only then
//! swapped in; requests in flight finish on the version they resolved. The replaced version
//! stays loaded as the previous one, so a rollback is a swap. Anything wrong with a version
//! (corrupt file, unknown version, a model that does not load) is logged once and counted, and
//! the engine keeps serving what it had.

use std::collections::HashSet;
use std::sync::Arc;

use seer_model::checkpoint::content_version;
use seer_runtime::ModelsFeed;
use seer_runtime::model_store::{ModelStore, StoreError};
use tokio_util::sync::CancellationToken;

use crate::registry::{SEASONAL_NAIVE, served_from_bytes};
use crate::server::warm_up_version;
use crate::service::EngineService;

/// Why a version was refused (the metric's `reason` label), and what to tell the operator.
struct Refusal {
    reason: &'static str,
    message: String,
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        Refusal {
            reason: e.reason(),
            message: e.to_string(),
        }
    }
}

/// Follows `feed` until `shutdown`, reconciling after every change.
pub async fn follow_models(
    service: EngineService,
    feed: ModelsFeed,
    store: Arc<dyn ModelStore>,
    shutdown: CancellationToken,
) {
    let mut changes = feed.changes();
    let mut refused = HashSet::new();
    loop {
        reconcile(&service, &feed, &store, &mut refused).await;
        tokio::select! {
            _ = shutdown.cancelled() => return,
            r = changes.changed() => if r.is_err() { return },
        }
    }
}

/// Brings every served model to the version the topic names active. `refused` remembers
/// (model, version) pairs already refused, so a bad version is reported once, not on every
/// record that follows.
pub async fn reconcile(
    service: &EngineService,
    feed: &ModelsFeed,
    store: &Arc<dyn ModelStore>,
    refused: &mut HashSet<(String, String)>,
) {
    let registry = service.registry().clone();
    for served in registry.models() {
        if served.name == SEASONAL_NAIVE {
            continue;
        }
        let name = served.name.clone();
        let Some(active) = feed.with(|v| v.active(&name).map(|a| a.active.clone())) else {
            continue;
        };
        if active == served.version || refused.contains(&(name.clone(), active.clone())) {
            continue;
        }
        let metrics = service.metrics();
        let swapped = |direction: &str| {
            let info = &metrics.model_info;
            info.with_label_values(&[name.as_str(), served.version.as_str()])
                .set(0);
            info.with_label_values(&[name.as_str(), active.as_str()])
                .set(1);
            metrics
                .model_swaps_total
                .with_label_values(&[name.as_str(), direction])
                .inc();
        };
        if registry
            .previous(&name)
            .is_some_and(|p| p.version == active)
        {
            registry.swap_back(&name);
            swapped("back");
            tracing::info!(model = %name, version = %active, replaced = %served.version, "serving the previous version again");
            continue;
        }
        match load(service, feed, store, &name, &active).await {
            Ok(()) => {
                swapped("forward");
                tracing::info!(model = %name, version = %active, replaced = %served.version, "serving a new version");
            }
            Err(r) => {
                metrics
                    .model_load_failures_total
                    .with_label_values(&[name.as_str(), r.reason])
                    .inc();
                tracing::error!(
                    model = %name, version = %active, reason = r.reason,
                    "refusing the version the models topic names active; still serving {}: {}",
                    served.version, r.message
                );
                refused.insert((name, active));
            }
        }
    }
}

async fn load(
    service: &EngineService,
    feed: &ModelsFeed,
    store: &Arc<dyn ModelStore>,
    name: &str,
    version: &str,
) -> Result<(), Refusal> {
    let Some(record) = feed.with(|v| v.version(name, version).cloned()) else {
        return Err(Refusal {
            reason: "unknown_version",
            message: format!("no version/{name}/{version} record on the models topic"),
        });
    };
    let (ctx, store, name_owned, version_owned) = (
        service.context().clone(),
        store.clone(),
        name.to_string(),
        version.to_string(),
    );
    let served = tokio::task::spawn_blocking(move || -> Result<_, Refusal> {
        let files = store.get(&record.location, &record.checksum)?;
        let actual = content_version(&files.config, &files.weights);
        if actual != version_owned {
            return Err(Refusal {
                reason: "version_mismatch",
                message: format!(
                    "{} holds version {actual}, not {version_owned}",
                    record.location
                ),
            });
        }
        served_from_bytes(
            &ctx,
            &name_owned,
            &record.location,
            &files.config,
            &files.weights,
        )
        .map_err(|e| Refusal {
            reason: "load",
            message: e.to_string(),
        })
    })
    .await
    .map_err(|e| Refusal {
        reason: "load",
        message: e.to_string(),
    })??;
    let served = Arc::new(served);
    warm_up_version(service, served.clone())
        .await
        .map_err(|e| Refusal {
            reason: "warm_up",
            message: e.to_string(),
        })?;
    service.registry().swap(served).map_err(|e| Refusal {
        reason: "load",
        message: e.to_string(),
    })?;
    Ok(())
}
