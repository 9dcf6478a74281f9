//! SIGTERM to `seer ingest` in the middle of a replay: it stops within its grace period with the
//! offsets of what it finished committed, and a restarted ingest forecasts every remaining point
//! (every series' last forecast covers its last observation; every partition fully committed).

use std::collections::HashMap;
use std::io::Write as _;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use prost::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::mocking::MockCluster;
use rdkafka::{Offset, TopicPartitionList};
use seer_proto::v1::Forecast;
use seer_runtime::KafkaConfig;

const SERIES: usize = 40;
const POINTS: usize = 60;
const PARTITIONS: i32 = 3;
const GROUP: &str = "seer-shutdown-test";
const GRACE_SECONDS: u64 = 5;
const T0: i64 = 1_700_006_400;

fn seer(args: &[&str]) -> Command {
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
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `seer ingest` and waits for its /readyz (assignment received, windows rebuilt).
fn ingest(brokers: &str, engine: &str, rt: &tokio::runtime::Runtime) -> Killed {
    let admin: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let child = seer(&[
        "ingest",
        "--brokers",
        brokers,
        "--engine",
        engine,
        "--group",
        GROUP,
        "--window",
        "48",
        "--metrics-listen",
        &admin.to_string(),
        "--set",
        &format!("shutdown.grace_seconds={GRACE_SECONDS}"),
        "--kafka",
        "session.timeout.ms=6000",
    ])
    .spawn()
    .expect("start seer ingest");
    let mut child = Killed(child);
    let t = Instant::now();
    loop {
        let status = rt.block_on(seer_runtime::http_get(admin, "/readyz"));
        if matches!(status, Ok((200, _))) {
            return child;
        }
        assert!(
            child.0.try_wait().unwrap().is_none(),
            "seer ingest exited before it was ready"
        );
        assert!(t.elapsed() < Duration::from_secs(60), "ingest never ready");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn consumer(brokers: &str) -> BaseConsumer {
    KafkaConfig::with_brokers(brokers)
        .client_config()
        .set("group.id", GROUP)
        .set("enable.auto.commit", "false")
        .create()
        .unwrap()
}

/// (committed, high watermark) summed over the observations partitions.
fn progress(c: &BaseConsumer) -> (i64, i64) {
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition("seer.observations", p);
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
    let high = (0..PARTITIONS)
        .map(|p| {
            c.fetch_watermarks("seer.observations", p, Duration::from_secs(5))
                .unwrap()
                .1
        })
        .sum();
    (committed, high)
}

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn wait_exit(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let t = Instant::now();
    while t.elapsed() < limit {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[test]
fn sigterm_mid_replay_commits_and_a_restart_loses_nothing() {
    let mock = MockCluster::new(1).unwrap();
    mock.create_topic("seer.observations", PARTITIONS, 1)
        .unwrap();
    mock.create_topic("seer.forecasts", PARTITIONS, 1).unwrap();
    mock.create_topic("seer.dlq", 1, 1).unwrap();
    let brokers = mock.bootstrap_servers();

    // the engine in this process: seasonal naive only, so the test is about delivery
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

    // a replay slow enough that the SIGTERM lands in its middle
    let dir = std::env::temp_dir().join(format!("seer-shutdown-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("series.csv");
    let mut f = std::fs::File::create(&csv).unwrap();
    writeln!(f, "series_id,timestamp,value").unwrap();
    let mut last = HashMap::new();
    for k in 0..POINTS {
        for s in 0..SERIES {
            let ts = T0 + k as i64 * 3600;
            writeln!(f, "s{s},{ts},{}", (s + k % 24) as f64).unwrap();
            last.insert(format!("s{s}"), ts);
        }
    }
    drop(f);
    let total = (SERIES * POINTS) as i64;
    let mut first = ingest(&brokers, &engine_url, &rt);
    let mut replay = seer(&[
        "replay",
        "--data",
        csv.to_str().unwrap(),
        "--brokers",
        &brokers,
        "--rate",
        "500",
    ])
    .spawn()
    .map(Killed)
    .unwrap();

    let c = consumer(&brokers);
    // wait for the ingest to have committed some of the replay, then stop it mid-stream
    let t = Instant::now();
    loop {
        let (committed, high) = progress(&c);
        if committed > 0 && high < total {
            break;
        }
        assert!(
            high < total,
            "the replay finished before the ingest committed anything"
        );
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "ingest never committed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("first ingest progress {:?}; SIGTERM", progress(&c));
    let stopped_at = Instant::now();
    sigterm(&first.0);
    let status = wait_exit(&mut first.0, Duration::from_secs(GRACE_SECONDS + 5))
        .expect("seer ingest did not exit within its grace period");
    assert!(status.success(), "seer ingest exited with {status}");
    let exit_time = stopped_at.elapsed();
    let (committed_at_exit, high_at_exit) = progress(&c);
    assert!(
        committed_at_exit > 0 && committed_at_exit <= high_at_exit,
        "committed {committed_at_exit} of {high_at_exit}"
    );
    assert!(replay.0.wait().unwrap().success());
    let (_, high) = progress(&c);
    assert_eq!(high, total);
    assert!(
        committed_at_exit < total,
        "the ingest had finished everything before the SIGTERM: the test proves nothing"
    );

    eprintln!("exit after {exit_time:?}; restart at {:?}", progress(&c));
    // the restart finishes the rest
    let mut second = ingest(&brokers, &engine_url, &rt);
    let t = Instant::now();
    while progress(&c).0 < total {
        assert!(
            t.elapsed() < Duration::from_secs(90),
            "restarted ingest committed {:?}",
            progress(&c)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    sigterm(&second.0);
    assert!(wait_exit(&mut second.0, Duration::from_secs(GRACE_SECONDS + 5)).is_some());

    // every series' newest forecast covers its last point
    let reader: BaseConsumer = KafkaConfig::with_brokers(brokers.as_str())
        .client_config()
        .set("group.id", "seer-shutdown-reader")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    reader.subscribe(&["seer.forecasts"]).unwrap();
    let mut covered: HashMap<String, i64> = HashMap::new();
    let t = Instant::now();
    while covered.len() < SERIES || covered.iter().any(|(id, ts)| last[id] != *ts) {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "forecasts cover {} series; behind: {:?}",
            covered.len(),
            covered
                .iter()
                .filter(|(id, ts)| last[*id] != **ts)
                .collect::<Vec<_>>()
        );
        if let Some(Ok(m)) = reader.poll(Duration::from_millis(200)) {
            let f = Forecast::decode(m.payload().unwrap_or_default()).unwrap();
            let ts = f.latest_observation.map(|t| t.seconds).unwrap_or(0);
            let e = covered.entry(f.series_id).or_insert(ts);
            *e = (*e).max(ts);
        }
    }
    eprintln!(
        "sigterm → exit in {:.2}s; {committed_at_exit} of {total} committed at exit",
        exit_time.as_secs_f64()
    );
    stop.cancel();
    rt.block_on(engine).unwrap().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
