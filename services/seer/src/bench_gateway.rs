//! `seer bench gateway`: GetLatest requests/s and latency through the public gateway, and the
//! resident memory its latest-forecast view takes.
//!
//! `--series` forecasts (one per series, pipeline-sized: 24 steps, mean and 3 quantiles, ~1 KB
//! encoded) are produced to the forecasts topic of an embedded librdkafka MockCluster (the mock
//! keeps about 5 MiB per partition, hence `--partitions` 32 by default; the benchmark checks that
//! nothing was dropped), then a gateway is started against it exactly as `seer gateway` builds one
//! and read until its health turns SERVING and `seer_gateway_view_series` equals `--series`.
//! VmRSS (/proc/self/status) is read right before the gateway starts and once the view is
//! loaded; the difference is the view plus the gateway's fixed cost (threads, the consumer's
//! buffers), which the allocator may not all have handed back.
//!
//! Then, for each `--concurrency` level, that many tonic clients (one HTTP/2 connection each,
//! over 127.0.0.1 sockets) call GetLatest back to back for random series for `--duration-secs`
//! (after a 0.5 s warm-up that is not counted). Clients and gateway share this process and its
//! cores, so the figures are what one machine does serving itself.

use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use prost::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use seer_gateway::{Gateway, GatewayConfig};
use seer_proto::convert::timestamp;
use seer_proto::v1::forecasts_client::ForecastsClient;
use seer_proto::v1::{Forecast, GetLatestRequest, QuantileValues};
use seer_runtime::{KafkaConfig, Readiness};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const HORIZON: usize = 24;
const WARMUP: Duration = Duration::from_millis(500);

#[derive(Args)]
pub struct GatewayBenchArgs {
    /// Series in the gateway's view (one forecast each)
    #[arg(long, default_value_t = 100_000)]
    pub series: usize,
    /// Partitions of the forecasts topic (the embedded broker keeps ~5 MiB per partition)
    #[arg(long, default_value_t = 32)]
    pub partitions: i32,
    /// Concurrent clients, one run per level
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    pub concurrency: Vec<usize>,
    /// Measured seconds per concurrency level (after a 0.5 s warm-up)
    #[arg(long, default_value_t = 5.0)]
    pub duration_secs: f64,
    #[arg(long)]
    pub json: bool,
    /// Also write the JSON report to this file
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
    /// Only measure VmRSS around applying the decoded forecasts to a bare `LatestView` in this
    /// process (no broker, no gateway, no clients): the view's own footprint
    #[arg(long)]
    pub view_only: bool,
}

pub fn run(a: &GatewayBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(a.series > 0, "--series must be at least 1");
    anyhow::ensure!(a.partitions > 0, "--partitions must be at least 1");
    anyhow::ensure!(
        !a.concurrency.is_empty() && a.concurrency.iter().all(|&c| c > 0),
        "--concurrency levels must be at least 1"
    );
    anyhow::ensure!(a.duration_secs > 0.0, "--duration-secs must be positive");
    if a.view_only {
        return view_only(a);
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(bench(a))
}

/// This process's resident memory (VmRSS), KiB.
pub(crate) fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn series_id(i: usize) -> String {
    format!("series-{i:07}")
}

/// A forecast shaped like the pipeline's: 24 hourly steps, a mean and the 0.1/0.5/0.9 quantiles.
fn forecast(i: usize) -> Forecast {
    let t0 = 1_700_000_000 + 3600 * 168;
    let mean: Vec<f64> = (0..HORIZON)
        .map(|h| 100.0 + (i % 97) as f64 + h as f64 * 0.25)
        .collect();
    Forecast {
        series_id: series_id(i),
        issued_at: Some(timestamp(t0 + 5)),
        model: "seasonal_naive".into(),
        model_version: "1".into(),
        timestamps: (1..=HORIZON as i64)
            .map(|h| timestamp(t0 + 3600 * h))
            .collect(),
        quantiles: [0.1, 0.5, 0.9]
            .iter()
            .map(|&level| QuantileValues {
                level,
                values: mean.iter().map(|m| m + (level - 0.5) * 20.0).collect(),
            })
            .collect(),
        mean,
        samples: Vec::new(),
        latest_observation: Some(timestamp(t0)),
        partial_window: false,
        observed_points: 168,
    }
}

/// Produces one forecast per series and checks the broker kept them all. Returns the encoded
/// bytes and the seconds it took.
fn produce(brokers: &str, topic: &str, series: usize, parts: i32) -> anyhow::Result<(usize, f64)> {
    let t0 = Instant::now();
    let p: BaseProducer = KafkaConfig::with_brokers(brokers)
        .client_config()
        .set("linger.ms", "5")
        .set("queue.buffering.max.messages", "1000000")
        .create()?;
    let mut bytes = 0;
    for i in 0..series {
        let f = forecast(i);
        let payload = f.encode_to_vec();
        bytes += payload.len();
        loop {
            match p.send(
                BaseRecord::to(topic)
                    .key(f.series_id.as_str())
                    .payload(&payload),
            ) {
                Ok(()) => break,
                Err((e, _)) => {
                    tracing::debug!(error = %e, "producer queue full");
                    p.poll(Duration::from_millis(1));
                }
            }
        }
        if i % 1024 == 0 {
            p.poll(Duration::ZERO);
        }
    }
    p.flush(Duration::from_secs(60))
        .context("flushing the forecasts")?;
    let c: BaseConsumer = KafkaConfig::with_brokers(brokers)
        .client_config()
        .create()?;
    let (mut low, mut high) = (0, 0);
    for part in 0..parts {
        let (l, h) = c.fetch_watermarks(topic, part, Duration::from_secs(5))?;
        low += l;
        high += h;
    }
    anyhow::ensure!(
        low == 0 && high == series as i64,
        "the embedded broker holds offsets {low}..{high} of the {series} forecasts (it keeps about 5 MiB per partition); use more --partitions"
    );
    Ok((bytes, t0.elapsed().as_secs_f64()))
}

fn view_only(a: &GatewayBenchArgs) -> anyhow::Result<()> {
    let payloads: Vec<Vec<u8>> = (0..a.series).map(|i| forecast(i).encode_to_vec()).collect();
    let before = rss_kib();
    let view = seer_gateway::LatestView::new(GatewayConfig::default().watch_buffer);
    for p in &payloads {
        view.apply(Forecast::decode(p.as_slice())?, false);
    }
    let after = rss_kib();
    anyhow::ensure!(view.len() == a.series, "view holds {} series", view.len());
    let report = json!({
        "series": a.series,
        "vmrss_kib_before": before,
        "vmrss_kib_after": after,
        "view_rss_kib": after as i64 - before as i64,
        "view_rss_bytes_per_series": (after as f64 - before as f64) * 1024.0 / a.series as f64,
    });
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let _ = crate::terminal::write_stdout(&format!(
            "bare LatestView, {} series: VmRSS {before} → {after} KiB: +{} KiB ({:.0} B/series)\n",
            a.series,
            after as i64 - before as i64,
            (after as f64 - before as f64) * 1024.0 / a.series as f64
        ));
    }
    Ok(())
}

fn view_series(registry: &prometheus::Registry) -> i64 {
    registry
        .gather()
        .iter()
        .find(|m| m.name() == "seer_gateway_view_series")
        .and_then(|m| m.get_metric().first().map(|g| g.get_gauge().value() as i64))
        .unwrap_or(0)
}

struct Level {
    ok: u64,
    errors: u64,
    secs: f64,
    lat_us: Vec<u64>,
}

async fn client_loop(
    url: String,
    series: usize,
    seed: u64,
    measure_from: Instant,
    end: Instant,
) -> anyhow::Result<(u64, u64, Vec<u64>)> {
    let mut client = ForecastsClient::connect(url).await?;
    let (mut ok, mut errors, mut lat) = (0u64, 0u64, Vec::new());
    let mut x = seed | 1;
    loop {
        let start = Instant::now();
        if start >= end {
            break;
        }
        // xorshift64: a random series each call
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let id = series_id((x % series as u64) as usize);
        let r = client.get_latest(GetLatestRequest { series_id: id }).await;
        if start < measure_from {
            continue;
        }
        match r {
            Ok(resp) if resp.get_ref().forecast.is_some() => {
                ok += 1;
                lat.push(start.elapsed().as_micros() as u64);
            }
            Ok(_) | Err(_) => errors += 1,
        }
    }
    Ok((ok, errors, lat))
}

async fn level(url: &str, series: usize, clients: usize, secs: f64) -> anyhow::Result<Level> {
    let measure_from = Instant::now() + WARMUP;
    let end = measure_from + Duration::from_secs_f64(secs);
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            tokio::spawn(client_loop(
                url.to_string(),
                series,
                0x9E37_79B9_7F4A_7C15u64.wrapping_mul(c as u64 + 1),
                measure_from,
                end,
            ))
        })
        .collect();
    let mut out = Level {
        ok: 0,
        errors: 0,
        secs,
        lat_us: Vec::new(),
    };
    for t in tasks {
        let (ok, errors, lat) = t.await??;
        out.ok += ok;
        out.errors += errors;
        out.lat_us.extend(lat);
    }
    out.lat_us.sort_unstable();
    Ok(out)
}

/// The `p` percentile of microsecond latencies, in milliseconds.
fn pct(sorted: &[u64], p: f64) -> f64 {
    seer_core::quantiles::percentile_index(sorted.len(), p)
        .map_or(f64::NAN, |i| sorted[i] as f64 / 1000.0)
}

async fn bench(a: &GatewayBenchArgs) -> anyhow::Result<()> {
    let rss_start = rss_kib();
    let topic = "bench.forecasts".to_string();
    let mock = rdkafka::mocking::MockCluster::new(1)
        .context("starting the embedded Kafka-protocol broker")?;
    mock.create_topic(&topic, a.partitions, 1)?;
    let brokers = mock.bootstrap_servers();
    eprintln!(
        "seer bench gateway: producing {} forecasts to {} partitions of an embedded MockCluster",
        a.series, a.partitions
    );
    let (b, t, n, p) = (brokers.clone(), topic.clone(), a.series, a.partitions);
    let (bytes, produce_s) = tokio::task::spawn_blocking(move || produce(&b, &t, n, p)).await??;

    let rss_before = rss_kib();
    let registry = prometheus::Registry::new();
    let shutdown = CancellationToken::new();
    let config = GatewayConfig {
        kafka: seer_runtime::KafkaConfig::with_brokers(brokers.clone()),
        topics: seer_runtime::Topics {
            forecasts: topic.clone(),
            ..Default::default()
        },
        // GetLatest needs only the forecasts topic
        history_window: 0,
        engine: "http://127.0.0.1:1".into(),
        ..GatewayConfig::default()
    };
    let max_concurrent = config.max_concurrent;
    let load_t0 = Instant::now();
    let gateway = Gateway::start(config, &registry, shutdown.clone())?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let ready = Readiness::default();
    let server = tokio::spawn(gateway.serve(listener, ready.clone()));
    let deadline = Instant::now() + Duration::from_secs(300);
    while !(ready.get() && view_series(&registry) == a.series as i64) {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the gateway did not load {} series within 300 s (view: {}, serving: {})",
            a.series,
            view_series(&registry),
            ready.get()
        );
        anyhow::ensure!(!server.is_finished(), "the gateway stopped while loading");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let load_s = load_t0.elapsed().as_secs_f64();
    // let the consumer's fetch buffers drain before reading the settled size
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_after = rss_kib();
    eprintln!(
        "  view loaded: {} series in {load_s:.2} s; VmRSS {} → {} MiB",
        a.series,
        rss_before / 1024,
        rss_after / 1024
    );

    let url = format!("http://{addr}");
    let mut levels = Vec::new();
    for &c in &a.concurrency {
        eprintln!("  GetLatest with {c} clients for {} s", a.duration_secs);
        let l = level(&url, a.series, c, a.duration_secs).await?;
        levels.push(json!({
            "clients": c,
            "requests": l.ok,
            "errors": l.errors,
            "seconds": l.secs,
            "requests_per_second": l.ok as f64 / l.secs,
            "p50_ms": pct(&l.lat_us, 0.50),
            "p99_ms": pct(&l.lat_us, 0.99),
            "p999_ms": pct(&l.lat_us, 0.999),
            "max_ms": l.lat_us.last().map_or(f64::NAN, |&m| m as f64 / 1000.0),
        }));
    }
    let rss_end = rss_kib();
    shutdown.cancel();
    server.await??;
    // let the readers close their consumers before the broker goes
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(mock);

    let report = json!({
        "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "broker": "embedded librdkafka MockCluster, 1 broker, in process",
        "series": a.series,
        "partitions": a.partitions,
        "forecast_bytes_encoded_total": bytes,
        "forecast_bytes_encoded_each": bytes as f64 / a.series as f64,
        "produce_seconds": produce_s,
        "view_load_seconds": load_s,
        "gateway_max_concurrent": max_concurrent,
        "vmrss_kib": {
            "process_start": rss_start,
            "before_gateway": rss_before,
            "view_loaded": rss_after,
            "after_load_runs": rss_end,
        },
        "view_rss_kib": rss_after as i64 - rss_before as i64,
        "view_rss_bytes_per_series": (rss_after as f64 - rss_before as f64) * 1024.0 / a.series as f64,
        "warmup_seconds": WARMUP.as_secs_f64(),
        "get_latest": levels,
    });
    if let Some(path) = &a.out {
        std::fs::write(path, serde_json::to_string_pretty(&report)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
    }
    Ok(())
}

fn print_table(r: &Value) {
    let f = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    let mut s = format!(
        "gateway GetLatest, {} series in the view ({} cpus, {})\n",
        r["series"], r["cpus"], r["broker"]
    );
    s += &format!(
        "view: loaded in {:.2} s; VmRSS before gateway {} KiB, view loaded {} KiB: +{} KiB ({:.0} B/series; encoded forecast {:.0} B)\n",
        f(&r["view_load_seconds"]),
        r["vmrss_kib"]["before_gateway"],
        r["vmrss_kib"]["view_loaded"],
        r["view_rss_kib"],
        f(&r["view_rss_bytes_per_series"]),
        f(&r["forecast_bytes_encoded_each"]),
    );
    s += "clients  requests/s   p50 ms   p99 ms  p99.9 ms  errors\n";
    for l in r["get_latest"].as_array().into_iter().flatten() {
        s += &format!(
            "{:>7}  {:>10.0}  {:>7.3}  {:>7.3}  {:>8.3}  {:>6}\n",
            l["clients"],
            f(&l["requests_per_second"]),
            f(&l["p50_ms"]),
            f(&l["p99_ms"]),
            f(&l["p999_ms"]),
            l["errors"],
        );
    }
    let _ = crate::terminal::write_stdout(&s);
}
