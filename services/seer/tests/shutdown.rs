//! SIGTERM to `seer ingest` in the middle of a replay: it stops within its grace period with the
//! offsets of what it finished committed, and a restarted ingest forecasts every remaining point
//! (every series' last forecast covers its last observation; every partition fully committed).

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{Pipeline, signal, wait_exit, write_csv};
use rdkafka::mocking::MockCluster;

const SERIES: usize = 40;
const POINTS: usize = 60;
const GRACE_SECONDS: u64 = 5;

#[test]
fn sigterm_mid_replay_commits_and_a_restart_loses_nothing() {
    let mock = MockCluster::new(1).unwrap();
    let pipeline = Pipeline::start(&mock.bootstrap_servers(), "shutdown", 3);
    for (t, p) in [
        (&pipeline.observations, 3),
        (&pipeline.forecasts, 3),
        (&pipeline.dead_letters, 1),
    ] {
        mock.create_topic(t, p, 1).unwrap();
    }
    let dir = std::env::temp_dir().join(format!("seer-shutdown-{}", std::process::id()));
    let (csv, last) = write_csv(&dir, SERIES, POINTS);
    let total = (SERIES * POINTS) as i64;
    let grace = format!("shutdown.grace_seconds={GRACE_SECONDS}");

    let mut first = pipeline.ingest(&["--set", &grace]);
    // a replay slow enough that the SIGTERM lands in its middle
    let mut replay = pipeline.replay(&csv, 500);
    let t = Instant::now();
    loop {
        let (committed, high) = pipeline.progress();
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
    eprintln!("first ingest progress {:?}; SIGTERM", pipeline.progress());
    let stopped_at = Instant::now();
    signal(&first.0, "-TERM");
    let status = wait_exit(&mut first.0, Duration::from_secs(GRACE_SECONDS + 5))
        .expect("seer ingest did not exit within its grace period");
    assert!(status.success(), "seer ingest exited with {status}");
    let exit_time = stopped_at.elapsed();
    let (committed_at_exit, high_at_exit) = pipeline.progress();
    assert!(
        committed_at_exit > 0 && committed_at_exit <= high_at_exit,
        "committed {committed_at_exit} of {high_at_exit}"
    );
    assert!(replay.0.wait().unwrap().success());
    assert_eq!(pipeline.progress().1, total);
    assert!(
        committed_at_exit < total,
        "the ingest had finished everything before the SIGTERM: the test proves nothing"
    );

    // the restart finishes the rest
    let mut second = pipeline.ingest(&["--set", &grace]);
    pipeline.wait_committed(total, Duration::from_secs(90));
    signal(&second.0, "-TERM");
    assert!(wait_exit(&mut second.0, Duration::from_secs(GRACE_SECONDS + 5)).is_some());

    // every series' newest forecast covers its last point
    let mut covered: HashMap<String, i64> = HashMap::new();
    for f in pipeline.forecasts(false) {
        let ts = f.latest_observation.map(|t| t.seconds).unwrap_or(0);
        let e = covered.entry(f.series_id).or_insert(ts);
        *e = (*e).max(ts);
    }
    assert_eq!(covered.len(), SERIES);
    let behind: Vec<_> = covered
        .iter()
        .filter(|(id, ts)| last[*id] != **ts)
        .collect();
    assert!(
        behind.is_empty(),
        "forecasts behind their series: {behind:?}"
    );
    eprintln!(
        "sigterm → exit in {:.2}s; {committed_at_exit} of {total} committed at exit",
        exit_time.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
