//! Kafka over SASL_SSL against the real broker's SASL_SSL listener (`scripts/kafka.sh`: SCRAM-SHA-512
//! and PLAIN over TLS, user `seer`): the ingest and `seer replay` run the pipeline with the
//! password from the environment (as a Kubernetes Secret supplies it); with a wrong password the
//! ingest and the gateway stay up, not ready, and say why in one line; `seer replay` fails with
//! the cause; the password appears nowhere in their output.
//!
//! Needs the broker: `scripts/fault_suite.sh security` (or SEER_TEST_KAFKA, SEER_TEST_KAFKA_SASL
//! and SEER_TEST_KAFKA_CA set by hand) with --ignored.

mod common;

use std::collections::HashMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Killed, Pipeline, free_port, seer, write_csv};

const PASSWORD: &str = "seer-secret";
const WRONG: &str = "not-the-password-7c1f";

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"))
}

fn sasl_args(mechanism: &str, ca: &str) -> Vec<String> {
    [
        "kafka.security_protocol=sasl_ssl".to_string(),
        format!("kafka.sasl_mechanism={mechanism}"),
        "kafka.sasl_username=seer".to_string(),
        format!("kafka.ssl_ca_location={ca}"),
    ]
    .into_iter()
    .flat_map(|kv| ["--set".to_string(), kv])
    .collect()
}

fn stderr_file(dir: &std::path::Path, name: &str) -> (std::path::PathBuf, Stdio) {
    let path = dir.join(name);
    let f = std::fs::File::create(&path).unwrap();
    (path, Stdio::from(f))
}

/// Waits `period` and checks that the child is still running and its /readyz never said 200.
fn stays_unready(
    pipeline: &Pipeline,
    child: &mut Killed,
    admin: std::net::SocketAddr,
    period: Duration,
) {
    let t = Instant::now();
    while t.elapsed() < period {
        assert!(
            child.0.try_wait().unwrap().is_none(),
            "exited instead of staying up, not ready"
        );
        assert!(!pipeline.ready(admin), "ready with a wrong password");
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn says_rejected(path: &std::path::Path) {
    let log = std::fs::read_to_string(path).unwrap();
    assert!(
        log.contains("Kafka rejected seer's credentials"),
        "no clear error in:\n{log}"
    );
    assert!(
        !log.contains(WRONG) && !log.contains(PASSWORD),
        "a secret was logged:\n{log}"
    );
}

#[test]
#[ignore = "needs the SASL_SSL broker of scripts/kafka.sh: scripts/fault_suite.sh security"]
fn sasl_ssl_with_the_right_and_the_wrong_password() {
    let plain = env("SEER_TEST_KAFKA");
    let sasl = env("SEER_TEST_KAFKA_SASL");
    let ca = env("SEER_TEST_KAFKA_CA");
    let prefix = format!("sec{}", std::process::id());
    let mut pipeline = Pipeline::start(&plain, &prefix, 3);
    pipeline.create_topics();
    let dir = std::env::temp_dir().join(format!("seer-sec-{}", std::process::id()));
    let (csv, last) = write_csv(&dir, 20, 30);

    // the right password, from the environment, over both mechanisms
    pipeline.env = vec![("SEER_KAFKA__SASL_PASSWORD".into(), PASSWORD.into())];
    let mut committed = 0;
    for mechanism in ["SCRAM-SHA-512", "PLAIN"] {
        let args = sasl_args(mechanism, &ca);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (ingest, _) = pipeline.ingest_at(&sasl, &args);
        let status = pipeline
            .replay_command(&csv, 0, &sasl, &args)
            .status()
            .unwrap();
        assert!(status.success(), "replay over SASL_SSL {mechanism}");
        committed += 20 * 30;
        pipeline.wait_committed(committed, Duration::from_secs(60));
        drop(ingest);
    }
    let mut newest: HashMap<String, i64> = HashMap::new();
    for f in pipeline.forecasts(false) {
        let ts = f.latest_observation.map_or(0, |t| t.seconds);
        let e = newest.entry(f.series_id).or_insert(ts);
        *e = (*e).max(ts);
    }
    assert_eq!(
        newest, last,
        "every series forecast to its last point over SASL_SSL"
    );

    // the wrong password: up, not ready, one clear line, no secret
    pipeline.env = vec![("SEER_KAFKA__SASL_PASSWORD".into(), WRONG.into())];
    for mechanism in ["SCRAM-SHA-512", "PLAIN"] {
        let args = sasl_args(mechanism, &ca);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let admin: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let (log, stderr) = stderr_file(&dir, &format!("ingest-{mechanism}.log"));
        let mut cmd = pipeline.ingest_command(&sasl, admin, &args);
        cmd.env("SEER_LOG", "info").stderr(stderr);
        let mut ingest = Killed(cmd.spawn().unwrap());
        stays_unready(&pipeline, &mut ingest, admin, Duration::from_secs(8));
        drop(ingest);
        says_rejected(&log);

        let (log, stderr) = stderr_file(&dir, &format!("replay-{mechanism}.log"));
        let t = Instant::now();
        let status = pipeline
            .replay_command(&csv, 0, &sasl, &args)
            .stderr(stderr)
            .status()
            .unwrap();
        assert!(!status.success(), "replay with a wrong password succeeded");
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "replay took {:?} to fail",
            t.elapsed()
        );
        says_rejected(&log);
    }

    // the gateway too
    let args = sasl_args("SCRAM-SHA-512", &ca);
    let admin: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let (listen, admin_s) = (format!("127.0.0.1:{}", free_port()), admin.to_string());
    let mut gw_args = vec![
        "gateway",
        "--listen",
        &listen,
        "--metrics-listen",
        &admin_s,
        "--brokers",
        &sasl,
        "--engine",
        &pipeline.engine_url,
        "--forecasts-topic",
        &pipeline.forecasts,
        "--observations-topic",
        &pipeline.observations,
    ];
    gw_args.extend(args.iter().map(String::as_str));
    let (log, stderr) = stderr_file(&dir, "gateway.log");
    let mut cmd = seer(&gw_args);
    cmd.env("SEER_KAFKA__SASL_PASSWORD", WRONG)
        .env("SEER_LOG", "info")
        .stderr(stderr);
    let mut gateway = Killed(cmd.spawn().unwrap());
    stays_unready(&pipeline, &mut gateway, admin, Duration::from_secs(8));
    drop(gateway);
    says_rejected(&log);

    // and `seer config print` redacts the password it was given
    let out = seer(&["config", "print", "all"])
        .env("SEER_KAFKA__SASL_PASSWORD", WRONG)
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(!printed.contains(WRONG) && printed.contains("<redacted>"));
    let _ = std::fs::remove_dir_all(&dir);
}
