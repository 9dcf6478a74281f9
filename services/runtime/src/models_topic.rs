//! The models topic (`topics.models`, compacted, one partition): the one record of which model
//! versions exist and which one each model serves, so every engine replica, gateway replica
//! and trainer agrees. Three record kinds, each under its own key so compaction keeps the latest
//! of each:
//!
//! - `version/<model>/<version>`: a version in the model store (parent, location, checksum, the
//!   metrics it was promoted on, why);
//! - `active/<model>`: the version to serve and the one before it (promotion, Activate,
//!   Rollback, the trainer's automatic rollback);
//! - `quality/<model>/<version>`: live forecast quality as the trainer scores it.
//!
//! Values are JSON, so `kcat -t seer.models -C` is readable. [`ModelsFeed`] reads the topic from
//! the beginning into a [`ModelsView`]; [`ModelsPublisher`] writes records.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::error::RuntimeError;
use crate::kafka::KafkaConfig;
use crate::kafka_health::{HealthContext, KafkaHealth};

/// What the candidate scored against the model it replaced, on windows neither trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct GateMetrics {
    pub mase: f64,
    pub wql: f64,
    pub parent_mase: f64,
    pub parent_wql: f64,
    pub windows: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionRecord {
    pub model: String,
    pub version: String,
    /// The version it was fine-tuned from; empty for a root (a checkpoint from a models dir).
    #[serde(default)]
    pub parent: String,
    /// Where the model store holds it (`<model>/<version>` for a directory store).
    pub location: String,
    /// [`checksum`](crate::model_store::checksum) of its two files.
    pub checksum: String,
    #[serde(default)]
    pub metrics: Option<GateMetrics>,
    pub created_at_ms: i64,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActiveRecord {
    pub model: String,
    pub active: String,
    #[serde(default)]
    pub previous: String,
    pub at_ms: i64,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualityRecord {
    pub model: String,
    pub version: String,
    /// Over the trainer's rolling window of scored points; `None` until defined.
    pub mase: Option<f64>,
    pub wql: Option<f64>,
    pub coverage_80: Option<f64>,
    /// Points in the rolling window.
    pub scored_points: u64,
    pub at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ModelRecord {
    Version(VersionRecord),
    Active(ActiveRecord),
    Quality(QualityRecord),
}

impl ModelRecord {
    /// The record's key: compaction keeps the latest record per key.
    pub fn key(&self) -> String {
        match self {
            ModelRecord::Version(v) => format!("version/{}/{}", v.model, v.version),
            ModelRecord::Active(a) => format!("active/{}", a.model),
            ModelRecord::Quality(q) => format!("quality/{}/{}", q.model, q.version),
        }
    }

    pub fn model(&self) -> &str {
        match self {
            ModelRecord::Version(v) => &v.model,
            ModelRecord::Active(a) => &a.model,
            ModelRecord::Quality(q) => &q.model,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn decode(bytes: &[u8]) -> Result<ModelRecord, String> {
        serde_json::from_slice(bytes).map_err(|e| e.to_string())
    }
}

/// Milliseconds since the Unix epoch, the records' clock.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Everything the topic says about one model.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelEntry {
    pub versions: BTreeMap<String, VersionRecord>,
    pub active: Option<ActiveRecord>,
    pub quality: BTreeMap<String, QualityRecord>,
}

/// The topic folded into its latest state per model.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelsView {
    models: BTreeMap<String, ModelEntry>,
    /// Records read so far (the feed's position, for read-your-writes waits).
    pub records: u64,
}

impl ModelsView {
    pub fn apply(&mut self, record: ModelRecord) {
        self.records += 1;
        let entry = self.models.entry(record.model().to_string()).or_default();
        match record {
            ModelRecord::Version(v) => {
                entry.versions.insert(v.version.clone(), v);
            }
            ModelRecord::Active(a) => entry.active = Some(a),
            ModelRecord::Quality(q) => {
                entry.quality.insert(q.version.clone(), q);
            }
        }
    }

    pub fn get(&self, model: &str) -> Option<&ModelEntry> {
        self.models.get(model)
    }

    pub fn active(&self, model: &str) -> Option<&ActiveRecord> {
        self.models.get(model)?.active.as_ref()
    }

    pub fn version(&self, model: &str, version: &str) -> Option<&VersionRecord> {
        self.models.get(model)?.versions.get(version)
    }

    pub fn models(&self) -> impl Iterator<Item = (&String, &ModelEntry)> {
        self.models.iter()
    }
}

/// Reads the models topic from the beginning, for as long as the process runs.
#[derive(Clone)]
pub struct ModelsFeed {
    view: Arc<RwLock<ModelsView>>,
    /// Bumped after every record and when the backlog is read; reactors reconcile on change.
    changed: watch::Receiver<u64>,
    caught_up: watch::Receiver<bool>,
}

impl ModelsFeed {
    /// Starts reading `topic` on a spawned task until `shutdown`. `group` only names the client
    /// (nothing is committed).
    pub fn start(
        kafka: &KafkaConfig,
        health: &KafkaHealth,
        topic: &str,
        group: &str,
        shutdown: CancellationToken,
    ) -> Result<ModelsFeed, RuntimeError> {
        let mut c = kafka.client_config();
        KafkaHealth::configure(&mut c);
        c.set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "true");
        let consumer: StreamConsumer<HealthContext> = kafka
            .apply_properties(&mut c)
            .create_with_context(health.context())?;
        let view = Arc::new(RwLock::new(ModelsView::default()));
        let (changed_tx, changed) = watch::channel(0u64);
        let (caught_tx, caught_up) = watch::channel(false);
        let feed = ModelsFeed {
            view: view.clone(),
            changed,
            caught_up,
        };
        let topic = topic.to_string();
        tokio::spawn(async move {
            read(consumer, topic, view, changed_tx, caught_tx, shutdown).await;
        });
        Ok(feed)
    }

    /// A copy of the current state.
    pub fn snapshot(&self) -> ModelsView {
        self.view.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Runs `f` on the current state without copying it.
    pub fn with<R>(&self, f: impl FnOnce(&ModelsView) -> R) -> R {
        f(&self.view.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// A receiver that changes after every record.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changed.clone()
    }

    pub fn is_caught_up(&self) -> bool {
        *self.caught_up.borrow()
    }

    /// Waits until the backlog the topic held at start is read; false on `timeout`.
    pub async fn wait_caught_up(&self, timeout: Duration) -> bool {
        let mut rx = self.caught_up.clone();
        tokio::time::timeout(timeout, rx.wait_for(|c| *c))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Waits until `done` holds on the view (a write of this process read back); false on
    /// `timeout`.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        mut done: impl FnMut(&ModelsView) -> bool,
    ) -> bool {
        let mut rx = self.changed.clone();
        let wait = async {
            loop {
                if self.with(&mut done) {
                    return true;
                }
                if rx.changed().await.is_err() {
                    return false;
                }
            }
        };
        tokio::time::timeout(timeout, wait).await.unwrap_or(false)
    }
}

async fn read(
    consumer: StreamConsumer<HealthContext>,
    topic: String,
    view: Arc<RwLock<ModelsView>>,
    changed: watch::Sender<u64>,
    caught_up: watch::Sender<bool>,
    shutdown: CancellationToken,
) {
    let consumer = Arc::new(consumer);
    let Some(parts) = crate::kafka::wait_for_partitions(&consumer, &topic, &shutdown).await else {
        return;
    };
    let mut tpl = TopicPartitionList::new();
    for p in &parts {
        if let Err(e) = tpl.add_partition_offset(&topic, *p, Offset::Beginning) {
            tracing::error!(topic, error = %e, "models topic partition");
            return;
        }
    }
    if let Err(e) = consumer.assign(&tpl) {
        tracing::error!(topic, error = %e, "assigning the models topic");
        return;
    }
    let mut eof = std::collections::BTreeSet::new();
    let mut seq = 0u64;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            msg = consumer.recv() => match msg {
                Ok(m) => {
                    let Some(payload) = m.payload() else { continue };
                    match ModelRecord::decode(payload) {
                        Ok(r) => view.write().unwrap_or_else(|e| e.into_inner()).apply(r),
                        Err(e) => tracing::warn!(
                            topic, partition = m.partition(), offset = m.offset(), error = %e,
                            "models topic: record skipped, not a seer model record"
                        ),
                    }
                    seq += 1;
                    changed.send_replace(seq);
                }
                Err(KafkaError::PartitionEOF(p)) => {
                    if eof.insert(p) && eof.len() == parts.len() && !*caught_up.borrow() {
                        tracing::info!(topic, records = seq, "models topic read");
                        caught_up.send_replace(true);
                        seq += 1;
                        changed.send_replace(seq);
                    }
                }
                Err(e) => {
                    tracing::debug!(topic, error = %e, "models topic consumer");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

/// Writes model records (idempotent, acks from all in-sync replicas).
#[derive(Clone)]
pub struct ModelsPublisher {
    producer: FutureProducer<HealthContext>,
    topic: String,
}

impl ModelsPublisher {
    pub fn new(
        kafka: &KafkaConfig,
        health: &KafkaHealth,
        topic: &str,
    ) -> Result<ModelsPublisher, RuntimeError> {
        let mut c = kafka.producer_config(0);
        c.set("enable.idempotence", "true");
        Ok(ModelsPublisher {
            producer: health.producer(kafka, c)?,
            topic: topic.to_string(),
        })
    }

    pub async fn publish(&self, record: &ModelRecord) -> Result<(), RuntimeError> {
        let key = record.key();
        let payload = record.encode();
        self.producer
            .send(
                FutureRecord::to(&self.topic).key(&key).payload(&payload),
                Duration::from_secs(10),
            )
            .await
            .map(|_| ())
            .map_err(|(e, _)| RuntimeError::Kafka(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(v: &str, parent: &str) -> ModelRecord {
        ModelRecord::Version(VersionRecord {
            model: "lstm".into(),
            version: v.into(),
            parent: parent.into(),
            location: format!("lstm/{v}"),
            checksum: "00".into(),
            metrics: None,
            created_at_ms: 1,
            reason: "test".into(),
        })
    }

    #[test]
    fn records_round_trip_as_json_with_their_keys() {
        let a = ModelRecord::Active(ActiveRecord {
            model: "lstm".into(),
            active: "v2".into(),
            previous: "v1".into(),
            at_ms: 5,
            reason: "promoted".into(),
        });
        let text = String::from_utf8(a.encode()).unwrap();
        assert!(text.contains("\"kind\":\"active\""), "{text}");
        assert_eq!(ModelRecord::decode(text.as_bytes()).unwrap(), a);
        assert_eq!(a.key(), "active/lstm");
        assert_eq!(version("v1", "").key(), "version/lstm/v1");
        assert!(ModelRecord::decode(b"{\"kind\":\"nope\"}").is_err());
        assert!(ModelRecord::decode(b"\xff").is_err());
    }

    #[test]
    fn the_view_keeps_the_latest_record_per_key() {
        let mut view = ModelsView::default();
        view.apply(version("v1", ""));
        view.apply(version("v2", "v1"));
        for (active, previous) in [("v1", ""), ("v2", "v1"), ("v1", "v2")] {
            view.apply(ModelRecord::Active(ActiveRecord {
                model: "lstm".into(),
                active: active.into(),
                previous: previous.into(),
                at_ms: 0,
                reason: String::new(),
            }));
        }
        let a = view.active("lstm").unwrap();
        assert_eq!((a.active.as_str(), a.previous.as_str()), ("v1", "v2"));
        assert_eq!(view.version("lstm", "v2").unwrap().parent, "v1");
        assert_eq!(view.get("lstm").unwrap().versions.len(), 2);
        assert_eq!(view.records, 5);
        assert!(view.active("other").is_none());
    }
}
