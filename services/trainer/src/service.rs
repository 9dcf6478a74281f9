//! The trainer's loop around [`StreamState`] and the [`Learner`]: one consumer over the
//! observations and forecasts topics (every partition, no group: the trainer scores every
//! series), the models topic through a [`ModelsFeed`], leadership through a consumer group on
//! the models topic's one partition, rounds on a blocking thread, and every decision published
//! as a record on the models topic.

use std::sync::Arc;
use std::time::{Duration, Instant};

use prost::Message as _;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use seer_core::naive::season_for_freq;
use seer_gpu::GpuContext;
use seer_model::ModelConfig;
use seer_model::checkpoint::{CONFIG_FILE, WEIGHTS_FILE, Weights, content_version, parse_config};
use seer_model::train::TrainOptions;
use seer_proto::convert::decode_observation;
use seer_proto::v1::Forecast;
use seer_runtime::kafka::wait_for_partitions;
use seer_runtime::model_store::{CheckpointFiles, DirStore, ModelStore, checksum};
use seer_runtime::models_topic::{
    ActiveRecord, GateMetrics, ModelRecord, QualityRecord, VersionRecord, now_ms,
};
use seer_runtime::{HealthContext, KafkaHealth, ModelsFeed, ModelsPublisher, Readiness};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::TrainerConfig;
use crate::error::TrainerError;
use crate::gate::{Schedule, Trigger, Verdict, mean_wql, rollback_due};
use crate::learner::{Held, Learner, RoundInput, RoundOutcome};
use crate::metrics::TrainerMetrics;
use crate::replay::ReplayBuffer;
use crate::state::{Shape, StreamState};

/// Housekeeping cadence: leadership, schedule, rollback watch, metrics.
const TICK: Duration = Duration::from_millis(500);
/// Messages handled per loop turn before housekeeping gets a look in.
const DRAIN_PER_TURN: usize = 512;

/// A promotion under watch: rolled back if it does worse live than the version it replaced.
struct Watch {
    version: String,
    previous: String,
    previous_mase: Option<f64>,
}

/// What the live summary of `seer up` shows; updated by the loop.
#[derive(Debug, Clone, Default)]
pub struct TrainerStatus {
    pub model: String,
    pub active: String,
    pub leader: bool,
    pub rounds: u64,
    pub promotions: u64,
    pub rollbacks: u64,
    pub last_round: String,
    /// (version, live MASE, scored points) of the model's versions, newest first.
    pub live: Vec<(String, Option<f64>, usize)>,
}

/// A handle on a running trainer's status.
pub type StatusHandle = Arc<std::sync::Mutex<TrainerStatus>>;

fn model_error(model: &str) -> impl Fn(seer_model::ModelError) -> TrainerError + '_ {
    move |e| TrainerError::Model {
        model: model.to_string(),
        message: e.to_string(),
    }
}

/// The model to tune: `trainer.model`, or the only checkpoint under `models_dir`.
fn model_name(config: &TrainerConfig) -> Result<String, TrainerError> {
    if !config.model.is_empty() {
        return Ok(config.model.clone());
    }
    let dir = config.models_dir.as_ref().ok_or_else(|| {
        TrainerError::Config("set trainer.model (or trainer.models_dir with one checkpoint)".into())
    })?;
    let names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| TrainerError::Config(format!("{}: {e}", dir.display())))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join(CONFIG_FILE).is_file())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    match names.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(TrainerError::Config(format!(
            "{} holds no checkpoint; set trainer.model",
            dir.display()
        ))),
        _ => Err(TrainerError::Config(format!(
            "{} holds several checkpoints ({}); set trainer.model",
            dir.display(),
            names.join(", ")
        ))),
    }
}

/// Where the trainer starts: the active version on the topic, else the models directory's
/// checkpoint (which becomes the root version once this trainer leads).
fn starting_files(
    config: &TrainerConfig,
    feed: &ModelsFeed,
    store: &DirStore,
    model: &str,
) -> Result<(CheckpointFiles, Option<VersionRecord>), TrainerError> {
    let recorded = feed.with(|v| {
        let a = v.active(model)?;
        v.version(model, &a.active).cloned()
    });
    if let Some(record) = recorded {
        let files = store
            .get(&record.location, &record.checksum)
            .map_err(|e| TrainerError::Config(e.to_string()))?;
        return Ok((files, Some(record)));
    }
    let dir = config
        .models_dir
        .as_ref()
        .map(|d| d.join(model))
        .ok_or_else(|| {
            TrainerError::Config(format!(
                "model {model:?} has no version on the models topic and trainer.models_dir is not set"
            ))
        })?;
    let read = |f: &str| {
        std::fs::read(dir.join(f))
            .map_err(|e| TrainerError::Config(format!("{}: {e}", dir.join(f).display())))
    };
    Ok((
        CheckpointFiles {
            config: read(CONFIG_FILE)?,
            weights: read(WEIGHTS_FILE)?,
        },
        None,
    ))
}

fn decode(model: &str, files: &CheckpointFiles) -> Result<(ModelConfig, Weights), TrainerError> {
    let config = parse_config(&files.config, model).map_err(model_error(model))?;
    let weights = Weights::from_safetensors(&files.weights).map_err(model_error(model))?;
    Ok((config, weights))
}

/// Runs the trainer until `shutdown`.
pub async fn run(
    config: TrainerConfig,
    ctx: Arc<GpuContext>,
    registry: &prometheus::Registry,
    ready: Readiness,
    status: StatusHandle,
    shutdown: CancellationToken,
) -> Result<(), TrainerError> {
    config.validate()?;
    let metrics = TrainerMetrics::new(registry)?;
    metrics.set_compute(&ctx.summary);
    let store = config
        .model_store
        .open()
        .ok_or_else(|| TrainerError::Config("model_store.dir is empty".into()))?;
    let health = KafkaHealth::new("trainer", &config.kafka);
    let topics = config.topics.clone();
    let feed = ModelsFeed::start(
        &config.kafka,
        &health,
        &topics.models,
        "seer-trainer-view",
        shutdown.clone(),
    )?;
    while !feed.wait_caught_up(Duration::from_secs(10)).await {
        if shutdown.is_cancelled() {
            return Ok(());
        }
        tracing::warn!(topic = %topics.models, "waiting to read the models topic");
    }
    let publisher = ModelsPublisher::new(&config.kafka, &health, &topics.models)?;
    let model = model_name(&config)?;
    let (files, record) = starting_files(&config, &feed, &store, &model)?;
    let version = content_version(&files.config, &files.weights);
    let (model_config, weights) = decode(&model, &files)?;
    let shape = Shape {
        freq: model_config.freq,
        context: model_config.context_length,
        horizon: model_config.horizon,
        season: season_for_freq(model_config.freq),
    };
    let opts = TrainOptions {
        learning_rate: config.learning_rate,
        weight_decay: config.weight_decay,
        max_grad_norm: config.max_grad_norm,
        seed: config.seed,
        ..TrainOptions::default()
    };
    let learner = {
        let (ctx, c, held) = (
            ctx.clone(),
            model_config.clone(),
            Held {
                version: version.clone(),
                weights,
            },
        );
        tokio::task::spawn_blocking(move || Learner::new(&ctx, c, held, &opts))
            .await
            .map_err(|e| TrainerError::Task(e.to_string()))?
            .map_err(model_error(&model))?
    };
    tracing::info!(
        model,
        version,
        kind = model_config.model.name(),
        "fine-tuning from"
    );

    let reader = Arc::new(reader(&config, &health)?);
    let rebuild_from = assign(
        &reader,
        &topics.observations,
        &topics.forecasts,
        config.rebuild_points,
        &shutdown,
    )
    .await?;
    let leadership = leadership(&config, &health)?;
    leadership.subscribe(&[&topics.models])?;
    let leadership = Arc::new(leadership);
    {
        // the group's heartbeats and rebalances run while the consumer is polled
        let (c, stop) = (leadership.clone(), shutdown.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = c.recv() => {}
                }
            }
        });
    }
    ready.set(true);
    let mut trainer = Trainer {
        state: StreamState::new(
            shape,
            config.score_window_points,
            config.drift_window_points,
            ReplayBuffer::new(config.replay_recent, config.replay_reservoir, config.seed),
            config.selection_rule(),
        ),
        schedule: Schedule {
            every_points: config.round_every_points,
            every: config.round_interval(),
            min_new_windows: config.min_new_windows,
            drift_ratio: config.drift_ratio,
            drift_points: config.drift_window_points,
        },
        root: record.is_none().then(|| (files, version.clone())),
        learner: Some(learner),
        job: None,
        watch: None,
        expected_active: None,
        leader: false,
        serving: version.clone(),
        last_round: Instant::now(),
        last_quality: Instant::now(),
        round_seq: 1,
        scored_since_round: 0,
        published_totals: Default::default(),
        counted_totals: Default::default(),
        ctx,
        store,
        feed,
        publisher,
        metrics,
        status,
        model,
        config,
        topics,
    };
    trainer.status_update();
    tracing::info!(observations_from = ?rebuild_from, "trainer reading");
    let mut tick = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => trainer.housekeeping(&leadership).await,
            m = reader.recv() => {
                match m {
                    Ok(m) => trainer.take(m.topic(), m.payload()),
                    Err(e) => {
                        tracing::debug!(error = %e, "trainer consumer");
                        continue;
                    }
                }
                // drain what is buffered without yielding per message
                for _ in 0..DRAIN_PER_TURN {
                    match tokio::time::timeout(Duration::ZERO, reader.recv()).await {
                        Ok(Ok(m)) => trainer.take(m.topic(), m.payload()),
                        _ => break,
                    }
                }
            }
        }
    }
    ready.set(false);
    if let Some(job) = trainer.job.take() {
        // a round on the GPU cannot be interrupted; it is short (steps × a batch)
        let _ = job.await;
    }
    Ok(())
}

type Reader = StreamConsumer<HealthContext>;

/// A round back from the blocking pool: the learner, what the round did, what started it.
type RoundDone = (
    Learner,
    Result<RoundOutcome, seer_model::ModelError>,
    Trigger,
);

fn reader(config: &TrainerConfig, health: &KafkaHealth) -> Result<Reader, TrainerError> {
    let mut c = config.kafka.client_config();
    KafkaHealth::configure(&mut c);
    // manual assignment; nothing is committed under this group
    c.set("group.id", format!("{}-reader", config.group_id))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "latest");
    Ok(config
        .kafka
        .apply_properties(&mut c)
        .create_with_context(health.context())?)
}

fn leadership(config: &TrainerConfig, health: &KafkaHealth) -> Result<Reader, TrainerError> {
    let mut c = config.kafka.client_config();
    KafkaHealth::configure(&mut c);
    c.set("group.id", &config.group_id)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "latest")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "1000");
    Ok(config
        .kafka
        .apply_properties(&mut c)
        .create_with_context(health.context())?)
}

/// Assigns every partition of both topics: observations from `rebuild` messages back (the
/// windows and the replay buffer are rebuilt from them), forecasts from now on. Returns where
/// each observations partition starts.
async fn assign(
    reader: &Arc<Reader>,
    observations: &str,
    forecasts: &str,
    rebuild: i64,
    shutdown: &CancellationToken,
) -> Result<Vec<(i32, i64)>, TrainerError> {
    let mut tpl = TopicPartitionList::new();
    let mut from = Vec::new();
    for (topic, back) in [(observations, Some(rebuild)), (forecasts, None)] {
        let Some(parts) = wait_for_partitions(reader, topic, shutdown).await else {
            return Ok(from);
        };
        for p in parts {
            let offset = match back {
                Some(back) => {
                    let (r, t) = (reader.clone(), topic.to_string());
                    let (low, high) = tokio::task::spawn_blocking(move || {
                        r.fetch_watermarks(&t, p, Duration::from_secs(10))
                    })
                    .await
                    .map_err(|e| TrainerError::Task(e.to_string()))??;
                    let start = (high - back.max(0)).max(low);
                    from.push((p, start));
                    Offset::Offset(start)
                }
                None => Offset::End,
            };
            tpl.add_partition_offset(topic, p, offset)?;
        }
    }
    reader.assign(&tpl)?;
    Ok(from)
}

struct Trainer {
    state: StreamState,
    schedule: Schedule,
    /// The models directory's checkpoint, registered as the root version once this trainer
    /// leads (when the topic records no version of the model yet).
    root: Option<(CheckpointFiles, String)>,
    /// Absent while a round runs on the blocking pool.
    learner: Option<Learner>,
    job: Option<JoinHandle<RoundDone>>,
    watch: Option<Watch>,
    /// The version this trainer just recorded active, until the feed reads it back: until then
    /// the feed's older record is not an activation made elsewhere.
    expected_active: Option<(String, i64)>,
    leader: bool,
    /// The version the learner tunes from (kept here too: the learner is away during a round).
    serving: String,
    last_round: Instant,
    last_quality: Instant,
    /// Replay windows from this `seq` on are new since the last round.
    round_seq: u64,
    scored_since_round: u64,
    /// Rolling totals already published / counted, per version.
    published_totals: std::collections::BTreeMap<String, u64>,
    counted_totals: std::collections::BTreeMap<(String, String), u64>,
    ctx: Arc<GpuContext>,
    store: DirStore,
    feed: ModelsFeed,
    publisher: ModelsPublisher,
    metrics: TrainerMetrics,
    status: StatusHandle,
    model: String,
    config: TrainerConfig,
    topics: seer_runtime::Topics,
}

impl Trainer {
    fn take(&mut self, topic: &str, payload: Option<&[u8]>) {
        let Some(payload) = payload else { return };
        if topic == self.topics.observations {
            // undecodable observations are the ingest's to dead-letter; here they are skipped
            let Ok(o) = decode_observation(payload) else {
                self.metrics
                    .observations_skipped_total
                    .with_label_values(&["undecodable"])
                    .inc();
                return;
            };
            let Some(ts) = o.timestamp else { return };
            match self.state.observe(&o.series_id, ts.seconds, o.value) {
                Ok(n) => self.scored_since_round += n as u64,
                Err(skip) => self
                    .metrics
                    .observations_skipped_total
                    .with_label_values(&[skip.label()])
                    .inc(),
            }
        } else if let Ok(f) = Forecast::decode(payload) {
            self.scored_since_round += self.state.forecast(&f) as u64;
        }
    }

    async fn housekeeping(&mut self, leadership: &Reader) {
        let leader = leadership
            .assignment()
            .map(|a| a.count() > 0)
            .unwrap_or(false);
        if leader != self.leader {
            tracing::info!(model = %self.model, leader, "trainer leadership");
            self.leader = leader;
            self.metrics.leader.set(i64::from(leader));
        }
        self.export_quality();
        self.state.select_for(&self.model, &self.serving);
        if self.job.as_ref().is_some_and(|j| j.is_finished()) {
            let job = self.job.take().expect("checked above");
            match job.await {
                Ok((learner, outcome, trigger)) => {
                    self.learner = Some(learner);
                    self.finish_round(outcome, trigger).await;
                }
                Err(e) => tracing::error!(error = %e, "fine-tuning round panicked"),
            }
        }
        if self.learner.is_some() {
            self.follow_topic().await;
        }
        if !self.leader {
            self.status_update();
            return;
        }
        if let Some((files, version)) = self.root.take()
            && let Err(e) = self.register_root(&files, &version).await
        {
            tracing::warn!(error = %e, "registering the root version; retrying");
            self.root = Some((files, version));
        }
        if self.last_quality.elapsed()
            >= Duration::from_secs(self.config.quality_interval_seconds.max(1))
        {
            self.publish_quality().await;
            self.last_quality = Instant::now();
        }
        self.check_watch().await;
        if self.learner.is_some() && self.root.is_none() {
            self.maybe_start_round();
        }
        self.status_update();
    }

    fn active_version(&self) -> Option<&str> {
        self.learner.as_ref().map(|l| l.active.version.as_str())
    }

    /// Gauges and counters from the rolling windows.
    fn export_quality(&mut self) {
        for ((model, version), rolling) in self.state.qualities() {
            let s = rolling.summary();
            let labels = [model.as_str(), version.as_str()];
            let set = |g: &prometheus::GaugeVec, v: Option<f64>| {
                if let Some(v) = v {
                    g.with_label_values(&labels).set(v);
                }
            };
            set(&self.metrics.live_mase, s.mase);
            set(&self.metrics.live_wql, s.wql);
            set(&self.metrics.live_coverage_80, s.coverage_80);
            let counted = self
                .counted_totals
                .entry((model.clone(), version.clone()))
                .or_default();
            if rolling.total > *counted {
                self.metrics
                    .scored_points_total
                    .with_label_values(&labels)
                    .inc_by(rolling.total - *counted);
                *counted = rolling.total;
            }
        }
        self.metrics
            .replay_windows
            .with_label_values(&["recent"])
            .set(self.state.replay.recent_len() as i64);
        self.metrics
            .replay_windows
            .with_label_values(&["reservoir"])
            .set(self.state.replay.reservoir_len() as i64);
        self.metrics.series.set(self.state.series_count() as i64);
    }

    async fn publish(&self, record: ModelRecord) -> Result<(), TrainerError> {
        Ok(self.publisher.publish(&record).await?)
    }

    async fn register_root(
        &self,
        files: &CheckpointFiles,
        version: &str,
    ) -> Result<(), TrainerError> {
        if self.feed.with(|v| v.active(&self.model).is_some()) {
            return Ok(()); // another trainer registered one meanwhile
        }
        let location = self
            .store
            .put(&self.model, version, files)
            .map_err(|e| TrainerError::Config(e.to_string()))?;
        self.publish(ModelRecord::Version(VersionRecord {
            model: self.model.clone(),
            version: version.to_string(),
            parent: String::new(),
            location,
            checksum: checksum(files),
            metrics: None,
            created_at_ms: now_ms(),
            reason: "root: the models directory's checkpoint".into(),
        }))
        .await?;
        self.publish(ModelRecord::Active(ActiveRecord {
            model: self.model.clone(),
            active: version.to_string(),
            previous: String::new(),
            at_ms: now_ms(),
            reason: "root: the models directory's checkpoint".into(),
        }))
        .await?;
        tracing::info!(model = %self.model, version, "registered the root version");
        Ok(())
    }

    async fn publish_quality(&mut self) {
        let mut records = Vec::new();
        for ((model, version), rolling) in self.state.qualities() {
            if *model != self.model
                || self.published_totals.get(version).copied() == Some(rolling.total)
            {
                continue;
            }
            let s = rolling.summary();
            records.push((
                version.clone(),
                rolling.total,
                QualityRecord {
                    model: model.clone(),
                    version: version.clone(),
                    mase: s.mase,
                    wql: s.wql,
                    coverage_80: s.coverage_80,
                    scored_points: s.points as u64,
                    at_ms: now_ms(),
                },
            ));
        }
        for (version, total, q) in records {
            match self.publish(ModelRecord::Quality(q)).await {
                Ok(()) => {
                    self.published_totals.insert(version, total);
                }
                Err(e) => tracing::warn!(error = %e, "publishing live quality"),
            }
        }
    }

    /// Follows an activation made elsewhere (Models.Activate, Rollback, another trainer).
    async fn follow_topic(&mut self) {
        let Some((active, at_ms)) = self
            .feed
            .with(|v| v.active(&self.model).map(|a| (a.active.clone(), a.at_ms)))
        else {
            return;
        };
        // our own record, or one written after it (an operator's Activate right after a
        // promotion), ends the wait; an older one is what we just replaced
        if let Some((expected, written_at)) = &self.expected_active {
            if *expected != active && at_ms < *written_at {
                return;
            }
            self.expected_active = None;
        }
        let Some(learner) = self.learner.as_mut() else {
            return;
        };
        if active == learner.active.version {
            return;
        }
        let held = if learner
            .previous
            .as_ref()
            .is_some_and(|p| p.version == active)
        {
            learner
                .previous
                .clone()
                .map(|h| (h, learner.previous_naive_series().to_vec()))
        } else {
            let Some(record) = self.feed.with(|v| v.version(&self.model, &active).cloned()) else {
                return;
            };
            match self.store.get(&record.location, &record.checksum) {
                Ok(files) => match decode(&self.model, &files) {
                    Ok((config, weights)) => Some((
                        Held {
                            version: active.clone(),
                            weights,
                        },
                        config.seasonal_naive_series,
                    )),
                    Err(e) => {
                        tracing::error!(version = %active, error = %e, "active version does not load; tuning the one before");
                        None
                    }
                },
                Err(e) => {
                    tracing::error!(version = %active, error = %e, "active version refused");
                    None
                }
            }
        };
        let Some((held, naive_series)) = held else {
            return;
        };
        if let Err(e) = learner.adopt(&self.ctx, held, naive_series) {
            tracing::error!(error = %e, "adopting the active version");
            return;
        }
        tracing::info!(model = %self.model, version = %active, "fine-tuning from the version the models topic names active");
        self.serving = active.clone();
        self.watch = None;
        self.metrics.active_info.reset();
        self.metrics
            .active_info
            .with_label_values(&[self.model.as_str(), active.as_str()])
            .set(1);
    }

    fn maybe_start_round(&mut self) {
        let active = self.active_version().map(str::to_string);
        let summary = active
            .as_deref()
            .and_then(|v| self.state.quality(&self.model, v))
            .map(|r| r.summary());
        let new = self.state.replay.since(self.round_seq).len();
        let Some(trigger) = self.schedule.due(
            self.scored_since_round,
            self.last_round.elapsed(),
            new,
            summary.as_ref(),
        ) else {
            return;
        };
        let input = self.round_input();
        let Some(mut learner) = self.learner.take() else {
            return;
        };
        let ctx = self.ctx.clone();
        tracing::info!(
            model = %self.model, trigger = trigger.label(),
            train = input.train.len(), holdout = input.holdout.len(),
            "fine-tuning round"
        );
        self.job = Some(tokio::task::spawn_blocking(move || {
            let outcome = learner.round(&ctx, &input);
            (learner, outcome, trigger)
        }));
        self.last_round = Instant::now();
        self.scored_since_round = 0;
        self.state.take_scored();
    }

    /// New windows since the last round: the newest are held out, the rest trained on with a
    /// share of replayed older ones.
    fn round_input(&mut self) -> RoundInput {
        let new: Vec<_> = self
            .state
            .replay
            .since(self.round_seq)
            .into_iter()
            .cloned()
            .collect();
        let cut = self.round_seq;
        self.round_seq = self.state.replay.next_seq();
        let holdout_n = self.config.holdout_windows.min(new.len() / 2).max(1);
        let (train_new, holdout) = new.split_at(new.len() - holdout_n);
        let f = self.config.new_fraction.clamp(0.05, 1.0);
        let replayed_n = ((train_new.len() as f64) * (1.0 - f) / f).round() as usize;
        let replayed = self.state.replay.sample_older(cut, replayed_n);
        let train = train_new
            .iter()
            .chain(replayed.iter())
            .map(|s| s.history())
            .collect();
        let shape = self.state.shape();
        // the holdout forecasts start from each window's last context + horizon points
        let keep = shape.context + shape.horizon;
        let holdout = holdout
            .iter()
            .map(|s| {
                let mut h = s.history();
                let drop = h.values.len().saturating_sub(keep);
                h.values.drain(..drop);
                h.timestamps.drain(..drop);
                h
            })
            .collect();
        let listed = if self.config.select_baseline {
            self.live_naive_series()
                .0
                .into_iter()
                .map(|id| {
                    let w = self.state.latest_history(&id, shape.window_len());
                    (id, w)
                })
                .collect()
        } else {
            Vec::new()
        };
        RoundInput {
            train,
            holdout,
            listed,
            steps: self.config.steps,
            batch_size: self.config.batch_size,
            margin: self.config.promote_margin,
            season: shape.season,
            seed: self.config.seed,
        }
    }

    async fn finish_round(
        &mut self,
        outcome: Result<RoundOutcome, seer_model::ModelError>,
        trigger: Trigger,
    ) {
        let count = |m: &TrainerMetrics, outcome: &str| {
            m.rounds_total
                .with_label_values(&[trigger.label(), outcome])
                .inc()
        };
        let o = match outcome {
            Ok(o) => o,
            Err(e) => {
                count(&self.metrics, "failed");
                tracing::warn!(model = %self.model, error = %e, "fine-tuning round failed");
                self.set_last_round(format!("failed: {e}"));
                return;
            }
        };
        self.metrics.round_seconds.observe(o.seconds);
        self.metrics.skipped_steps_total.inc_by(o.skipped as u64);
        let summary = |s: &Option<seer_core::metrics::AccuracySummary>| {
            s.as_ref().map_or((f64::NAN, f64::NAN), |s| {
                (s.mase.unwrap_or(f64::NAN), mean_wql(s).unwrap_or(f64::NAN))
            })
        };
        let (cm, cw) = summary(&o.candidate_score);
        let (am, aw) = summary(&o.active_score);
        let still_active = self.active_version() == Some(o.parent.as_str());
        let verdict = if still_active || o.verdict != Verdict::Promote {
            o.verdict.clone()
        } else {
            Verdict::Worse("the active version changed during the round".into())
        };
        let Verdict::Promote = verdict else {
            if let Some(l) = self.learner.as_mut()
                && let Err(e) = l.discard(&self.ctx)
            {
                tracing::error!(error = %e, "restoring the active weights");
            }
            count(&self.metrics, verdict.label());
            let why = match &verdict {
                Verdict::Worse(w) | Verdict::Undefined(w) => w.clone(),
                Verdict::Promote => unreachable!("handled above"),
            };
            tracing::info!(model = %self.model, trigger = trigger.label(), "candidate discarded: {why}");
            self.set_last_round(format!(
                "{} after {}: {why}",
                verdict.label(),
                trigger.label()
            ));
            if self.config.select_baseline && still_active {
                self.relist().await;
            }
            return;
        };
        let Some(weights) = o.candidate else { return };
        let naive_series = if self.config.select_baseline {
            o.naive_series
        } else {
            self.learner
                .as_ref()
                .map(|l| l.config.seasonal_naive_series.clone())
                .unwrap_or_default()
        };
        match self
            .promote(
                &o.parent,
                &weights,
                trigger,
                (cm, cw, am, aw),
                o.active_score.as_ref().map_or(0, |s| s.count),
                naive_series,
            )
            .await
        {
            Ok(version) => {
                count(&self.metrics, "promoted");
                self.set_last_round(format!(
                    "promoted {version} after {}: holdout MASE {am:.3} → {cm:.3}, wQL {aw:.3} → {cw:.3}",
                    trigger.label()
                ));
            }
            Err(e) => {
                count(&self.metrics, "failed");
                tracing::error!(model = %self.model, error = %e, "recording a promotion failed; the active version stays");
                if let Some(l) = self.learner.as_mut() {
                    let _ = l.discard(&self.ctx);
                }
                self.set_last_round(format!("failed to record a promotion: {e}"));
            }
        }
    }

    async fn promote(
        &mut self,
        parent: &str,
        weights: &Weights,
        trigger: Trigger,
        (cm, cw, am, aw): (f64, f64, f64, f64),
        windows: usize,
        naive_series: Vec<String>,
    ) -> Result<String, TrainerError> {
        let reason = format!(
            "{}: holdout MASE {am:.4} → {cm:.4}, wQL {aw:.4} → {cw:.4} over {windows} windows",
            trigger.label()
        );
        let gate = GateMetrics {
            mase: cm,
            wql: cw,
            parent_mase: am,
            parent_wql: aw,
            windows,
        };
        let version = self
            .publish_version(parent, weights, naive_series, Some(gate), reason)
            .await?;
        if let Ok(mut s) = self.status.lock() {
            s.promotions += 1;
        }
        Ok(version)
    }

    /// Writes `weights` with `naive_series` as a new version of the model, records it on the
    /// models topic and makes it active; the learner, the watch and the gauges follow it.
    async fn publish_version(
        &mut self,
        parent: &str,
        weights: &Weights,
        naive_series: Vec<String>,
        gate: Option<GateMetrics>,
        reason: String,
    ) -> Result<String, TrainerError> {
        let learner = self
            .learner
            .as_ref()
            .ok_or_else(|| TrainerError::Task("no learner".into()))?;
        let config = seer_model::ModelConfig {
            seasonal_naive_series: naive_series.clone(),
            ..learner.config.clone()
        };
        let (config_bytes, weights_bytes) =
            seer_model::checkpoint::checkpoint_bytes(&config, weights)
                .map_err(model_error(&self.model))?;
        let files = CheckpointFiles {
            config: config_bytes,
            weights: weights_bytes,
        };
        let version = content_version(&files.config, &files.weights);
        let location = self
            .store
            .put(&self.model, &version, &files)
            .map_err(|e| TrainerError::Config(e.to_string()))?;
        self.publish(ModelRecord::Version(VersionRecord {
            model: self.model.clone(),
            version: version.clone(),
            parent: parent.to_string(),
            location,
            checksum: checksum(&files),
            metrics: gate,
            created_at_ms: now_ms(),
            reason: reason.clone(),
        }))
        .await?;
        let activated_at = now_ms();
        self.publish(ModelRecord::Active(ActiveRecord {
            model: self.model.clone(),
            active: version.clone(),
            previous: parent.to_string(),
            at_ms: activated_at,
            reason: format!("by the trainer ({reason})"),
        }))
        .await?;
        let previous_mase = self
            .state
            .quality(&self.model, parent)
            .and_then(|r| r.summary().mase);
        if let Some(l) = self.learner.as_mut() {
            l.commit(version.clone(), weights.clone(), naive_series);
        }
        self.expected_active = Some((version.clone(), activated_at));
        self.serving = version.clone();
        self.watch = Some(Watch {
            version: version.clone(),
            previous: parent.to_string(),
            previous_mase,
        });
        self.metrics.active_info.reset();
        self.metrics
            .active_info
            .with_label_values(&[self.model.as_str(), version.as_str()])
            .set(1);
        tracing::info!(model = %self.model, version, parent, "active ({reason})");
        Ok(version)
    }

    /// The active version's `seasonal_naive_series` and the series live scores say the naive
    /// should take, sorted; and those of them not listed yet.
    fn live_naive_series(&self) -> (Vec<String>, Vec<String>) {
        let current: std::collections::BTreeSet<&String> = self
            .learner
            .iter()
            .flat_map(|l| &l.config.seasonal_naive_series)
            .collect();
        let added: Vec<String> = self
            .state
            .naive_better()
            .into_iter()
            .filter(|id| !current.contains(id))
            .collect();
        let mut all: Vec<String> = current.into_iter().cloned().chain(added.clone()).collect();
        all.sort_unstable();
        (all, added)
    }

    /// After a round that promoted nothing: when live scores say the seasonal naive should
    /// take series the active version answers, the active weights are published again with
    /// them in its `seasonal_naive_series` (the weights are the gated ones, unchanged; only
    /// which series they answer changes, on live evidence per series).
    async fn relist(&mut self) {
        let (list, added) = self.live_naive_series();
        let Some(learner) = self.learner.as_ref().filter(|_| !added.is_empty()) else {
            return;
        };
        let (parent, weights) = (
            learner.active.version.clone(),
            learner.active.weights.clone(),
        );
        let reason = format!(
            "selection: {} series to seasonal_naive, whose live quantile loss beat this version's ({})",
            added.len(),
            preview(&added)
        );
        match self
            .publish_version(&parent, &weights, list, None, reason)
            .await
        {
            Ok(version) => {
                self.metrics.relists_total.inc();
                self.set_last_round(format!(
                    "relisted as {version}: {} more series to seasonal_naive",
                    added.len()
                ));
            }
            Err(e) => {
                tracing::error!(model = %self.model, error = %e, "recording a selection failed")
            }
        }
    }

    /// Rolls a promotion back once it has scored enough points worse than its parent did.
    async fn check_watch(&mut self) {
        let Some(w) = &self.watch else { return };
        let Some(s) = self
            .state
            .quality(&self.model, &w.version)
            .map(|r| r.summary())
        else {
            return;
        };
        // the previous version's window as it stands: forecasts it issued before the swap are
        // still being scored, and a promotion soon after start may have found none scored yet
        let previous_mase = self
            .state
            .quality(&self.model, &w.previous)
            .and_then(|r| r.summary().mase)
            .or(w.previous_mase);
        match rollback_due(
            &s,
            previous_mase,
            self.config.rollback_points,
            self.config.rollback_margin,
        ) {
            None if s.points >= self.config.rollback_points && previous_mase.is_none() => {
                tracing::info!(model = %self.model, version = %w.version, "no live score of the previous version to compare with; the promotion stands");
                self.watch = None;
            }
            None => {}
            Some(false) => {
                tracing::info!(model = %self.model, version = %w.version, mase = ?s.mase, previous = ?previous_mase, "promotion holds up live");
                self.watch = None;
            }
            Some(true) => {
                let reason = format!(
                    "automatic rollback: live MASE {:.4} of {} over {} points is worse than {:.4} of {}",
                    s.mase.unwrap_or(f64::NAN),
                    w.version,
                    s.points,
                    previous_mase.unwrap_or(f64::NAN),
                    w.previous
                );
                let previous = w.previous.clone();
                let rolled_back_at = now_ms();
                let record = ModelRecord::Active(ActiveRecord {
                    model: self.model.clone(),
                    active: w.previous.clone(),
                    previous: w.version.clone(),
                    at_ms: rolled_back_at,
                    reason: reason.clone(),
                });
                match self.publish(record).await {
                    Ok(()) => {
                        tracing::warn!(model = %self.model, "{reason}");
                        self.metrics
                            .rollbacks_total
                            .with_label_values(&[self.model.as_str()])
                            .inc();
                        if let Ok(mut st) = self.status.lock() {
                            st.rollbacks += 1;
                        }
                        if let Ok(mut st) = self.status.lock() {
                            st.last_round = reason;
                        }
                        // follow_topic adopts the previous version once the record is read back
                        self.expected_active = Some((previous, rolled_back_at));
                        self.watch = None;
                    }
                    Err(e) => tracing::error!(error = %e, "publishing a rollback; retrying"),
                }
            }
        }
    }

    fn set_last_round(&self, text: String) {
        if let Some(l) = self.learner.as_ref() {
            self.metrics
                .baseline_series
                .set(l.config.seasonal_naive_series.len() as i64);
        }
        if let Ok(mut s) = self.status.lock() {
            s.rounds += 1;
            s.last_round = text;
        }
    }

    fn status_update(&self) {
        let Ok(mut s) = self.status.lock() else {
            return;
        };
        s.model = self.model.clone();
        s.active = self.serving.clone();
        s.leader = self.leader;
        let mut live: Vec<(String, Option<f64>, usize, u64)> = self
            .state
            .qualities()
            .filter(|((m, _), _)| *m == self.model)
            .map(|((_, v), r)| {
                let q = r.summary();
                (v.clone(), q.mase, q.points, r.total)
            })
            .collect();
        live.sort_by_key(|x| std::cmp::Reverse(x.3));
        s.live = live.into_iter().map(|(v, m, p, _)| (v, m, p)).collect();
    }
}

/// The first few of `ids`, for a log line or a record's reason.
fn preview(ids: &[String]) -> String {
    const SHOWN: usize = 5;
    let head = ids[..ids.len().min(SHOWN)].join(", ");
    if ids.len() > SHOWN {
        format!("{head}, … {} more", ids.len() - SHOWN)
    } else {
        head
    }
}
