//! A pipeline of real `seer` processes for the delivery tests: an engine in this process
//! (seasonal naive), `seer ingest` and `seer replay` as child processes against a broker, and
//! readers of the committed offsets and of the forecasts topic.
#![allow(dead_code)]

pub mod proxy;

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use prost::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use seer_proto::v1::Forecast;
use seer_runtime::KafkaConfig;

pub const T0: i64 = 1_700_006_400;

pub fn seer(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_seer"));
    c.args(args)
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .env("SEER_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    c
}

/// A child process killed when the test ends, so that a failing test leaves no ingest behind
/// (holding the test's output pipe open).
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn signal(child: &Child, sig: &str) {
    let status = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

pub fn wait_exit(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let t = Instant::now();
    while t.elapsed() < limit {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// `series` hourly series of `points` each, interleaved in time order; returns the CSV and each
/// series' last timestamp.
pub fn write_csv(dir: &Path, series: usize, points: usize) -> (PathBuf, HashMap<String, i64>) {
    std::fs::create_dir_all(dir).unwrap();
    let csv = dir.join("series.csv");
    let mut f = std::fs::File::create(&csv).unwrap();
    writeln!(f, "series_id,timestamp,value").unwrap();
    let mut last = HashMap::new();
    for k in 0..points {
        for s in 0..series {
            let ts = T0 + k as i64 * 3600;
            writeln!(f, "s{s},{ts},{}", (s + k % 24) as f64).unwrap();
            last.insert(format!("s{s}"), ts);
        }
    }
    (csv, last)
}

pub struct Pipeline {
    pub brokers: String,
    pub group: String,
    pub observations: String,
    pub forecasts: String,
    pub dead_letters: String,
    pub partitions: i32,
    /// Where `ingest` sends batches (the in-process engine unless a test points it elsewhere).
    pub engine_url: String,
    pub window: usize,
    /// Environment of the ingest and replay children (e.g. a secret as SEER_KAFKA__SASL_PASSWORD).
    pub env: Vec<(String, String)>,
    pub rt: tokio::runtime::Runtime,
    stop: tokio_util::sync::CancellationToken,
    engine: Option<tokio::task::JoinHandle<Result<(), seer_engine::EngineError>>>,
}

impl Pipeline {
    /// The engine, serving in this process; `prefix` names this run's topics and group.
    pub fn start(brokers: &str, prefix: &str, partitions: i32) -> Pipeline {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let stop = tokio_util::sync::CancellationToken::new();
        let (engine_url, engine) = rt.block_on(async {
            let ctx = Arc::new(seer_gpu::GpuContext::from_env().unwrap());
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            let ready = seer_runtime::Readiness::default();
            let task = tokio::spawn(seer_engine::serve_with_context(
                seer_engine::EngineConfig::default(),
                ctx,
                prometheus::Registry::new(),
                listener,
                ready.clone(),
                stop.clone(),
            ));
            while !ready.get() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            (url, task)
        });
        Pipeline {
            brokers: brokers.to_string(),
            group: format!("{prefix}-ingest"),
            observations: format!("{prefix}.observations"),
            forecasts: format!("{prefix}.forecasts"),
            dead_letters: format!("{prefix}.dlq"),
            partitions,
            engine_url,
            window: 48,
            env: Vec::new(),
            rt,
            stop,
            engine: Some(engine),
        }
    }

    pub fn create_topics(&self) {
        let topics = [
            (self.observations.as_str(), self.partitions),
            (self.forecasts.as_str(), self.partitions),
            (self.dead_letters.as_str(), 1),
        ];
        self.rt
            .block_on(KafkaConfig::with_brokers(self.brokers.as_str()).ensure_topics(&topics))
            .unwrap();
    }

    /// Starts `seer ingest` with `extra` arguments and waits for its /readyz.
    pub fn ingest(&self, extra: &[&str]) -> Killed {
        self.ingest_at(&self.brokers, extra).0
    }

    /// The `seer ingest` command line for this pipeline, its admin endpoint on `admin`.
    pub fn ingest_command(
        &self,
        brokers: &str,
        admin: std::net::SocketAddr,
        extra: &[&str],
    ) -> Command {
        let admin_s = admin.to_string();
        let window = self.window.to_string();
        let mut args = vec![
            "ingest",
            "--brokers",
            brokers,
            "--engine",
            &self.engine_url,
            "--group",
            &self.group,
            "--observations-topic",
            &self.observations,
            "--forecasts-topic",
            &self.forecasts,
            "--dlq-topic",
            &self.dead_letters,
            "--window",
            &window,
            "--metrics-listen",
            &admin_s,
            "--kafka",
            "session.timeout.ms=6000",
        ];
        args.extend_from_slice(extra);
        let mut c = seer(&args);
        c.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        c
    }

    /// `ingest` through `brokers`; also returns its admin address (for /readyz).
    pub fn ingest_at(&self, brokers: &str, extra: &[&str]) -> (Killed, std::net::SocketAddr) {
        let admin: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let mut child = Killed(
            self.ingest_command(brokers, admin, extra)
                .spawn()
                .expect("start seer ingest"),
        );
        let t = Instant::now();
        loop {
            let status = self.rt.block_on(seer_runtime::http_get(admin, "/readyz"));
            if matches!(status, Ok((200, _))) {
                return (child, admin);
            }
            assert!(
                child.0.try_wait().unwrap().is_none(),
                "seer ingest exited before it was ready"
            );
            assert!(t.elapsed() < Duration::from_secs(60), "ingest never ready");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether the admin endpoint at `admin` answers /readyz with 200.
    pub fn ready(&self, admin: std::net::SocketAddr) -> bool {
        matches!(
            self.rt.block_on(seer_runtime::http_get(admin, "/readyz")),
            Ok((200, _))
        )
    }

    /// `seer engine` as a child process on `port` (seasonal naive), once it is ready; returns it
    /// and its admin address.
    pub fn engine_process(&self, port: u16) -> (Killed, std::net::SocketAddr) {
        let admin: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let listen = format!("127.0.0.1:{port}");
        let admin_s = admin.to_string();
        let mut child = Killed(
            seer(&["engine", "--listen", &listen, "--metrics-listen", &admin_s])
                .spawn()
                .expect("start seer engine"),
        );
        let t = Instant::now();
        while !self.ready(admin) {
            assert!(
                child.0.try_wait().unwrap().is_none(),
                "seer engine exited before it was ready"
            );
            assert!(t.elapsed() < Duration::from_secs(60), "engine never ready");
            std::thread::sleep(Duration::from_millis(50));
        }
        (child, admin)
    }

    pub fn replay(&self, csv: &Path, rate: u64) -> Killed {
        Killed(
            self.replay_command(csv, rate, &self.brokers, &[])
                .spawn()
                .unwrap(),
        )
    }

    /// `seer replay` of `csv` at `rate` events/s through `brokers`, with `extra` arguments.
    pub fn replay_command(&self, csv: &Path, rate: u64, brokers: &str, extra: &[&str]) -> Command {
        let rate = rate.to_string();
        let mut args = vec![
            "replay",
            "--data",
            csv.to_str().unwrap(),
            "--brokers",
            brokers,
            "--topic",
            &self.observations,
            "--rate",
            &rate,
        ];
        args.extend_from_slice(extra);
        let mut c = seer(&args);
        c.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        c
    }

    fn consumer(&self, group: &str, read_committed: bool) -> BaseConsumer {
        KafkaConfig::with_brokers(self.brokers.as_str())
            .client_config()
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set(
                "isolation.level",
                if read_committed {
                    "read_committed"
                } else {
                    "read_uncommitted"
                },
            )
            .create()
            .unwrap()
    }

    /// Per partition (committed offset of the ingest's group, high watermark); None while the
    /// broker does not answer (a restart, a cut).
    pub fn try_partitions(&self) -> Option<Vec<(i64, i64)>> {
        let c = self.consumer(&self.group, false);
        let mut tpl = TopicPartitionList::new();
        for p in 0..self.partitions {
            tpl.add_partition(&self.observations, p);
        }
        let committed = c.committed_offsets(tpl, Duration::from_secs(5)).ok()?;
        let mut out = Vec::new();
        for p in 0..self.partitions {
            let done = committed
                .find_partition(&self.observations, p)
                .and_then(|e| match e.offset() {
                    Offset::Offset(o) => Some(o),
                    _ => None,
                })
                .unwrap_or(0);
            let high = c
                .fetch_watermarks(&self.observations, p, Duration::from_secs(5))
                .ok()?
                .1;
            out.push((done, high));
        }
        Some(out)
    }

    /// How long until every partition that had work at `before` has committed past it (or
    /// caught up with its high watermark): the pipeline is moving on every partition again.
    pub fn wait_recovered(&self, before: &[(i64, i64)], limit: Duration) -> Duration {
        let t = Instant::now();
        loop {
            if let Some(now) = self.try_partitions()
                && before
                    .iter()
                    .zip(&now)
                    .all(|(b, n)| n.0 > b.0 || n.0 >= n.1)
            {
                return t.elapsed();
            }
            assert!(t.elapsed() < limit, "not recovered within {limit:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// (committed offsets of the ingest's group, high watermarks), summed over partitions.
    pub fn progress(&self) -> (i64, i64) {
        let c = self.consumer(&self.group, false);
        let mut tpl = TopicPartitionList::new();
        for p in 0..self.partitions {
            tpl.add_partition(&self.observations, p);
        }
        let committed = c
            .committed_offsets(tpl, Duration::from_secs(5))
            .unwrap()
            .elements()
            .iter()
            .map(|e| match e.offset() {
                Offset::Offset(o) => o,
                _ => 0,
            })
            .sum();
        let high = (0..self.partitions)
            .map(|p| {
                c.fetch_watermarks(&self.observations, p, Duration::from_secs(5))
                    .unwrap()
                    .1
            })
            .sum();
        (committed, high)
    }

    /// Every message of `topic` visible to a reader (read_committed: only committed
    /// transactions), read until `quiet` passes with nothing new.
    pub fn read_all(&self, topic: &str, read_committed: bool, quiet: Duration) -> Vec<Vec<u8>> {
        let c = self.consumer(
            &format!("reader-{}-{}", std::process::id(), free_port()),
            read_committed,
        );
        c.subscribe(&[topic]).unwrap();
        let mut out = Vec::new();
        let mut last = Instant::now();
        while last.elapsed() < quiet {
            if let Some(Ok(m)) = c.poll(Duration::from_millis(200)) {
                out.push(m.payload().unwrap_or_default().to_vec());
                last = Instant::now();
            }
        }
        out
    }

    pub fn forecasts(&self, read_committed: bool) -> Vec<Forecast> {
        self.read_all(&self.forecasts, read_committed, Duration::from_secs(5))
            .iter()
            .map(|p| Forecast::decode(p.as_slice()).unwrap())
            .collect()
    }

    /// Produces `count` messages that are not observations to the observations topic: each must
    /// come out of the ingest as one dead letter.
    pub fn produce_poison(&self, count: usize) {
        use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
        let producer: ThreadedProducer<DefaultProducerContext> =
            KafkaConfig::with_brokers(self.brokers.as_str())
                .producer_config(1)
                .create()
                .unwrap();
        for k in 0..count {
            producer
                .send(
                    BaseRecord::to(&self.observations)
                        .key("poison")
                        .payload(format!("not an observation {k}").as_bytes()),
                )
                .unwrap();
        }
        producer.flush(Duration::from_secs(10)).unwrap();
    }

    /// Waits until the group has committed every observation.
    pub fn wait_committed(&self, total: i64, limit: Duration) {
        let t = Instant::now();
        loop {
            let done: i64 = self
                .try_partitions()
                .map(|v| v.iter().map(|p| p.0).sum())
                .unwrap_or(0);
            if done >= total {
                return;
            }
            assert!(t.elapsed() < limit, "committed {done} of {total}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(engine) = self.engine.take() {
            let _ = self.rt.block_on(engine);
        }
    }
}
