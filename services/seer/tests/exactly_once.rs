//! `ingest.processing_guarantee = "exactly_once"` on a real Apache Kafka (transactions): the
//! ingest is killed with SIGKILL in the middle of a replay (a crash: no drain, an open
//! transaction), restarted, and a read_committed reader of the forecasts and dead-letter topics
//! then sees every series' last point forecast, no forecast of the same (series, newest point)
//! twice, and each poison message dead-lettered exactly once.
//!
//! Needs a broker with transactions, so it is not part of `cargo test`:
//!     scripts/exactly_once.sh        (starts scripts/kafka.sh and runs this with --ignored)

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{Pipeline, signal, wait_exit, write_csv};

const SERIES: usize = 40;
const POINTS: usize = 60;
const POISON: usize = 5;

#[test]
#[ignore = "needs a Kafka broker with transactions: scripts/exactly_once.sh"]
fn a_crash_mid_stream_neither_loses_nor_doubles() {
    let brokers = std::env::var("SEER_TEST_KAFKA").expect("SEER_TEST_KAFKA=host:port");
    let prefix = format!("eos{}", std::process::id());
    let pipeline = Pipeline::start(&brokers, &prefix, 3);
    pipeline.create_topics();
    let dir = std::env::temp_dir().join(format!("seer-eos-{}", std::process::id()));
    let (csv, last) = write_csv(&dir, SERIES, POINTS);
    // one member identity across the crash, as a StatefulSet pod has: static membership, and the
    // same transactional.id, which fences the crashed producer
    let eos = [
        "--set",
        "ingest.processing_guarantee=exactly_once",
        "--set",
        "ingest.group_instance_id=seer-ingest-0",
    ];

    // poison first: each must reach the dead-letter topic exactly once across the crash
    pipeline.produce_poison(POISON);
    let total = (SERIES * POINTS + POISON) as i64;

    let mut first = pipeline.ingest(&eos);
    let mut replay = pipeline.replay(&csv, 500);
    let t = Instant::now();
    loop {
        let (committed, high) = pipeline.progress();
        if committed > total / 4 && high < total {
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
    let (at_crash, _) = pipeline.progress();
    signal(&first.0, "-KILL");
    wait_exit(&mut first.0, Duration::from_secs(5)).expect("SIGKILL");
    assert!(replay.0.wait().unwrap().success());

    let _second = pipeline.ingest(&eos);
    pipeline.wait_committed(total, Duration::from_secs(120));

    let forecasts = pipeline.forecasts(true);
    let mut seen: HashMap<(String, i64), usize> = HashMap::new();
    let mut newest: HashMap<String, i64> = HashMap::new();
    for f in &forecasts {
        let ts = f
            .latest_observation
            .as_ref()
            .map(|t| t.seconds)
            .unwrap_or(0);
        *seen.entry((f.series_id.clone(), ts)).or_default() += 1;
        let e = newest.entry(f.series_id.clone()).or_insert(ts);
        *e = (*e).max(ts);
    }
    let doubled: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(doubled.is_empty(), "forecasts published twice: {doubled:?}");
    assert_eq!(newest.len(), SERIES);
    let behind: Vec<_> = newest.iter().filter(|(id, ts)| last[*id] != **ts).collect();
    assert!(behind.is_empty(), "lost points: {behind:?}");
    let letters = pipeline.read_all(&pipeline.dead_letters, true, Duration::from_secs(5));
    assert_eq!(
        letters.len(),
        POISON,
        "each poison message dead-lettered once"
    );
    // the reader that does not honour transactions sees what the crash left uncommitted
    let uncommitted = pipeline.forecasts(false).len();
    eprintln!(
        "crash at {at_crash} of {total} committed; {} committed forecasts, {uncommitted} with aborted ones",
        forecasts.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
