//! `seer.v1.Forecasts`: the latest forecasts from the view, ad-hoc forecasts from an engine,
//! Watch streams from the view's broadcast, and Ingest onto the observations topic.

use std::collections::HashSet;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};
use prost::Message as _;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureRecord};
use seer_proto::convert::frequency_from_fields;
use seer_proto::v1::forecasts_server::Forecasts;
use seer_proto::v1::{
    BatchGetLatestRequest, BatchGetLatestResponse, Forecast, ForecastBatchRequest, ForecastRequest,
    ForecastResponse, GetLatestRequest, GetLatestResponse, IngestRequest, IngestResponse,
    Observation, SeriesWindow, WatchRequest, WatchResponse,
};
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::catalog::max_horizon;
use crate::metrics::GatewayMetrics;
use crate::request::{Shared, deadline_of, within};
use crate::status::RequestError;

/// Most ids one BatchGetLatest or Watch may name.
pub const MAX_BATCH_IDS: usize = 10_000;

/// Deliveries an Ingest stream may have outstanding before it waits for some (memory bound).
const MAX_PENDING_DELIVERIES: usize = 10_000;

/// The Forecasts service. Cheap to clone.
#[derive(Clone)]
pub struct ForecastsService {
    pub(crate) shared: Arc<Shared>,
}

fn series_id(field: impl Into<String>, id: &str) -> Result<&str, RequestError> {
    if id.trim().is_empty() {
        return Err(RequestError::invalid(field, "is empty"));
    }
    Ok(id)
}

fn at_most_batch_ids(ids: &[String]) -> Result<(), RequestError> {
    if ids.len() > MAX_BATCH_IDS {
        return Err(RequestError::invalid(
            "series_ids",
            format!("{} ids, at most {MAX_BATCH_IDS}", ids.len()),
        ));
    }
    Ok(())
}

/// An ingested observation's problem, naming its field.
fn check_observation(o: &Observation) -> Result<(), (&'static str, &'static str)> {
    if o.series_id.trim().is_empty() {
        return Err(("series_id", "is empty"));
    }
    if o.timestamp.is_none() {
        return Err(("timestamp", "is missing"));
    }
    if o.value.is_nan() {
        return Err(("value", "is NaN"));
    }
    if !o.value.is_finite() {
        return Err(("value", "is infinite"));
    }
    if o.features.values().any(|v| !v.is_finite()) {
        return Err(("features", "hold a value that is not finite"));
    }
    Ok(())
}

impl ForecastsService {
    fn not_found_or_loading(&self, id: &str) -> RequestError {
        if self.shared.view.is_loaded() {
            RequestError::NoForecast(id.to_string())
        } else {
            RequestError::Loading
        }
    }

    fn get_latest_inner(&self, req: GetLatestRequest) -> Result<GetLatestResponse, RequestError> {
        let _permit = self.shared.admit()?;
        let id = series_id("series_id", &req.series_id)?;
        match self.shared.view.get(id) {
            Some(f) => Ok(GetLatestResponse {
                forecast: Some(Forecast::clone(&f)),
            }),
            None => Err(self.not_found_or_loading(id)),
        }
    }

    fn batch_get_latest_inner(
        &self,
        req: BatchGetLatestRequest,
    ) -> Result<BatchGetLatestResponse, RequestError> {
        let _permit = self.shared.admit()?;
        if req.series_ids.is_empty() {
            return Err(RequestError::invalid("series_ids", "is empty"));
        }
        at_most_batch_ids(&req.series_ids)?;
        let mut resp = BatchGetLatestResponse::default();
        for (i, id) in req.series_ids.into_iter().enumerate() {
            series_id(format!("series_ids[{i}]"), &id)?;
            match self.shared.view.get(&id) {
                Some(f) => resp.forecasts.push(Forecast::clone(&f)),
                None if !self.shared.view.is_loaded() => {
                    return Err(self.not_found_or_loading(&id));
                }
                None => resp.not_found.push(id),
            }
        }
        Ok(resp)
    }

    /// The window to forecast: the request's history, or the kept history of a known series.
    fn history(&self, req: &mut ForecastRequest) -> Result<SeriesWindow, RequestError> {
        match req.history.take() {
            Some(mut h) => {
                if h.series_id.trim().is_empty() {
                    h.series_id = req.series_id.clone();
                }
                series_id("series_id", &h.series_id)?;
                if h.values.is_empty() {
                    return Err(RequestError::invalid("history.values", "is empty"));
                }
                if let Some(i) = h.values.iter().position(|v| v.is_infinite()) {
                    return Err(RequestError::invalid(
                        format!("history.values[{i}]"),
                        "is infinite (NaN marks a missing point)",
                    ));
                }
                if let Err((field, why)) = frequency_from_fields(h.freq_seconds, h.freq_months) {
                    return Err(RequestError::invalid(format!("history.{field}"), why));
                }
                if h.start.is_none() {
                    return Err(RequestError::invalid("history.start", "is missing"));
                }
                Ok(h)
            }
            None => {
                let id = series_id("series_id", &req.series_id)?;
                let Some(history) = &self.shared.history else {
                    return Err(RequestError::HistoryNotKept);
                };
                history
                    .window(id)
                    .ok_or_else(|| RequestError::NoObservations(id.to_string()))
            }
        }
    }

    async fn forecast_inner(
        &self,
        req: Request<ForecastRequest>,
    ) -> Result<ForecastResponse, RequestError> {
        let _permit = self.shared.admit()?;
        let deadline = deadline_of(&req);
        let timeout = self.shared.engine_timeout(deadline);
        let mut req = req.into_inner();
        if req.horizon == 0 {
            return Err(RequestError::invalid("horizon", "must be at least 1"));
        }
        if let Some((i, q)) = req
            .quantiles
            .iter()
            .enumerate()
            .find(|(_, q)| !(**q > 0.0 && **q < 1.0))
        {
            return Err(RequestError::invalid(
                format!("quantiles[{i}]"),
                format!("level {q} is not strictly between 0 and 1"),
            ));
        }
        let window = self.history(&mut req)?;
        within(deadline, async {
            let info = self
                .shared
                .engine_models
                .resolve(&req.model, "model", timeout)
                .await?;
            let limit = max_horizon(&info, self.shared.config.max_horizon);
            if req.horizon > limit {
                return Err(RequestError::invalid(
                    "horizon",
                    format!(
                        "{} exceeds the limit of {limit} for model {:?}",
                        req.horizon, info.name
                    ),
                ));
            }
            // pinned to the active version, which an engine mid-swap may still hold as its
            // previous one
            let active = self.shared.models_state.get(&info.name).active;
            let mut call = Request::new(ForecastBatchRequest {
                model: info.name.clone(),
                windows: vec![window],
                horizon: req.horizon,
                quantiles: req.quantiles,
                num_samples: req.num_samples,
                return_samples: req.return_samples,
                seed: req.seed,
                model_version: active.clone(),
            });
            call.set_timeout(timeout);
            let mut resp = self
                .shared
                .engine
                .clone()
                .forecast(call)
                .await
                .map_err(|s| {
                    // the engine names fields of its batch; ours are the request's
                    let message = s.message().replace("windows[0].", "history.");
                    RequestError::engine("Forecast", s.code(), message)
                })?
                .into_inner();
            if let Some(e) = resp.errors.first() {
                return Err(RequestError::invalid("history", e.reason.clone()));
            }
            let forecast = resp.forecasts.pop().ok_or_else(|| {
                RequestError::Internal("engine answered without a forecast".into())
            })?;
            if !active.is_empty() && active != forecast.model_version {
                return Err(RequestError::VersionMismatch {
                    model: forecast.model,
                    served: forecast.model_version,
                    active,
                });
            }
            Ok(ForecastResponse {
                forecast: Some(forecast),
            })
        })
        .await
    }

    fn watch_inner(
        &self,
        req: WatchRequest,
    ) -> Result<ReceiverStream<Result<WatchResponse, Status>>, RequestError> {
        let permit = self
            .shared
            .watchers
            .clone()
            .try_acquire_owned()
            .map_err(|_| RequestError::TooManyWatchers {
                max_watchers: self.shared.config.max_watchers,
            })?;
        at_most_batch_ids(&req.series_ids)?;
        for (i, id) in req.series_ids.iter().enumerate() {
            series_id(format!("series_ids[{i}]"), id)?;
        }
        let ids: HashSet<String> = req.series_ids.into_iter().collect();
        let prefix = req.prefix;
        let everything = ids.is_empty() && prefix.is_empty();
        let selects = move |id: &str| {
            everything || ids.contains(id) || (!prefix.is_empty() && id.starts_with(&prefix))
        };
        // subscribe before the snapshot, so nothing published in between is missed
        let mut rx = self.shared.view.subscribe();
        let current = if req.send_current {
            self.shared.view.select(&selects)
        } else {
            Vec::new()
        };
        let (tx, out) = mpsc::channel(64);
        let shutdown = self.shared.shutdown.clone();
        let watchers = self.shared.metrics.watchers.clone();
        watchers.inc();
        tokio::spawn(async move {
            let _permit = permit;
            let send = |forecast: &Forecast, skipped: u64| {
                tx.send(Ok(WatchResponse {
                    forecast: Some(forecast.clone()),
                    skipped,
                }))
            };
            let mut skipped = 0u64;
            for f in current {
                if send(&f, 0).await.is_err() {
                    watchers.dec();
                    return;
                }
            }
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    // the client went away
                    _ = tx.closed() => break,
                    r = rx.recv() => match r {
                        Ok(f) => {
                            if selects(&f.series_id) {
                                if send(&f, skipped).await.is_err() {
                                    break;
                                }
                                skipped = 0;
                            }
                        }
                        // counted among all forecasts, not only the selected: an upper bound
                        Err(broadcast::error::RecvError::Lagged(n)) => skipped += n,
                        Err(broadcast::error::RecvError::Closed) => break,
                    },
                }
            }
            watchers.dec();
        });
        Ok(ReceiverStream::new(out))
    }

    async fn ingest_inner(
        &self,
        req: Request<Streaming<IngestRequest>>,
    ) -> Result<IngestResponse, RequestError> {
        let _permit = self.shared.admit()?;
        let deadline = deadline_of(&req);
        let mut stream = req.into_inner();
        let topic = self.shared.config.topics.observations.as_str();
        let producer = &self.shared.producer;
        let mut pending: FuturesUnordered<DeliveryFuture> = FuturesUnordered::new();
        let mut accepted = 0u64;
        let mut seen = 0u64;
        let metrics = &self.shared.metrics;
        let work = async {
            let mut message = 0u64;
            while let Some(batch) = stream.message().await.map_err(RequestError::Stream)? {
                for o in &batch.observations {
                    if let Err((field, problem)) = check_observation(o) {
                        // finish what was sent, so the error can say what Kafka holds
                        drain(&mut pending, &mut accepted, metrics).await?;
                        return Err(RequestError::invalid(
                            format!("observations[{seen}].{field}"),
                            format!(
                                "{problem} (message {message} of the stream; the {accepted} observations before it were written)"
                            ),
                        ));
                    }
                    let payload = o.encode_to_vec();
                    let mut record = FutureRecord::to(topic).key(&o.series_id).payload(&payload);
                    loop {
                        match producer.send_result(record) {
                            Ok(delivery) => {
                                pending.push(delivery);
                                break;
                            }
                            Err((
                                KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull),
                                r,
                            )) => {
                                // the producer's queue is full: wait for Kafka, never buffer more
                                record = r;
                                match pending.next().await {
                                    Some(d) => ack(d, &mut accepted, metrics)?,
                                    None => tokio::time::sleep(Duration::from_millis(5)).await,
                                }
                            }
                            Err((e, _)) => return Err(RequestError::Kafka(e)),
                        }
                    }
                    seen += 1;
                    while pending.len() >= MAX_PENDING_DELIVERIES {
                        if let Some(d) = pending.next().await {
                            ack(d, &mut accepted, metrics)?;
                        }
                    }
                }
                message += 1;
            }
            drain(&mut pending, &mut accepted, metrics).await?;
            Ok(())
        };
        within(deadline, work).await?;
        Ok(IngestResponse { accepted })
    }
}

type Delivered = <DeliveryFuture as std::future::Future>::Output;

fn ack(d: Delivered, accepted: &mut u64, metrics: &GatewayMetrics) -> Result<(), RequestError> {
    match d {
        Ok(Ok(_)) => {
            *accepted += 1;
            metrics.ingested_total.inc();
            Ok(())
        }
        Ok(Err((error, _))) => Err(RequestError::NotDelivered {
            error,
            written: *accepted,
        }),
        Err(_) => Err(RequestError::ProducerGone),
    }
}

async fn drain(
    pending: &mut FuturesUnordered<DeliveryFuture>,
    accepted: &mut u64,
    metrics: &GatewayMetrics,
) -> Result<(), RequestError> {
    while let Some(d) = pending.next().await {
        ack(d, accepted, metrics)?;
    }
    Ok(())
}

type WatchStream = Pin<Box<dyn futures::Stream<Item = Result<WatchResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Forecasts for ForecastsService {
    async fn get_latest(
        &self,
        req: Request<GetLatestRequest>,
    ) -> Result<Response<GetLatestResponse>, Status> {
        let r = self
            .get_latest_inner(req.into_inner())
            .map_err(Status::from);
        self.shared.metrics.observe("Forecasts.GetLatest", &r);
        r.map(Response::new)
    }

    async fn batch_get_latest(
        &self,
        req: Request<BatchGetLatestRequest>,
    ) -> Result<Response<BatchGetLatestResponse>, Status> {
        let r = self
            .batch_get_latest_inner(req.into_inner())
            .map_err(Status::from);
        self.shared.metrics.observe("Forecasts.BatchGetLatest", &r);
        r.map(Response::new)
    }

    async fn forecast(
        &self,
        req: Request<ForecastRequest>,
    ) -> Result<Response<ForecastResponse>, Status> {
        let r = self.forecast_inner(req).await.map_err(Status::from);
        self.shared.metrics.observe("Forecasts.Forecast", &r);
        r.map(Response::new)
    }

    type WatchStream = WatchStream;

    async fn watch(
        &self,
        req: Request<WatchRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let r = self.watch_inner(req.into_inner()).map_err(Status::from);
        self.shared.metrics.observe("Forecasts.Watch", &r);
        r.map(|s| Response::new(Box::pin(s) as WatchStream))
    }

    async fn ingest(
        &self,
        req: Request<Streaming<IngestRequest>>,
    ) -> Result<Response<IngestResponse>, Status> {
        let r = self.ingest_inner(req).await.map_err(Status::from);
        self.shared.metrics.observe("Forecasts.Ingest", &r);
        r.map(Response::new)
    }
}
