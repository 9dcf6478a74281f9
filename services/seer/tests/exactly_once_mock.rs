//! `ingest.processing_guarantee = "exactly_once"` on librdkafka's mock cluster, in CI: the mock
//! runs the transaction protocol (InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn,
//! TxnOffsetCommit, EndTxn) but keeps neither the transactional offsets nor the commit markers,
//! so this checks the ingest's side of it: epochs sealed and committed in sequence with every
//! forecast published once and each dead letter once, and a transaction error that stops the
//! ingest with its cause instead of publishing outside a transaction. Crash recovery needs a
//! real broker: `scripts/exactly_once.sh` and `scripts/fault_suite.sh`.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{Pipeline, wait_exit, write_csv};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};

const SERIES: usize = 20;
const POINTS: usize = 30;
const POISON: usize = 3;
const EOS: [&str; 4] = [
    "--set",
    "ingest.processing_guarantee=exactly_once",
    "--set",
    "ingest.group_instance_id=seer-ingest-0",
];

fn mock_pipeline(name: &str) -> (MockCluster<'static, DefaultProducerContext>, Pipeline) {
    let mock = MockCluster::new(1).unwrap();
    let pipeline = Pipeline::start(&mock.bootstrap_servers(), name, 3);
    for (t, p) in [
        (&pipeline.observations, 3),
        (&pipeline.forecasts, 3),
        (&pipeline.dead_letters, 1),
    ] {
        mock.create_topic(t, p, 1).unwrap();
    }
    (mock, pipeline)
}

#[test]
fn epochs_publish_each_forecast_and_dead_letter_once() {
    let (_mock, pipeline) = mock_pipeline("eosmock");
    let dir = std::env::temp_dir().join(format!("seer-eosmock-{}", std::process::id()));
    let (csv, last) = write_csv(&dir, SERIES, POINTS);
    pipeline.produce_poison(POISON);

    let _ingest = pipeline.ingest(&EOS);
    let mut replay = pipeline.replay(&csv, 0);
    assert!(replay.0.wait().unwrap().success());
    // the mock keeps no transactional offsets: wait for the forecasts themselves
    let t = Instant::now();
    let forecasts = loop {
        let forecasts = pipeline.forecasts(true);
        let mut newest: HashMap<String, i64> = HashMap::new();
        for f in &forecasts {
            let ts = f.latest_observation.as_ref().map_or(0, |t| t.seconds);
            let e = newest.entry(f.series_id.clone()).or_insert(ts);
            *e = (*e).max(ts);
        }
        if newest == last {
            break forecasts;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "{} of {SERIES} series forecast to their last point",
            newest
                .iter()
                .filter(|(id, ts)| last.get(*id) == Some(ts))
                .count()
        );
    };
    let mut seen: HashMap<(String, i64), usize> = HashMap::new();
    for f in &forecasts {
        let ts = f.latest_observation.as_ref().map_or(0, |t| t.seconds);
        *seen.entry((f.series_id.clone(), ts)).or_default() += 1;
    }
    let doubled: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(doubled.is_empty(), "published twice: {doubled:?}");
    // a new reader's group join takes the mock a few seconds
    let letters = pipeline.read_all(&pipeline.dead_letters, true, Duration::from_secs(8));
    assert_eq!(
        letters.len(),
        POISON,
        "each poison message dead-lettered once"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_fenced_producer_stops_the_ingest_with_its_cause() {
    let (mock, pipeline) = mock_pipeline("eosfenced");
    let dir = std::env::temp_dir().join(format!("seer-eosfenced-{}", std::process::id()));
    let (csv, _) = write_csv(&dir, SERIES, POINTS);
    let log = dir.join("ingest.log");
    let admin: std::net::SocketAddr = format!("127.0.0.1:{}", common::free_port())
        .parse()
        .unwrap();
    let mut cmd = pipeline.ingest_command(&pipeline.brokers, admin, &EOS);
    cmd.stderr(std::fs::File::create(&log).unwrap());
    let mut ingest = common::Killed(cmd.spawn().unwrap());
    // every offset commit of a transaction is refused: another producer took the transactional.id
    mock.request_errors(
        RDKafkaApiKey::TxnOffsetCommit,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_PRODUCER_FENCED; 64],
    );
    let mut replay = pipeline.replay(&csv, 0);
    assert!(replay.0.wait().unwrap().success());
    let status =
        wait_exit(&mut ingest.0, Duration::from_secs(60)).expect("a fenced ingest kept running");
    assert!(!status.success(), "a fenced ingest exited with success");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.to_ascii_lowercase().contains("fenced"),
        "the cause is not named:\n{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
