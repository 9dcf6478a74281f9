//! Reads a whole topic (every partition, from the beginning) without a consumer group: every
//! replica needs every series, and a restart must rebuild its state from the topic, so there
//! is nothing to commit.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use prost::Message as _;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use seer_proto::convert::decode_observation;
use seer_proto::v1::Forecast;
use seer_runtime::{HealthContext, KafkaHealth};
use tokio_util::sync::CancellationToken;

use crate::config::GatewayConfig;
use crate::error::GatewayError;
use crate::metrics::GatewayMetrics;
use crate::view::{HistoryView, LatestView};

/// How often the topic's partition count is checked, so partitions added later are read too.
const PARTITION_CHECK: Duration = Duration::from_secs(30);

/// What a reader does with each message.
pub(crate) enum Sink {
    Forecasts {
        view: Arc<LatestView>,
        metrics: GatewayMetrics,
    },
    Observations(Arc<HistoryView>),
}

impl Sink {
    fn take(&self, payload: &[u8], live: bool) {
        match self {
            Sink::Forecasts { view, metrics } => match Forecast::decode(payload) {
                Ok(f) => {
                    metrics.forecasts_read_total.inc();
                    if view.apply(f, live) {
                        metrics.view_series.set(view.len() as i64);
                    }
                }
                Err(e) => tracing::debug!(error = %e, "undecodable forecast skipped"),
            },
            // the ingest dead-letters what does not decode; the history only needs the rest
            Sink::Observations(history) => {
                if let Ok(o) = decode_observation(payload)
                    && let Some(ts) = o.timestamp
                {
                    history.insert(&o.series_id, ts.seconds, o.value);
                }
            }
        }
    }

    fn loaded(&self) {
        if let Sink::Forecasts { view, .. } = self {
            view.set_loaded();
        }
    }
}

pub(crate) type Reader = StreamConsumer<HealthContext>;

/// Creates the consumer (no group, no commits, partition EOF events on, which tell when the
/// backlog is read).
pub(crate) fn consumer(
    config: &GatewayConfig,
    health: &KafkaHealth,
) -> Result<Reader, GatewayError> {
    let mut c = config.kafka.client_config();
    KafkaHealth::configure(&mut c);
    // librdkafka wants a group id even for manual assignment; nothing is committed under it
    c.set("group.id", "seer-gateway")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "true");
    Ok(config
        .kafka
        .apply_properties(&mut c)
        .create_with_context(health.context())?)
}

async fn partitions(
    consumer: &Arc<Reader>,
    topic: &str,
    shutdown: &CancellationToken,
) -> Option<Vec<i32>> {
    seer_runtime::kafka::wait_for_partitions(consumer, topic, shutdown).await
}

fn assign_from_start(consumer: &Reader, topic: &str, parts: &[i32]) -> Result<(), KafkaError> {
    let mut tpl = TopicPartitionList::new();
    for p in parts {
        tpl.add_partition_offset(topic, *p, Offset::Beginning)?;
    }
    consumer.incremental_assign(&tpl)
}

/// Reads `topic` into `sink` until `shutdown`.
pub(crate) async fn run(consumer: Reader, topic: String, sink: Sink, shutdown: CancellationToken) {
    let consumer = Arc::new(consumer);
    let Some(parts) = partitions(&consumer, &topic, &shutdown).await else {
        return;
    };
    if let Err(e) = assign_from_start(&consumer, &topic, &parts) {
        tracing::error!(topic, error = %e, "assigning partitions");
        return;
    }
    let mut assigned: HashSet<i32> = parts.iter().copied().collect();
    // partitions whose backlog (what the topic held when we started) is read
    let mut caught_up: HashSet<i32> = HashSet::new();
    let mut check = tokio::time::interval(PARTITION_CHECK);
    check.tick().await;
    tracing::info!(
        topic,
        partitions = parts.len(),
        "reading topic from the beginning"
    );
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            msg = consumer.recv() => match msg {
                Ok(m) => {
                    if let Some(payload) = m.payload() {
                        sink.take(payload, caught_up.contains(&m.partition()));
                    }
                }
                Err(KafkaError::PartitionEOF(p)) => {
                    if caught_up.insert(p) && caught_up.len() == assigned.len() {
                        tracing::info!(topic, "backlog read");
                        sink.loaded();
                    }
                }
                Err(e) => {
                    tracing::warn!(topic, error = %e, "consumer error");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = check.tick() => {
                if let Some(now) = partitions(&consumer, &topic, &shutdown).await {
                    let new: Vec<i32> = now.into_iter().filter(|p| !assigned.contains(p)).collect();
                    if !new.is_empty() {
                        match assign_from_start(&consumer, &topic, &new) {
                            Ok(()) => assigned.extend(new),
                            Err(e) => tracing::warn!(topic, error = %e, "assigning new partitions"),
                        }
                    }
                }
            }
        }
    }
}
