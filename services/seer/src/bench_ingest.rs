//! `seer bench ingest`: the ingest's own work per event and per forecast, without Kafka or an
//! engine, so that it can be counted in instructions (`valgrind --tool=callgrind
//! --toggle-collect='*bench_ingest::hot_loop*'`) as well as timed, and its memory per series.
//!
//! 1. Hot path: `series` × `points` protobuf observations (encoded beforehand, keyed and spread
//!    over 3 partitions as Kafka would) go through `IngestState` exactly as the Kafka shell drives
//!    it: `on_message`, then after every message the batches that are ready (`take_batch`, the
//!    `ForecastBatchRequest` encoded as tonic would), `delivered` for each and
//!    `take_committable`. Batches fill to `max_batch` or wait `max_delay_ms` on a clock that
//!    advances 1 / `rate` per message, so forecasts per event are the same however fast the loop
//!    runs (under callgrind too).
//! 2. Memory: `memory_series` windows of `window` points, filled past full, through `replay_point` (the
//!    rebuild path after an assignment); VmRSS before and after gives bytes per series, and the
//!    time gives the CPU side of rebuilding that many windows (the broker's read rate is the
//!    other side: `seer bench pipeline`'s raw consume).
//! 3. Engine, seasonal naive: the hot path's requests (decoded back from their bytes, as the
//!    engine receives them) through `EngineService::forecast_batch` in process, and each
//!    response encoded as the gRPC reply would be (`engine_loop` for callgrind).

use std::time::{Duration, Instant};

use clap::Args;
use prost::Message as _;
use seer_ingest::{Incoming, IngestConfig, IngestState};
use seer_proto::convert::timestamp;
use seer_proto::v1::{ForecastBatchRequest, Observation};
use serde_json::json;

use crate::bench_gateway::rss_kib;

const PARTITIONS: i32 = 3;
const START: i64 = 1_735_689_600;

#[derive(Args)]
pub struct IngestBenchArgs {
    /// Series of the hot-path run
    #[arg(long, default_value_t = 1000)]
    pub series: usize,
    /// Hourly points per series in the hot-path run
    #[arg(long, default_value_t = 200)]
    pub points: usize,
    /// Points kept per window
    #[arg(long, default_value_t = 168)]
    pub window: usize,
    /// Ingest max_batch
    #[arg(long, default_value_t = 1024)]
    pub max_batch: usize,
    /// Ingest max_delay_ms
    #[arg(long, default_value_t = 10)]
    pub max_delay_ms: u64,
    /// The event rate the batching clock assumes: message i arrives at i / rate seconds, so the
    /// batches (and the instruction counts under callgrind) do not depend on how fast this
    /// machine runs the loop
    #[arg(long, default_value_t = 1_000_000.0)]
    pub rate: f64,
    /// Windows of the memory run (0: skip it)
    #[arg(long, default_value_t = 1_000_000)]
    pub memory_series: usize,
    /// Also run the hot path's batches through the engine's seasonal naive in process
    #[arg(long)]
    pub engine: bool,
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: &IngestBenchArgs) -> anyhow::Result<()> {
    let config = IngestConfig {
        window: a.window,
        max_batch: a.max_batch,
        max_delay_ms: a.max_delay_ms,
        // the synthetic stream starts in 2025; nothing in it is from the future
        max_future_seconds: u64::MAX / 2,
        ..Default::default()
    };
    let messages = encode(a.series, a.points);
    let events = messages.len();
    let mut state = IngestState::new(&config)?;
    state.assign(&(0..PARTITIONS).collect::<Vec<_>>());
    let t = Instant::now();
    let mut outcome = hot_loop(
        &mut state,
        &messages,
        config.policy().max_delay,
        Duration::from_secs_f64(1.0 / a.rate.max(1.0)),
        a.engine,
    );
    let hot_s = t.elapsed().as_secs_f64();
    let engine = if a.engine {
        Some(engine_phase(std::mem::take(&mut outcome.requests))?)
    } else {
        None
    };
    drop(state);
    drop(messages);

    let memory = (a.memory_series > 0)
        .then(|| memory_per_series(&config, a.memory_series))
        .transpose()?;
    let report = json!({
        "what": "IngestState hot path (decode, place, due, batch, request encode, deliver, commit position), no Kafka, no engine",
        "series": a.series,
        "points_per_series": a.points,
        "window": a.window,
        "max_batch": a.max_batch,
        "max_delay_ms": a.max_delay_ms,
        "batching_clock_events_per_second": a.rate,
        "events": events,
        "seconds": hot_s,
        "events_per_second": events as f64 / hot_s,
        "ns_per_event": hot_s * 1e9 / events as f64,
        "forecasts": outcome.forecasts,
        "batches": outcome.batches,
        "forecasts_per_event": outcome.forecasts as f64 / events as f64,
        "request_bytes": outcome.request_bytes,
        "dead_letters": outcome.dead_letters,
        "engine": engine,
        "memory": memory,
    });
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "hot path: {events} events ({} series × {} points), {:.0} ns/event ({:.2} M events/s), {} forecasts in {} batches ({:.3} per event)",
            a.series,
            a.points,
            hot_s * 1e9 / events as f64,
            events as f64 / hot_s / 1e6,
            outcome.forecasts,
            outcome.batches,
            outcome.forecasts as f64 / events as f64
        );
        if let Some(e) = &engine {
            println!(
                "engine (seasonal naive, in process): {} forecasts, {:.2} µs per forecast, reply {:.0} B per forecast",
                e["forecasts"],
                e["us_per_forecast"].as_f64().unwrap_or(0.0),
                e["reply_bytes_per_forecast"].as_f64().unwrap_or(0.0)
            );
            println!(
                "ingest reading the reply to publish it: {:.3} µs per forecast left encoded ({:.3} µs decoded and encoded again)",
                e["ingest_reply_us_per_forecast"].as_f64().unwrap_or(0.0),
                e["ingest_reply_decoded_us_per_forecast"]
                    .as_f64()
                    .unwrap_or(0.0)
            );
        }
        if let Some(m) = memory {
            println!(
                "memory: {} windows of {} points: {:.0} B/series (VmRSS +{} MiB); filled at {:.2} M points/s ({:.1} s for all)",
                m["series"],
                a.window,
                m["bytes_per_series"],
                m["rss_delta_kib"].as_u64().unwrap_or(0) / 1024,
                m["points_per_second"].as_f64().unwrap_or(0.0) / 1e6,
                m["seconds"].as_f64().unwrap_or(0.0)
            );
        }
    }
    Ok(())
}

/// (partition, key, payload) per message, interleaved in time as a replay produces them.
fn encode(series: usize, points: usize) -> Vec<(i32, Vec<u8>, Vec<u8>)> {
    let ids: Vec<String> = (0..series).map(|s| format!("series-{s:07}")).collect();
    let mut out = Vec::with_capacity(series * points);
    for k in 0..points {
        for (s, id) in ids.iter().enumerate() {
            let payload = Observation {
                series_id: id.clone(),
                timestamp: Some(timestamp(START + k as i64 * 3600)),
                value: ((s + k) % 24) as f64 + 0.25,
                features: Default::default(),
            }
            .encode_to_vec();
            out.push((
                (s % PARTITIONS as usize) as i32,
                id.clone().into_bytes(),
                payload,
            ));
        }
    }
    out
}

#[derive(Default)]
struct Outcome {
    /// The encoded requests, kept for the engine phase.
    requests: Vec<Vec<u8>>,
    forecasts: usize,
    batches: usize,
    request_bytes: usize,
    dead_letters: usize,
}

/// What the Kafka shell does per message, minus Kafka. Not inlined, so callgrind can count it
/// alone.
#[inline(never)]
fn hot_loop(
    state: &mut IngestState,
    messages: &[(i32, Vec<u8>, Vec<u8>)],
    max_delay: Duration,
    tick: Duration,
    keep_requests: bool,
) -> Outcome {
    let mut out = Outcome::default();
    let mut offsets = [0i64; PARTITIONS as usize];
    let wall = START + 400 * 86_400;
    let start = Instant::now();
    let flush = |state: &mut IngestState, now: Instant, out: &mut Outcome| {
        while let Some(batch) = state.take_batch(now) {
            let request = ForecastBatchRequest {
                windows: batch.windows,
                horizon: 24,
                quantiles: vec![0.1, 0.5, 0.9],
                ..Default::default()
            };
            out.request_bytes += request.encoded_len();
            out.forecasts += batch.series.len();
            out.batches += 1;
            let bytes = request.encode_to_vec();
            if keep_requests {
                out.requests.push(bytes);
            } else {
                std::hint::black_box(bytes);
            }
            state.delivered(&batch.series);
        }
        std::hint::black_box(state.take_committable());
    };
    for (i, (partition, key, payload)) in messages.iter().enumerate() {
        let now = start + tick * i as u32;
        let offset = &mut offsets[*partition as usize];
        let incoming = Incoming {
            partition: *partition,
            offset: *offset,
            key: Some(key),
            payload,
        };
        *offset += 1;
        if state
            .on_message(incoming, wall, now)
            .dead_letter()
            .is_some()
        {
            out.dead_letters += 1;
        }
        flush(state, now, &mut out);
    }
    // the last partial batches, as their deadline passes
    flush(
        state,
        start + tick * messages.len() as u32 + max_delay,
        &mut out,
    );
    out
}

fn engine_phase(requests: Vec<Vec<u8>>) -> anyhow::Result<serde_json::Value> {
    let ctx = std::sync::Arc::new(seer_gpu::GpuContext::from_env()?);
    let registry = seer_engine::ModelRegistry::load(&ctx, None, None)?;
    let metrics = seer_engine::EngineMetrics::new(&prometheus::Registry::new())?;
    let service = seer_engine::EngineService::new(
        ctx,
        std::sync::Arc::new(registry),
        &seer_engine::EngineConfig::default(),
        metrics,
    )?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let t = Instant::now();
    let replies = rt.block_on(engine_loop(&service, &requests))?;
    let seconds = t.elapsed().as_secs_f64();
    let reply_bytes: usize = replies.iter().map(Vec::len).sum();
    let t = Instant::now();
    let forecasts = publish_encoded(&replies)?;
    let encoded_seconds = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let decoded_forecasts = publish_decoded(&replies)?;
    let decoded_seconds = t.elapsed().as_secs_f64();
    anyhow::ensure!(forecasts == decoded_forecasts, "the two readings disagree");
    let per = |s: f64| s * 1e6 / forecasts.max(1) as f64;
    Ok(json!({
        "what": "seasonal naive through EngineService::forecast_batch (request decoded, reply encoded), no gRPC transport",
        "batches": requests.len(),
        "forecasts": forecasts,
        "seconds": seconds,
        "us_per_forecast": per(seconds),
        "reply_bytes_per_forecast": reply_bytes as f64 / forecasts.max(1) as f64,
        "ingest_reply_us_per_forecast": per(encoded_seconds),
        "ingest_reply_decoded_us_per_forecast": per(decoded_seconds),
    }))
}

/// How the ingest reads a reply for publishing: forecasts left encoded, each one's series id
/// read for its record key. Not inlined, for callgrind.
#[inline(never)]
fn publish_encoded(replies: &[Vec<u8>]) -> anyhow::Result<usize> {
    let mut n = 0;
    for r in replies {
        let reply = seer_proto::encoded::EncodedForecastBatch::decode(r.as_slice())?;
        for f in &reply.forecasts {
            std::hint::black_box((seer_proto::encoded::series_id_of(f)?, f));
            n += 1;
        }
    }
    Ok(n)
}

/// The reading it replaced, kept to compare: every forecast decoded, then encoded again.
#[inline(never)]
fn publish_decoded(replies: &[Vec<u8>]) -> anyhow::Result<usize> {
    let mut n = 0;
    for r in replies {
        let reply = seer_proto::v1::ForecastBatchResponse::decode(r.as_slice())?;
        for f in &reply.forecasts {
            std::hint::black_box((f.series_id.clone(), f.encode_to_vec()));
            n += 1;
        }
    }
    Ok(n)
}

/// What the engine does per batch, without the transport. Not inlined, for callgrind.
#[inline(never)]
async fn engine_loop(
    service: &seer_engine::EngineService,
    requests: &[Vec<u8>],
) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut replies = Vec::with_capacity(requests.len());
    for r in requests {
        let request = ForecastBatchRequest::decode(r.as_slice())?;
        let response = service.forecast_batch(request, None).await?;
        replies.push(response.encode_to_vec());
    }
    Ok(replies)
}

fn memory_per_series(config: &IngestConfig, series: usize) -> anyhow::Result<serde_json::Value> {
    let ids: Vec<String> = (0..series).map(|s| format!("series-{s:07}")).collect();
    let mut state = IngestState::new(config)?;
    state.assign(&(0..PARTITIONS).collect::<Vec<_>>());
    let before = rss_kib();
    let t = Instant::now();
    // past the window's length, so every window has also shifted (its steady state)
    let points = config.window + 32;
    for k in 0..points {
        let ts = START + k as i64 * 3600;
        for (s, id) in ids.iter().enumerate() {
            state.replay_point((s % PARTITIONS as usize) as i32, id, ts, (s + k) as f64);
        }
    }
    let seconds = t.elapsed().as_secs_f64();
    let after = rss_kib();
    let points = series * points;
    std::hint::black_box(&state);
    Ok(json!({
        "series": series,
        "window": config.window,
        "rss_before_kib": before,
        "rss_after_kib": after,
        "rss_delta_kib": after.saturating_sub(before),
        "bytes_per_series": (after.saturating_sub(before) * 1024) as f64 / series as f64,
        "seconds": seconds,
        "points_per_second": points as f64 / seconds,
    }))
}
