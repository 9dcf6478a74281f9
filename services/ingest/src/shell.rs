//! The Kafka shell around [`IngestState`]: one task owns the state (no locks) and does the IO it
//! asks for. Engine calls run as tracked tasks (at most `max_in_flight`), dead letters go through
//! one bounded sender, and both report back over a channel. On shutdown the loop stops
//! consuming, lets in-flight batches and dead letters finish within the grace period, stores
//! what they finished and commits before returning.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::future::join_all;
use futures::{FutureExt, StreamExt};
use rdkafka::ClientConfig;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::message::{Header, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use seer_core::stream::DeadLetterReason;
use seer_proto::convert::decode_observation;
use seer_proto::encoded::{EncodedEngineClient, series_id_of};
use seer_proto::v1::{ForecastBatchRequest, Observation};
use seer_runtime::{HealthContext, KafkaHealth, Readiness, Shutdown};
use tokio::sync::mpsc;

use crate::config::IngestConfig;
use crate::error::IngestError;
use crate::metrics::IngestMetrics;
use crate::state::{Batch, InFlight, Incoming, IngestState, Placement};
use crate::transactions::{Output, Transactions};

/// Messages the loop takes per turn when librdkafka already holds them.
const DRAIN_PER_TURN: usize = 512;

/// What spawned work and the consumer's rebalance callbacks tell the loop.
enum Event {
    /// A batch's forecasts are in Kafka (or the engine refused them for good).
    Delivered(Vec<InFlight>),
    /// exactly_once: a batch's forecasts, to publish in the epoch's transaction.
    Computed {
        series: Vec<InFlight>,
        records: Vec<(String, prost::bytes::Bytes)>,
    },
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
    health: KafkaHealth,
}

impl ClientContext for RebalanceContext {
    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        self.health.on_error(&error, reason);
    }

    fn stats_raw(&self, statistics: &[u8]) {
        self.health.on_stats(statistics);
    }
}

impl ConsumerContext for RebalanceContext {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            let _ = self
                .events
                .send(Event::Revoked(partitions_of(tpl, &self.topic)));
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        // an empty assignment is an assignment too: a member of a group with more members than
        // partitions is ready with nothing to do
        if let Rebalance::Assign(tpl) = rebalance {
            let _ = self
                .events
                .send(Event::Assigned(partitions_of(tpl, &self.topic)));
        }
    }
}

type IngestConsumer = StreamConsumer<RebalanceContext>;

fn partitions_of(tpl: &TopicPartitionList, topic: &str) -> Vec<i32> {
    tpl.elements()
        .iter()
        .filter(|e| e.topic() == topic)
        .map(|e| e.partition())
        .collect()
}

fn wall_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A message bound for the dead-letter topic.
struct DeadLetter {
    partition: i32,
    offset: i64,
    reason: DeadLetterReason,
    source: String,
    key: Option<Vec<u8>>,
    payload: Vec<u8>,
}

/// Runs the ingest until `shutdown` is cancelled, then drains and commits (within
/// `config.grace`). `ready` turns true once the first assignment is received and its windows
/// rebuilt, and false when shutdown begins; meanwhile it also requires Kafka to be reachable
/// (and to accept the credentials) and the engine to answer.
pub async fn run(
    config: IngestConfig,
    metrics: IngestMetrics,
    ready: Readiness,
    shutdown: Shutdown,
) -> Result<(), IngestError> {
    config.validate()?;
    let mut state = IngestState::new(&config)?;
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let health = KafkaHealth::new("ingest", &config.kafka);
    let engine_up = Readiness::starting(true);
    ready.require(health.ready());
    ready.require(engine_up.clone());
    let consumer = consumer(&config, events_tx.clone(), health.clone())?;
    consumer.subscribe(&[&config.topics.observations])?;
    let producer = health.producer(&config.kafka, config.kafka.producer_config(2))?;
    let engines = config
        .engines()
        .into_iter()
        .map(|endpoint| {
            seer_runtime::channel(endpoint, &config.grpc, Duration::from_secs(2))
                .map(|c| EncodedEngineClient::new(c, 64 << 20))
                .map_err(|e| IngestError::Engine {
                    endpoint: endpoint.to_string(),
                    message: e.to_string(),
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (dead_letters, dead_letter_rx) = mpsc::channel(config.max_pending_dead_letters);
    // the dead-letter sender stops when the loop drops its end, not on the token: letters
    // already taken must still reach the topic during the drain
    let dead_letter_sender = shutdown.spawn(send_dead_letters(
        dead_letter_rx,
        producer.clone(),
        config.topics.dead_letters.clone(),
        events_tx.clone(),
        config.max_pending_dead_letters,
    ));
    let in_flight = Arc::new(tokio::sync::Semaphore::new(config.max_in_flight));
    let positions: Arc<std::sync::Mutex<Vec<(i32, i64)>>> = Arc::default();
    spawn_lag_reporter(&config, metrics.clone(), positions.clone(), &shutdown);
    let mut lag_tick = tokio::time::interval(Duration::from_secs(2));
    let txn = if config.exactly_once() {
        Some(Transactions::new(&config, &health).await?)
    } else {
        None
    };
    let mut shell = Shell {
        txn,
        config: &config,
        metrics: &metrics,
        consumer: &consumer,
        ready: &ready,
        engines,
        next_engine: 0,
        engine_up,
        producer,
        events: events_tx,
        shutdown: shutdown.clone(),
    };
    // a message whose series is at the cadence floor: it goes in once a batch has taken its
    // series, and nothing is read meanwhile
    let mut held: Option<OwnedMessage> = None;
    loop {
        if let Some(m) = held.take()
            && state.owns(m.partition())
        {
            let (wall, now) = (wall_seconds(), Instant::now());
            if !shell.place(&mut state, &m, wall, now, &dead_letters).await {
                held = Some(m);
            }
        }
        let sealing = shell.txn.as_mut().is_some_and(|t| t.sealing(&state));
        // A batch's deadline matters only while it can go: with every slot taken, a full batch
        // (a deadline in the past) would spin this loop; waiting for a slot instead leaves the
        // cores to the engine and the broker.
        let slot_free = in_flight.available_permits() > 0;
        let deadline = state.next_deadline().filter(|_| slot_free);
        let await_slot = !slot_free && state.due_count() > 0;
        let consume = state.due_count() < config.max_due && held.is_none() && !sealing;
        // sealing goes on at once while there is something to dispatch or to commit; while
        // batches are in flight it waits for their events
        let seal_now = sealing
            && (state.due_count() > 0 || in_flight.available_permits() == config.max_in_flight);
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = std::future::ready(()), if seal_now => {}
            msg = consumer.recv(), if consume => match msg {
                Ok(m) => {
                    // one clock read for every message this turn takes
                    let (wall, now) = (wall_seconds(), Instant::now());
                    // rebalance callbacks run inside recv: apply an assignment (and rebuild its
                    // windows) before the first message of the newly assigned partitions
                    while let Ok(ev) = events.try_recv() {
                        shell.handle(&mut state, ev).await;
                    }
                    if !shell.place(&mut state, &m, wall, now, &dead_letters).await {
                        held = Some(m.detach());
                    }
                    drop(m);
                    // then what librdkafka already holds, without waiting, up to a bound: a
                    // batch fills in one turn instead of one select! per message
                    for _ in 1..DRAIN_PER_TURN {
                        if state.due_count() >= config.max_due || held.is_some() {
                            break;
                        }
                        let Some(Ok(m)) = consumer.recv().now_or_never() else {
                            break;
                        };
                        while let Ok(ev) = events.try_recv() {
                            shell.handle(&mut state, ev).await;
                        }
                        if !shell.place(&mut state, &m, wall, now, &dead_letters).await {
                            held = Some(m.detach());
                        }
                    }
                }
                // an outage is reported once, by the clients' health; not once per poll
                Err(e) if e.rdkafka_error_code() == Some(rdkafka::types::RDKafkaErrorCode::AllBrokersDown) => {
                    tracing::debug!(error = %e, "consumer error")
                }
                Err(e) => tracing::warn!(error = %e, "consumer error"),
            },
            Some(ev) = events.recv() => shell.handle(&mut state, ev).await,
            _ = sleep_until(deadline), if deadline.is_some() => {}
            // the acquisition is dropped at once: dispatch below takes the slot
            _ = in_flight.acquire(), if await_slot => {}
            _ = lag_tick.tick() => share_positions(&consumer, &positions),
        }
        // drain whatever else is ready before dispatching, so batches fill
        while let Ok(ev) = events.try_recv() {
            shell.handle(&mut state, ev).await;
        }
        // a held message waits for its series' batch: due series go now, not at max_delay
        shell.dispatch(&mut state, &in_flight, sealing || held.is_some());
        if sealing
            && in_flight.available_permits() == config.max_in_flight
            && state.due_count() == 0
        {
            while let Ok(ev) = events.try_recv() {
                shell.apply(&mut state, ev);
            }
            shell.commit_epoch(&mut state).await?;
        } else if shell.txn.is_none() {
            shell.store_offsets(&mut state);
        }
        metrics.due_series.set(state.due_count() as i64);
    }
    ready.set(false);
    drop(dead_letters);
    // in-flight batches and dead letters finish (or the grace period ends); what they finished
    // is stored and committed, the rest is redone by whoever reads the partition next
    let started = Instant::now();
    let drained = tokio::time::timeout(config.grace, async {
        let _all = in_flight.acquire_many(config.max_in_flight as u32).await;
        let _ = dead_letter_sender.await;
    })
    .await
    .is_ok();
    while let Ok(ev) = events.try_recv() {
        shell.apply(&mut state, ev);
    }
    if shell.txn.is_some() {
        shell.commit_epoch(&mut state).await?;
    }
    shell.store_offsets(&mut state);
    match consumer.commit_consumer_state(CommitMode::Sync) {
        Ok(()) => tracing::info!(
            drained,
            seconds = started.elapsed().as_secs_f64(),
            "offsets committed on shutdown"
        ),
        // nothing stored since the last commit is not a failure
        Err(e) => tracing::debug!(error = %e, "final commit"),
    }
    Ok(())
}

fn consumer(
    config: &IngestConfig,
    events: mpsc::UnboundedSender<Event>,
    health: KafkaHealth,
) -> Result<IngestConsumer, IngestError> {
    let mut c: ClientConfig = config.kafka.client_config();
    KafkaHealth::configure(&mut c);
    // librdkafka's defaults are tuned for throughput of idle-tolerant consumers: a full prefetch
    // queue pauses fetching for 1 s and an empty fetch waits 500 ms, both straight into latency
    c.set("fetch.queue.backoff.ms", "10")
        .set("fetch.wait.max.ms", "20")
        .set("group.id", &config.group_id)
        // exactly_once commits offsets inside its transactions, and reads only committed data
        .set(
            "enable.auto.commit",
            if config.exactly_once() {
                "false"
            } else {
                "true"
            },
        )
        .set(
            "isolation.level",
            if config.exactly_once() {
                "read_committed"
            } else {
                "read_uncommitted"
            },
        )
        .set("auto.commit.interval.ms", "200")
        // offsets are stored by the loop only once their output is delivered
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false");
    if !config.group_instance_id.is_empty() {
        c.set("group.instance.id", &config.group_instance_id);
    }
    Ok(config
        .kafka
        .apply_properties(&mut c)
        .create_with_context(RebalanceContext {
            topic: config.topics.observations.clone(),
            events,
            health,
        })?)
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}

/// The IO the loop does for the state.
struct Shell<'a> {
    /// exactly_once: the epoch's transaction.
    txn: Option<Transactions>,
    config: &'a IngestConfig,
    metrics: &'a IngestMetrics,
    consumer: &'a IngestConsumer,
    ready: &'a Readiness,
    /// One client per configured endpoint; batches start at `next_engine`, round-robin.
    engines: Vec<EncodedEngineClient>,
    next_engine: usize,
    /// Cleared while the engine does not answer, set by the next answer.
    engine_up: Readiness,
    producer: FutureProducer<HealthContext>,
    events: mpsc::UnboundedSender<Event>,
    shutdown: Shutdown,
}

impl Shell<'_> {
    async fn handle(&mut self, state: &mut IngestState, ev: Event) {
        let assigned = match &ev {
            Event::Assigned(parts) => Some(parts.clone()),
            _ => None,
        };
        self.apply(state, ev);
        if let Some(parts) = assigned {
            if !parts.is_empty() {
                self.rebuild(state, &parts).await;
            }
            self.ready.set(true);
        }
    }

    /// Hands one consumed message to the state; a dead letter goes to the epoch's transaction
    /// (exactly_once) or to the bounded sender, which waits while full (backpressure). False:
    /// the state held it (its series is at the cadence floor); hand it over again later.
    async fn place(
        &mut self,
        state: &mut IngestState,
        m: &impl Message,
        wall: i64,
        now: Instant,
        dead_letters: &mpsc::Sender<DeadLetter>,
    ) -> bool {
        let incoming = Incoming {
            partition: m.partition(),
            offset: m.offset(),
            key: m.key(),
            payload: m.payload().unwrap_or_default(),
        };
        let reason = match state.on_message(incoming, wall, now) {
            Placement::Placed => {
                self.metrics.observations.inc();
                return true;
            }
            Placement::Held => return false,
            Placement::DeadLetter(reason) => reason,
        };
        self.metrics
            .dead_letters
            .with_label_values(&[reason.as_str()])
            .inc();
        let letter = DeadLetter {
            partition: incoming.partition,
            offset: incoming.offset,
            reason,
            source: format!("{}/{}/{}", m.topic(), m.partition(), m.offset()),
            key: m.key().map(<[u8]>::to_vec),
            payload: incoming.payload.to_vec(),
        };
        if let Some(txn) = self.txn.as_mut() {
            txn.push(Output::DeadLetter {
                partition: letter.partition,
                offset: letter.offset,
                reason: letter.reason.as_str(),
                source: letter.source,
                key: letter.key,
                payload: letter.payload,
            });
        } else if dead_letters.send(letter).await.is_err() {
            tracing::error!("dead-letter sender stopped");
        }
        true
    }

    fn apply(&mut self, state: &mut IngestState, ev: Event) {
        match ev {
            Event::Computed { series, records } => match self.txn.as_mut() {
                Some(txn) => txn.push(Output::Forecasts { series, records }),
                None => tracing::error!("computed forecasts without a transaction"),
            },
            Event::Delivered(series) => {
                state.delivered(&series);
                for s in &series {
                    self.metrics
                        .forecast_latency
                        .observe(s.first_seen.elapsed().as_secs_f64());
                }
            }
            Event::DeadLettered { partition, offset } => state.dead_lettered(partition, offset),
            Event::Assigned(parts) => {
                self.metrics
                    .rebalances
                    .with_label_values(&["assigned"])
                    .inc_by(parts.len() as u64);
                state.assign(&parts);
            }
            Event::Revoked(parts) => {
                self.metrics
                    .rebalances
                    .with_label_values(&["revoked"])
                    .inc_by(parts.len() as u64);
                if let Some(txn) = self.txn.as_mut() {
                    txn.drop_partitions(&parts);
                }
                state.revoke(&parts);
            }
        }
        self.metrics.windows.set(state.series_count() as i64);
    }

    /// Re-reads up to `rebuild_messages` messages before each newly assigned partition's
    /// committed offset into the windows only (no forecasts, no offsets, no dead letters), so the
    /// new owner forecasts from full windows, as the previous owner did.
    async fn rebuild(&self, state: &mut IngestState, parts: &[i32]) {
        let topic = self.config.topics.observations.clone();
        let mut tpl = TopicPartitionList::new();
        for &p in parts {
            tpl.add_partition(&topic, p);
        }
        let committed = match self.consumer.committed_offsets(tpl, Duration::from_secs(5)) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "committed offsets unknown; windows start empty (flagged partial)");
                for &p in parts {
                    state.mark_rebuilt(p);
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
            let low = self
                .consumer
                .fetch_watermarks(&topic, e.partition(), Duration::from_secs(5))
                .map(|(low, _)| low)
                .unwrap_or(0);
            if end <= low {
                continue;
            }
            state.mark_rebuilt(e.partition());
            let start = low.max(end - self.config.rebuild_messages);
            if start < end && self.config.rebuild_messages > 0 {
                ranges.push((e.partition(), start, end));
            }
        }
        if ranges.is_empty() {
            return;
        }
        let mut client = self.config.kafka.client_config();
        self.config.kafka.apply_properties(&mut client);
        let started = Instant::now();
        let read = tokio::task::spawn_blocking(move || replay(client, topic, ranges)).await;
        match read {
            Ok(Ok(points)) => {
                let n = points.len();
                for (p, obs) in &points {
                    state.replay_observation(*p, obs);
                }
                self.metrics.windows.set(state.series_count() as i64);
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

    /// exactly_once: publishes the epoch's outputs and offsets in one transaction.
    async fn commit_epoch(&mut self, state: &mut IngestState) -> Result<(), IngestError> {
        let Some(txn) = self.txn.as_mut() else {
            return Ok(());
        };
        let (published, first_seen) = txn.commit(state, self.consumer.group_metadata()).await?;
        self.metrics.forecasts_published.inc_by(published as u64);
        for t in first_seen {
            self.metrics
                .forecast_latency
                .observe(t.elapsed().as_secs_f64());
        }
        Ok(())
    }

    /// `flush`: every due series now, without waiting for batches to fill (an epoch ends).
    fn dispatch(
        &mut self,
        state: &mut IngestState,
        in_flight: &Arc<tokio::sync::Semaphore>,
        flush: bool,
    ) {
        loop {
            let Ok(permit) = in_flight.clone().try_acquire_owned() else {
                break;
            };
            let now = if flush {
                Instant::now() + self.config.policy().max_delay
            } else {
                Instant::now()
            };
            let Some(Batch { windows, series }) = state.take_batch(now) else {
                break;
            };
            self.metrics.batch_series.observe(windows.len() as f64);
            let request = ForecastBatchRequest {
                model: self.config.model.clone(),
                model_version: self.config.model_version.clone(),
                windows,
                horizon: self.config.horizon,
                quantiles: self.config.quantiles.clone(),
                ..Default::default()
            };
            self.next_engine = (self.next_engine + 1) % self.engines.len();
            let job = Job {
                engines: self.engines.clone(),
                current: self.next_engine,
                engine_up: self.engine_up.clone(),
                producer: self.producer.clone(),
                events: self.events.clone(),
                shutdown: self.shutdown.clone(),
                metrics: self.metrics.clone(),
                topic: self.config.topics.forecasts.clone(),
                timeout: self.config.engine_timeout(),
                transactional: self.txn.is_some(),
            };
            self.shutdown.spawn(async move {
                job.run(request, series).await;
                drop(permit);
            });
        }
    }

    fn store_offsets(&self, state: &mut IngestState) {
        let mut tpl = TopicPartitionList::new();
        for (p, next) in state.take_committable() {
            if let Err(e) =
                tpl.add_partition_offset(&self.config.topics.observations, p, Offset::Offset(next))
            {
                tracing::warn!(error = %e, partition = p, "offset not stored");
            }
        }
        if tpl.count() > 0
            && let Err(e) = self.consumer.store_offsets(&tpl)
        {
            // a partition revoked meanwhile: its new owner redoes the unfinished work
            tracing::debug!(error = %e, "storing offsets");
        }
    }
}

/// Sends dead letters with up to `concurrency` deliveries outstanding; each is retried until
/// Kafka has it, then reported to the loop (only then is its offset finished).
async fn send_dead_letters(
    letters: mpsc::Receiver<DeadLetter>,
    producer: FutureProducer<HealthContext>,
    topic: String,
    events: mpsc::UnboundedSender<Event>,
    concurrency: usize,
) {
    let stream = futures::stream::unfold(letters, |mut rx| async move {
        rx.recv().await.map(|letter| (letter, rx))
    });
    stream
        .for_each_concurrent(concurrency, |letter| {
            let (producer, topic, events) = (&producer, &topic, &events);
            async move {
                loop {
                    let headers = OwnedHeaders::new()
                        .insert(Header {
                            key: "seer-reason",
                            value: Some(letter.reason.as_str()),
                        })
                        .insert(Header {
                            key: "seer-source",
                            value: Some(letter.source.as_str()),
                        });
                    let mut record = FutureRecord::to(topic)
                        .payload(&letter.payload)
                        .headers(headers);
                    if let Some(k) = &letter.key {
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
                let _ = events.send(Event::DeadLettered {
                    partition: letter.partition,
                    offset: letter.offset,
                });
            }
        })
        .await;
}

/// Positions are local to the consumer (no broker round trip); the lag reporter pairs them
/// with watermarks on its own connection.
fn share_positions(consumer: &IngestConsumer, shared: &std::sync::Mutex<Vec<(i32, i64)>>) {
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

/// Reports consumer lag from a blocking task with its own client: watermark queries on the main
/// consumer's connection would queue behind its long-polling fetch and stall the loop.
fn spawn_lag_reporter(
    config: &IngestConfig,
    metrics: IngestMetrics,
    positions: Arc<std::sync::Mutex<Vec<(i32, i64)>>>,
    shutdown: &Shutdown,
) {
    let mut client_config = config.kafka.client_config();
    config.kafka.apply_properties(&mut client_config);
    let client: Result<BaseConsumer, _> = client_config
        .set("group.id", format!("seer-lag-{}", std::process::id()))
        .create();
    let Ok(client) = client else {
        tracing::warn!("no lag reporter: cannot create its client");
        return;
    };
    let topic = config.topics.observations.clone();
    let token = shutdown.token().clone();
    shutdown.spawn_blocking(move || {
        while !token.is_cancelled() {
            let list = positions.lock().map(|g| g.clone()).unwrap_or_default();
            for (p, pos) in list {
                if let Ok((_, high)) = client.fetch_watermarks(&topic, p, Duration::from_secs(2)) {
                    metrics
                        .consumer_lag
                        .with_label_values(&[&p.to_string()])
                        .set((high - pos).max(0));
                }
            }
            // short sleeps, so shutdown is not held up by a full interval
            for _ in 0..20 {
                if token.is_cancelled() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    });
}

/// Reads [start, end) of each partition with a group-less consumer; returns the decodable, finite
/// points in offset order.
fn replay(
    mut config: ClientConfig,
    topic: String,
    ranges: Vec<(i32, i64, i64)>,
) -> Result<Vec<(i32, Observation)>, rdkafka::error::KafkaError> {
    let consumer: BaseConsumer = config
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
            points.push((p, obs));
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
    engines: Vec<EncodedEngineClient>,
    /// The engine this batch tries now; a retryable failure moves it to the next one.
    current: usize,
    engine_up: Readiness,
    producer: FutureProducer<HealthContext>,
    events: mpsc::UnboundedSender<Event>,
    shutdown: Shutdown,
    metrics: IngestMetrics,
    topic: String,
    timeout: Duration,
    /// exactly_once: hand the forecasts to the loop's transaction instead of producing them.
    transactional: bool,
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
    async fn run(mut self, request: ForecastBatchRequest, series: Vec<InFlight>) {
        let mut backoff = Duration::from_millis(50);
        let mut failures = 0;
        let response = loop {
            let mut req = tonic::Request::new(request.clone());
            req.set_timeout(self.timeout);
            match self.engines[self.current].forecast(req).await {
                Ok(r) => {
                    self.engine_up.set(true);
                    break r.into_inner();
                }
                Err(status) if retryable(status.code()) => {
                    // not ready only once every engine has failed this batch: one engine of
                    // several down is covered by the others
                    failures += 1;
                    // (a busy engine answered: RESOURCE_EXHAUSTED is load, not an outage; a cut
                    // connection shows up as UNKNOWN or CANCELLED transport errors)
                    if failures >= self.engines.len()
                        && status.code() != tonic::Code::ResourceExhausted
                    {
                        self.engine_up.set(false);
                    }
                    if self.shutdown.is_cancelled() {
                        return; // unfinished: the messages stay uncommitted and are redone
                    }
                    self.metrics.engine_retries.inc();
                    self.current = (self.current + 1) % self.engines.len();
                    tracing::warn!(code = ?status.code(), message = status.message(), "engine unavailable; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = self.shutdown.cancelled() => return,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
                Err(status) => {
                    self.engine_up.set(true);
                    // a request the engine will never accept: retrying cannot help; log every
                    // series and finish the messages so the partition keeps moving
                    tracing::error!(code = ?status.code(), message = status.message(), series = series.len(), "engine rejected a batch");
                    self.metrics.engine_rejected.inc_by(series.len() as u64);
                    let _ = self.events.send(Event::Delivered(series));
                    return;
                }
            }
        };
        for e in &response.errors {
            tracing::warn!(series = %e.series_id, reason = %e.reason, "series not forecast");
            self.metrics.engine_rejected.inc();
        }
        // a forecast is published as the engine encoded it, keyed by its series id
        let forecasts: Vec<(String, prost::bytes::Bytes)> = response
            .forecasts
            .into_iter()
            .filter_map(|payload| match series_id_of(&payload) {
                Ok(key) => Some((key, payload)),
                Err(e) => {
                    tracing::error!(error = %e, "the engine answered a forecast that does not decode");
                    self.metrics.engine_rejected.inc();
                    None
                }
            })
            .collect();
        if self.transactional {
            let _ = self.events.send(Event::Computed {
                series,
                records: forecasts,
            });
            return;
        }
        let deliveries = forecasts.into_iter().map(|(key, payload)| {
            let producer = self.producer.clone();
            let topic = self.topic.clone();
            async move {
                loop {
                    match producer
                        .send(
                            FutureRecord::to(&topic).key(&key).payload(&payload[..]),
                            Duration::from_secs(5),
                        )
                        .await
                    {
                        Ok(_) => return,
                        Err((e, _)) => {
                            tracing::warn!(error = %e, "forecast not delivered; retrying");
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                    }
                }
            }
        });
        let delivered = join_all(deliveries).await.len();
        self.metrics.forecasts_published.inc_by(delivered as u64);
        let _ = self.events.send(Event::Delivered(series));
    }
}
