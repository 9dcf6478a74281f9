//! The ingest loop: one task owns all per-series state (windows, due series, offsets), so no
//! locks; engine calls and Kafka deliveries run in spawned tasks and report back over a channel.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::future::join_all;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Header, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use seer_core::stream::{DueTracker, OffsetTracker, SeriesKey, WindowStore};
use seer_proto::convert::{decode_observation, seconds, timestamp};
use seer_proto::v1::engine_client::EngineClient;
use seer_proto::v1::{ForecastBatchRequest, SeriesWindow};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

use crate::{IngestConfig, IngestError, IngestMetrics};

/// What spawned work and the consumer's rebalance callbacks tell the loop.
enum Event {
    /// A batch's forecasts are in Kafka: finish every message of these series up to the offset.
    Delivered {
        series: Vec<(SeriesKey, i64, Instant)>,
    },
    /// A dead letter is in Kafka.
    DeadLettered {
        partition: i32,
        offset: i64,
    },
    Assigned(Vec<i32>),
    Revoked(Vec<i32>),
}

struct RebalanceContext {
    topic: String,
    events: mpsc::UnboundedSender<Event>,
}

impl ClientContext for RebalanceContext {}

impl ConsumerContext for RebalanceContext {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            let parts = partitions_of(tpl, &self.topic);
            let _ = self.events.send(Event::Revoked(parts));
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            let parts = partitions_of(tpl, &self.topic);
            let _ = self.events.send(Event::Assigned(parts));
        }
    }
}

fn partitions_of(tpl: &TopicPartitionList, topic: &str) -> Vec<i32> {
    tpl.elements()
        .iter()
        .filter(|e| e.topic() == topic)
        .map(|e| e.partition())
        .collect()
}

fn kafka_config(config: &IngestConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &config.brokers);
    for (k, v) in &config.kafka {
        c.set(k, v);
    }
    c
}

fn now_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

struct State {
    config: IngestConfig,
    metrics: IngestMetrics,
    store: WindowStore,
    due: DueTracker,
    offsets: OffsetTracker,
    /// Newest offset and first-seen time of each series' points not yet in a dispatched batch.
    latest: HashMap<SeriesKey, (i64, Instant)>,
    assigned: HashSet<i32>,
    dirty: HashSet<i32>,
}

/// Runs the ingest until `shutdown` is cancelled.
pub async fn run(
    config: IngestConfig,
    metrics: IngestMetrics,
    ready: seer_server::Readiness,
    shutdown: CancellationToken,
) -> Result<(), IngestError> {
    config.policy.validate()?;
    if config.max_in_flight == 0 {
        return Err(IngestError::Config(
            "max_in_flight must be at least 1".into(),
        ));
    }
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let mut consumer_config = kafka_config(&config);
    // librdkafka's defaults are tuned for throughput of idle-tolerant consumers: a full prefetch
    // queue pauses fetching for 1 s and an empty fetch waits 500 ms, both straight into latency
    consumer_config
        .set("fetch.queue.backoff.ms", "10")
        .set("fetch.wait.max.ms", "20");
    for (k, v) in &config.kafka {
        consumer_config.set(k, v);
    }
    let consumer: StreamConsumer<RebalanceContext> = consumer_config
        .set("group.id", &config.group_id)
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "200")
        // offsets are stored by the loop only once their output is delivered
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        .create_with_context(RebalanceContext {
            topic: config.observations_topic.clone(),
            events: events_tx.clone(),
        })?;
    consumer.subscribe(&[&config.observations_topic])?;
    let producer: FutureProducer = kafka_config(&config)
        .set("enable.idempotence", "true")
        .set("linger.ms", "2")
        .set("message.timeout.ms", "30000")
        .create()?;
    let channel = Channel::from_shared(config.engine.clone())
        .map_err(|e| IngestError::Engine {
            endpoint: config.engine.clone(),
            message: e.to_string(),
        })?
        .connect_timeout(Duration::from_secs(2))
        .connect_lazy();
    let engine = EngineClient::new(channel).max_decoding_message_size(64 << 20);
    let mut state = State {
        store: WindowStore::new(
            config.freq_rules.clone(),
            config.default_freq,
            config.window,
        )?,
        due: DueTracker::new(config.policy)?,
        offsets: OffsetTracker::new(),
        latest: HashMap::new(),
        assigned: HashSet::new(),
        dirty: HashSet::new(),
        metrics,
        config,
    };
    let in_flight = Arc::new(tokio::sync::Semaphore::new(state.config.max_in_flight));
    let mut lag_tick = tokio::time::interval(Duration::from_secs(2));
    let positions: Arc<std::sync::Mutex<Vec<(i32, i64)>>> = Arc::default();
    spawn_lag_reporter(
        &state.config,
        state.metrics.clone(),
        positions.clone(),
        shutdown.clone(),
    );
    ready.set(true);
    loop {
        let deadline = state.due.next_deadline();
        let consume = state.due.due_count() < state.config.max_due;
        tokio::select! {
            _ = shutdown.cancelled() => break,
            msg = consumer.recv(), if consume => match msg {
                Ok(m) => {
                    // rebalance callbacks run inside recv: apply an assignment (and rebuild its
                    // windows) before the first message of the newly assigned partitions
                    while let Ok(ev) = events.try_recv() {
                        state.handle(ev, &consumer).await;
                    }
                    state.on_message(&m, &producer, &events_tx)
                }
                Err(e) => tracing::warn!(error = %e, "consumer error"),
            },
            Some(ev) = events.recv() => state.handle(ev, &consumer).await,
            _ = sleep_until(deadline), if deadline.is_some() => {}
            _ = lag_tick.tick() => state.share_positions(&consumer, &positions),
        }
        // drain whatever else is ready before dispatching, so batches fill
        while let Ok(ev) = events.try_recv() {
            state.handle(ev, &consumer).await;
        }
        state.dispatch(&in_flight, &engine, &producer, &events_tx, &shutdown);
        state.store_offsets(&consumer);
    }
    ready.set(false);
    // let in-flight batches finish (or give up with the shutdown) and store what they finished
    let _ = tokio::time::timeout(
        Duration::from_secs(5),
        in_flight.acquire_many(state.config.max_in_flight as u32),
    )
    .await;
    while let Ok(ev) = events.try_recv() {
        state.on_event(ev);
    }
    state.store_offsets(&consumer);
    if let Err(e) = consumer.commit_consumer_state(rdkafka::consumer::CommitMode::Sync) {
        tracing::debug!(error = %e, "final commit");
    }
    Ok(())
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}

impl State {
    async fn handle(&mut self, ev: Event, consumer: &StreamConsumer<RebalanceContext>) {
        let assigned = match &ev {
            Event::Assigned(parts) => parts.clone(),
            _ => Vec::new(),
        };
        self.on_event(ev);
        if !assigned.is_empty() {
            self.rebuild(consumer, &assigned).await;
        }
    }

    /// Re-reads up to `rebuild_messages` messages before each newly assigned partition's
    /// committed offset into the windows only (no forecasts, no offsets, no dead letters), so the
    /// new owner forecasts from full windows, as the previous owner did.
    async fn rebuild(&mut self, consumer: &StreamConsumer<RebalanceContext>, parts: &[i32]) {
        let topic = self.config.observations_topic.clone();
        let mut tpl = TopicPartitionList::new();
        for &p in parts {
            tpl.add_partition(&topic, p);
        }
        let committed = match consumer.committed_offsets(tpl, Duration::from_secs(5)) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "committed offsets unknown; windows start empty (flagged partial)");
                for &p in parts {
                    self.store.mark_partition_rebuilt(p);
                }
                return;
            }
        };
        let mut ranges = Vec::new();
        for e in committed.elements() {
            // no committed offset: this group reads the partition from its start and misses
            // nothing, so its windows are not partial
            let Offset::Offset(end) = e.offset() else {
                continue;
            };
            let low = consumer
                .fetch_watermarks(&topic, e.partition(), Duration::from_secs(5))
                .map(|(low, _)| low)
                .unwrap_or(0);
            if end <= low {
                continue;
            }
            // history before the committed offset exists: until a window holds the points the
            // model reads, its forecasts say partial_window
            self.store.mark_partition_rebuilt(e.partition());
            let start = low.max(end - self.config.rebuild_messages);
            if start < end && self.config.rebuild_messages > 0 {
                ranges.push((e.partition(), start, end));
            }
        }
        if ranges.is_empty() {
            return;
        }
        let config = kafka_config(&self.config);
        let started = Instant::now();
        let read = tokio::task::spawn_blocking(move || replay(config, topic, ranges)).await;
        match read {
            Ok(Ok(points)) => {
                let n = points.len();
                for (p, id, ts, value) in points {
                    // a point the live path would dead-letter is skipped here: it already was
                    let _ = self.store.observe(p, &id, ts, value);
                }
                self.metrics.windows.set(self.store.series_count() as i64);
                tracing::info!(
                    points = n,
                    seconds = started.elapsed().as_secs_f64(),
                    "windows rebuilt from the topic"
                );
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "rebuilding windows failed; they start empty (flagged partial)")
            }
            Err(e) => tracing::warn!(error = %e, "rebuild task failed"),
        }
    }

    fn on_message(
        &mut self,
        m: &BorrowedMessage<'_>,
        producer: &FutureProducer,
        events: &mpsc::UnboundedSender<Event>,
    ) {
        let (partition, offset) = (m.partition(), m.offset());
        self.offsets.track(partition, offset);
        let payload = m.payload().unwrap_or_default();
        let reason = if payload.len() > self.config.max_message_bytes {
            Some("oversized")
        } else {
            match decode_observation(payload) {
                Err(e) => Some(e.reason()),
                Ok(obs) => self.place(m, partition, offset, obs),
            }
        };
        if let Some(reason) = reason {
            self.dead_letter(m, reason, producer, events);
        }
    }

    /// Places a decoded observation; returns the dead-letter reason when it has no place.
    fn place(
        &mut self,
        m: &BorrowedMessage<'_>,
        partition: i32,
        offset: i64,
        obs: seer_proto::v1::Observation,
    ) -> Option<&'static str> {
        if let Some(key) = m.key()
            && key != obs.series_id.as_bytes()
        {
            return Some("key_mismatch");
        }
        let ts = obs.timestamp.as_ref().map(seconds).unwrap_or(0);
        if ts > now_seconds() + self.config.max_future.as_secs() as i64 {
            return Some("future_timestamp");
        }
        if let Err(rejection) = self.store.observe(partition, &obs.series_id, ts, obs.value) {
            return Some(rejection.reason());
        }
        self.metrics.observations.inc();
        self.offsets.attach(partition, offset, &obs.series_id);
        let key = SeriesKey::new(partition, obs.series_id);
        let now = Instant::now();
        self.latest
            .entry(key.clone())
            .and_modify(|e| e.0 = offset)
            .or_insert((offset, now));
        self.due.note_point(&key, now);
        None
    }

    fn dead_letter(
        &mut self,
        m: &BorrowedMessage<'_>,
        reason: &'static str,
        producer: &FutureProducer,
        events: &mpsc::UnboundedSender<Event>,
    ) {
        self.metrics.dead_letters.with_label_values(&[reason]).inc();
        let (partition, offset) = (m.partition(), m.offset());
        let payload = m.payload().map(|p| p.to_vec()).unwrap_or_default();
        let key = m.key().map(|k| k.to_vec());
        let topic = self.config.dlq_topic.clone();
        let source = format!("{}/{}/{}", m.topic(), partition, offset);
        let (producer, events) = (producer.clone(), events.clone());
        tokio::spawn(async move {
            loop {
                let headers = OwnedHeaders::new()
                    .insert(Header {
                        key: "seer-reason",
                        value: Some(reason),
                    })
                    .insert(Header {
                        key: "seer-source",
                        value: Some(source.as_str()),
                    });
                let mut record = FutureRecord::to(&topic).payload(&payload).headers(headers);
                if let Some(k) = &key {
                    record = record.key(k);
                }
                match producer.send(record, Duration::from_secs(5)).await {
                    Ok(_) => break,
                    Err((e, _)) => {
                        tracing::warn!(error = %e, "dead letter not delivered; retrying");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
            let _ = events.send(Event::DeadLettered { partition, offset });
        });
    }

    fn on_event(&mut self, ev: Event) {
        match ev {
            Event::Delivered { series } => {
                for (key, offset, first_seen) in series {
                    if self.assigned.contains(&key.partition) {
                        self.offsets
                            .finish_series_up_to(key.partition, &key.series_id, offset);
                        self.dirty.insert(key.partition);
                    }
                    self.metrics
                        .forecast_latency
                        .observe(first_seen.elapsed().as_secs_f64());
                }
            }
            Event::DeadLettered { partition, offset } => {
                if self.offsets.finish(partition, offset) {
                    self.dirty.insert(partition);
                }
            }
            Event::Assigned(parts) => {
                self.metrics
                    .rebalances
                    .with_label_values(&["assigned"])
                    .inc_by(parts.len() as u64);
                for p in parts {
                    self.assigned.insert(p);
                }
            }
            Event::Revoked(parts) => {
                self.metrics
                    .rebalances
                    .with_label_values(&["revoked"])
                    .inc_by(parts.len() as u64);
                for p in parts {
                    self.assigned.remove(&p);
                    self.store.drop_partition(p);
                    self.due.drop_partition(p);
                    self.offsets.drop_partition(p);
                    self.latest.retain(|k, _| k.partition != p);
                    self.dirty.remove(&p);
                }
            }
        }
        self.metrics.windows.set(self.store.series_count() as i64);
    }

    fn dispatch(
        &mut self,
        in_flight: &Arc<tokio::sync::Semaphore>,
        engine: &EngineClient<Channel>,
        producer: &FutureProducer,
        events: &mpsc::UnboundedSender<Event>,
        shutdown: &CancellationToken,
    ) {
        loop {
            let Ok(permit) = in_flight.clone().try_acquire_owned() else {
                break;
            };
            let Some(keys) = self.due.take_batch(Instant::now()) else {
                break;
            };
            let mut windows = Vec::with_capacity(keys.len());
            let mut series = Vec::with_capacity(keys.len());
            for key in keys {
                let (Some(entry), Some((offset, seen))) = (
                    self.store.entry(key.partition, &key.series_id),
                    self.latest.remove(&key),
                ) else {
                    continue;
                };
                let w = entry.window();
                windows.push(SeriesWindow {
                    series_id: key.series_id.clone(),
                    start: w.first_timestamp().map(timestamp),
                    freq_seconds: self.store.freq_for(&key.series_id),
                    values: w.values(),
                    partial: entry.is_partial(),
                });
                series.push((key, offset, seen));
            }
            if windows.is_empty() {
                continue;
            }
            self.metrics.batch_series.observe(windows.len() as f64);
            let request = ForecastBatchRequest {
                model: self.config.model.clone(),
                windows,
                horizon: self.config.horizon,
                quantiles: self.config.quantiles.clone(),
                ..Default::default()
            };
            let job = Job {
                engine: engine.clone(),
                producer: producer.clone(),
                events: events.clone(),
                shutdown: shutdown.clone(),
                metrics: self.metrics.clone(),
                topic: self.config.forecasts_topic.clone(),
                timeout: self.config.engine_timeout,
            };
            tokio::spawn(async move {
                job.run(request, series).await;
                drop(permit);
            });
        }
        self.metrics.due_series.set(self.due.due_count() as i64);
    }

    fn store_offsets(&mut self, consumer: &StreamConsumer<RebalanceContext>) {
        if self.dirty.is_empty() {
            return;
        }
        let mut tpl = TopicPartitionList::new();
        for p in self.dirty.drain() {
            if let Some(next) = self.offsets.committable(p)
                && let Err(e) = tpl.add_partition_offset(
                    &self.config.observations_topic,
                    p,
                    Offset::Offset(next),
                )
            {
                tracing::warn!(error = %e, partition = p, "offset not stored");
            }
        }
        if tpl.count() > 0
            && let Err(e) = consumer.store_offsets(&tpl)
        {
            // a partition revoked meanwhile: its new owner redoes the unfinished work
            tracing::debug!(error = %e, "storing offsets");
        }
    }

    /// Positions are local to the consumer (no broker round trip); the lag reporter pairs them
    /// with watermarks on its own connection.
    fn share_positions(
        &self,
        consumer: &StreamConsumer<RebalanceContext>,
        shared: &std::sync::Mutex<Vec<(i32, i64)>>,
    ) {
        let Ok(positions) = consumer.position() else {
            return;
        };
        let list = positions
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(pos) => Some((e.partition(), pos)),
                _ => None,
            })
            .collect();
        if let Ok(mut g) = shared.lock() {
            *g = list;
        }
    }
}

/// Reports consumer lag from a thread with its own client: watermark queries on the main
/// consumer's connection would queue behind its long-polling fetch and stall the loop.
fn spawn_lag_reporter(
    config: &IngestConfig,
    metrics: IngestMetrics,
    positions: Arc<std::sync::Mutex<Vec<(i32, i64)>>>,
    shutdown: CancellationToken,
) {
    let client: Result<BaseConsumer, _> = kafka_config(config)
        .set("group.id", format!("seer-lag-{}", std::process::id()))
        .create();
    let Ok(client) = client else {
        tracing::warn!("no lag reporter: cannot create its client");
        return;
    };
    let topic = config.observations_topic.clone();
    std::thread::spawn(move || {
        while !shutdown.is_cancelled() {
            let list = positions.lock().map(|g| g.clone()).unwrap_or_default();
            for (p, pos) in list {
                if let Ok((_, high)) = client.fetch_watermarks(&topic, p, Duration::from_secs(2)) {
                    metrics
                        .consumer_lag
                        .with_label_values(&[&p.to_string()])
                        .set((high - pos).max(0));
                }
            }
            std::thread::sleep(Duration::from_secs(2));
        }
    });
}

/// Reads [start, end) of each partition with a group-less consumer; returns the decodable, finite
/// points in offset order.
fn replay(
    config: ClientConfig,
    topic: String,
    ranges: Vec<(i32, i64, i64)>,
) -> Result<Vec<(i32, String, i64, f64)>, rdkafka::error::KafkaError> {
    let consumer: BaseConsumer = config
        .clone()
        .set("group.id", format!("seer-rebuild-{}", std::process::id()))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    for &(p, start, _) in &ranges {
        tpl.add_partition_offset(&topic, p, Offset::Offset(start))?;
    }
    consumer.assign(&tpl)?;
    let mut remaining: HashMap<i32, i64> = ranges.iter().map(|&(p, _, end)| (p, end)).collect();
    let mut points = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !remaining.is_empty() && Instant::now() < deadline {
        let Some(msg) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let m = msg?;
        let (p, offset) = (m.partition(), m.offset());
        let Some(&end) = remaining.get(&p) else {
            continue;
        };
        if offset < end
            && let Ok(obs) = decode_observation(m.payload().unwrap_or_default())
        {
            let ts = obs.timestamp.as_ref().map(seconds).unwrap_or(0);
            points.push((p, obs.series_id, ts, obs.value));
        }
        if offset + 1 >= end {
            remaining.remove(&p);
        }
    }
    Ok(points)
}

/// One batch: Engine.Forecast (retried while the engine is unavailable), then every forecast
/// to Kafka, then the loop is told which messages are finished.
struct Job {
    engine: EngineClient<Channel>,
    producer: FutureProducer,
    events: mpsc::UnboundedSender<Event>,
    shutdown: CancellationToken,
    metrics: IngestMetrics,
    topic: String,
    timeout: Duration,
}

fn retryable(code: tonic::Code) -> bool {
    matches!(
        code,
        tonic::Code::Unavailable
            | tonic::Code::DeadlineExceeded
            | tonic::Code::ResourceExhausted
            | tonic::Code::Unknown
            | tonic::Code::Aborted
            | tonic::Code::Cancelled
    )
}

impl Job {
    async fn run(mut self, request: ForecastBatchRequest, series: Vec<(SeriesKey, i64, Instant)>) {
        let mut backoff = Duration::from_millis(50);
        let response = loop {
            let mut req = tonic::Request::new(request.clone());
            req.set_timeout(self.timeout);
            match self.engine.forecast(req).await {
                Ok(r) => break r.into_inner(),
                Err(status) if retryable(status.code()) => {
                    if self.shutdown.is_cancelled() {
                        return; // unfinished: the messages stay uncommitted and are redone
                    }
                    self.metrics.engine_retries.inc();
                    tracing::warn!(code = ?status.code(), message = status.message(), "engine unavailable; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = self.shutdown.cancelled() => return,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
                Err(status) => {
                    // a request the engine will never accept: retrying cannot help; log every
                    // series and finish the messages so the partition keeps moving
                    tracing::error!(code = ?status.code(), message = status.message(), series = series.len(), "engine rejected a batch");
                    self.metrics.engine_rejected.inc_by(series.len() as u64);
                    let _ = self.events.send(Event::Delivered { series });
                    return;
                }
            }
        };
        for e in &response.errors {
            tracing::warn!(series = %e.series_id, reason = %e.reason, "series not forecast");
            self.metrics.engine_rejected.inc();
        }
        let deliveries = response.forecasts.iter().map(|f| {
            let payload = prost::Message::encode_to_vec(f);
            let producer = self.producer.clone();
            let topic = self.topic.clone();
            let key = f.series_id.clone();
            async move {
                loop {
                    match producer
                        .send(
                            FutureRecord::to(&topic).key(&key).payload(&payload),
                            Duration::from_secs(5),
                        )
                        .await
                    {
                        Ok(_) => return true,
                        Err((e, _)) => {
                            tracing::warn!(error = %e, "forecast not delivered; retrying");
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                    }
                }
            }
        });
        let delivered = join_all(deliveries)
            .await
            .into_iter()
            .filter(|d| *d)
            .count();
        self.metrics.forecasts_published.inc_by(delivered as u64);
        let _ = self.events.send(Event::Delivered { series });
    }
}
