//! `seer bench kernels`: times each kernel family on the chosen adapter. Wall clock covers
//! record + submit + wait; GPU time sums the timestamp queries around each pass where the
//! adapter has them. On the software adapter the reference shapes take minutes, so a reduced
//! set runs unless --full, and every row says which.

use std::path::Path;
use std::time::Instant;

use seer_core::time::{Frequency, parse_timestamp};
use seer_gpu::ops::{self, Activation, GemmSpec};
use seer_gpu::{GpuContext, Recorder, Tensor};
use seer_model::checkpoint::{Weights, init_weights};
use seer_model::layers::{Cell, RecurrentStack, TcnStack};
use seer_model::{History, Model, ModelConfig, ModelKind, PredictOptions};
use serde_json::{Value, json};

struct Row {
    name: String,
    shape: String,
    reduced: bool,
    flops: f64,
    wall: Vec<f64>,
    gpu: Vec<f64>,
}

fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    Some(s[s.len() / 2])
}

fn noise(n: usize, seed: u64, bound: f32) -> Vec<f32> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * bound
        })
        .collect()
}

/// Times `reps` runs of `record` after one warm-up (pipeline compilation, allocation).
fn time_it(
    ctx: &GpuContext,
    reps: usize,
    mut record: impl FnMut(&mut Recorder<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let (mut wall, mut gpu) = (Vec::new(), Vec::new());
    for rep in 0..=reps {
        let start = Instant::now();
        let mut rec = Recorder::new(ctx).with_timing(512);
        record(&mut rec)?;
        let g = rec.submit_timed()?;
        let w = start.elapsed().as_secs_f64();
        if rep > 0 {
            wall.push(w);
            if let Some(g) = g {
                gpu.push(g);
            }
        }
    }
    Ok((wall, gpu))
}

fn lstm_weights(input: usize, hidden: usize) -> Weights {
    let mut w = Weights::default();
    let g = 4 * hidden;
    let b = 1.0 / (hidden as f32).sqrt();
    w.insert("weight_ih_l0", vec![g, input], noise(g * input, 1, b));
    w.insert("weight_hh_l0", vec![g, hidden], noise(g * hidden, 2, b));
    w.insert("bias_ih_l0", vec![g], noise(g, 3, b));
    w.insert("bias_hh_l0", vec![g], noise(g, 4, b));
    w
}

fn bench_lstm(
    ctx: &GpuContext,
    batch: usize,
    hidden: usize,
    steps: usize,
    reduced: bool,
    reps: usize,
) -> anyhow::Result<Row> {
    let input = 4;
    let stack = RecurrentStack::load(ctx, &lstm_weights(input, hidden), "", Cell::Lstm, 1, false)?;
    let x = ctx.upload(
        &noise(batch * steps * input, 5, 1.0),
        &[batch * steps, input],
    )?;
    let (wall, gpu) = time_it(ctx, reps, |rec| {
        stack.forward(rec, &x, batch, steps, None, None)?;
        Ok(())
    })?;
    let flops = 2.0 * (batch * steps * 4 * hidden * (input + hidden)) as f64;
    Ok(Row {
        name: "lstm_forward".into(),
        shape: format!("1 layer, input {input}, T={steps}, B={batch}, H={hidden}"),
        reduced,
        flops,
        wall,
        gpu,
    })
}

fn bench_tcn(
    ctx: &GpuContext,
    batch: usize,
    steps: usize,
    reduced: bool,
    reps: usize,
) -> anyhow::Result<Row> {
    let (channels, dilations, k, c_in) = ([32usize; 4], [1usize, 2, 4, 8], 3usize, 1usize);
    let mut w = Weights::default();
    let mut prev = c_in;
    for (i, &c) in channels.iter().enumerate() {
        w.insert(
            format!("blocks.{i}.conv1.weight"),
            vec![c, prev, k],
            noise(c * prev * k, 10 + i as u64, 0.3),
        );
        w.insert(
            format!("blocks.{i}.conv1.bias"),
            vec![c],
            noise(c, 20 + i as u64, 0.1),
        );
        w.insert(
            format!("blocks.{i}.conv2.weight"),
            vec![c, c, k],
            noise(c * c * k, 30 + i as u64, 0.3),
        );
        w.insert(
            format!("blocks.{i}.conv2.bias"),
            vec![c],
            noise(c, 40 + i as u64, 0.1),
        );
        if prev != c {
            w.insert(
                format!("blocks.{i}.downsample.weight"),
                vec![c, prev, 1],
                noise(c * prev, 50, 0.3),
            );
            w.insert(
                format!("blocks.{i}.downsample.bias"),
                vec![c],
                noise(c, 60, 0.1),
            );
        }
        prev = c;
    }
    let stack = TcnStack::load(ctx, &w, "blocks.", c_in, &channels, &dilations, k)?;
    let x = ctx.upload(&noise(batch * c_in * steps, 7, 1.0), &[batch, c_in, steps])?;
    let (wall, gpu) = time_it(ctx, reps, |rec| {
        stack.forward(rec, &x, batch, steps)?;
        Ok(())
    })?;
    let per_step: usize = channels
        .iter()
        .scan(c_in, |prev, &c| {
            let f = c * *prev * k + c * c * k + if *prev != c { c * *prev } else { 0 };
            *prev = c;
            Some(f)
        })
        .sum();
    Ok(Row {
        name: "tcn_forward".into(),
        shape: format!("4 blocks C=32 k=3 dilations 1,2,4,8, B={batch}, T={steps}"),
        reduced,
        flops: 2.0 * (batch * steps * per_step) as f64,
        wall,
        gpu,
    })
}

fn bench_gemm(
    ctx: &GpuContext,
    m: usize,
    n: usize,
    k: usize,
    reduced: bool,
    reps: usize,
) -> anyhow::Result<Row> {
    let a = ctx.upload(&noise(m * k, 1, 1.0), &[m, k])?;
    let b = ctx.upload(&noise(k * n, 2, 1.0), &[k, n])?;
    let c = ctx.zeros(&[m, n])?;
    let spec = GemmSpec {
        activation: Activation::Relu,
        ..GemmSpec::row_major(m, n, k)
    };
    let (wall, gpu) = time_it(ctx, reps, |rec| {
        ops::gemm(rec, &spec, &a, &b, None, &c)?;
        Ok(())
    })?;
    Ok(Row {
        name: "gemm".into(),
        shape: format!("{m}x{n}x{k} relu"),
        reduced,
        flops: 2.0 * (m * n * k) as f64,
        wall,
        gpu,
    })
}

fn bench_softmax(
    ctx: &GpuContext,
    rows: usize,
    classes: usize,
    reduced: bool,
    reps: usize,
) -> anyhow::Result<Row> {
    let logits: Tensor = ctx.upload(&noise(rows * classes, 3, 10.0), &[rows, classes])?;
    let probs = ctx.zeros(&[rows, classes])?;
    let (wall, gpu) = time_it(ctx, reps, |rec| {
        ops::softmax(rec, rows, classes, &logits, &probs)?;
        Ok(())
    })?;
    Ok(Row {
        name: "softmax".into(),
        shape: format!("{rows} rows x {classes} classes"),
        reduced,
        flops: 3.0 * (rows * classes) as f64,
        wall,
        gpu,
    })
}

/// DeepAR 2×40 Gaussian, paths × 24 steps: the whole predict call (context pass, sampling,
/// readback, quantiles on the CPU), wall clock only.
fn bench_deepar(
    ctx: &GpuContext,
    batch: usize,
    paths: usize,
    reduced: bool,
    reps: usize,
) -> anyhow::Result<Row> {
    let config = ModelConfig {
        model: ModelKind::Deepar,
        freq: Frequency::Seconds(3600),
        context_length: 168,
        horizon: 24,
        time_features: seer_core::features::default_time_features(3600),
        input_size: None,
        hidden_size: 40,
        num_layers: 2,
        quantiles: Vec::new(),
        channels: Vec::new(),
        kernel_size: 0,
        dilations: Vec::new(),
        lags: vec![1, 2, 3, 24, 48, 168],
        cardinality: 1,
        embedding_dim: 0,
        distribution: Some("gaussian".into()),
        num_samples: paths,
        series_ids: None,
        classes: Vec::new(),
        seasonal_naive_series: Vec::new(),
        covariates: Vec::new(),
    };
    let weights = init_weights(&config, 1)?;
    let model = Model::from_parts(ctx, config, weights)?;
    let histories = hourly_histories(batch, 168 + 168, 100, |k, x| {
        10.0 + (k as f64 / 24.0 * std::f64::consts::TAU).sin() + x as f64
    })?;
    let opts = PredictOptions {
        horizon: Some(24),
        ..Default::default()
    };
    let wall = time_predictions(ctx, &model, &histories, &opts, reps)?;
    let flops_step = 2.0 * (4 * 40 * (6 + 2 + 40) + 4 * 40 * 80 + 2 * 40) as f64;
    Ok(Row {
        name: "deepar_sample".into(),
        shape: format!("2x40 gaussian, {paths} paths x 24 steps, context 168, B={batch}"),
        reduced,
        flops: flops_step * (batch * (168 + paths * 24)) as f64,
        wall,
        gpu: Vec::new(),
    })
}

/// `batch` hourly series of `len` points from 2024-01-01, point k of series i at
/// `value(k, noise)` (the noise seeded by `seed + i`).
fn hourly_histories(
    batch: usize,
    len: usize,
    seed: u64,
    value: impl Fn(usize, f32) -> f64,
) -> anyhow::Result<Vec<History>> {
    let start = parse_timestamp("2024-01-01T00:00:00Z")?;
    Ok((0..batch)
        .map(|i| {
            let v = noise(len, seed + i as u64, 5.0);
            History::new(
                format!("s{i}"),
                (0..len as i64).map(|k| start + k * 3600).collect(),
                v.iter().enumerate().map(|(k, x)| value(k, *x)).collect(),
            )
        })
        .collect())
}

/// Wall seconds of `reps` whole predictions, after one untimed warm-up.
fn time_predictions(
    ctx: &GpuContext,
    model: &Model,
    histories: &[History],
    opts: &PredictOptions,
    reps: usize,
) -> anyhow::Result<Vec<f64>> {
    let mut wall = Vec::new();
    for rep in 0..=reps {
        let t = Instant::now();
        model.predict(ctx, histories, opts)?;
        if rep > 0 {
            wall.push(t.elapsed().as_secs_f64());
        }
    }
    Ok(wall)
}

/// The pipeline's LSTM forecaster (`seer bench pipeline --model lstm`): one whole `predict` of
/// a batch of full windows, so the cost per forecast the ingest sees, decode loop included.
fn bench_lstm_forecast(ctx: &GpuContext, batch: usize, reps: usize) -> anyhow::Result<Row> {
    let (config, weights) = crate::bench_pipeline::pipeline_lstm()?;
    let (context, hidden, horizon) = (config.context_length, config.hidden_size, config.horizon);
    let input = config.derived_input_size();
    let model = Model::from_parts(ctx, config, weights)?;
    let histories = hourly_histories(batch, context, 300, |_, x| 20.0 + x as f64)?;
    let wall = time_predictions(ctx, &model, &histories, &PredictOptions::default(), reps)?;
    let flops_step = 2.0 * (4 * hidden * (input + hidden)) as f64;
    Ok(Row {
        name: "lstm_forecast".into(),
        shape: format!(
            "1x{hidden} quantile, context {context} + {horizon} decode steps, B={batch}"
        ),
        reduced: true,
        flops: flops_step * (batch * (context + horizon)) as f64,
        wall,
        gpu: Vec::new(),
    })
}

/// DeepAR-shaped training (2×40 LSTM, Gaussian head, window 144 + 24 = 168 steps): the
/// throughput of whole steps (batch assembly on the CPU, forward, loss, BPTT, clipping, AdamW,
/// loss readback), as `seer train` runs them.
pub fn run_train(
    as_json: bool,
    full: bool,
    steps: usize,
    out: Option<&Path>,
) -> anyhow::Result<()> {
    use seer_core::synthetic::{SyntheticKind, SyntheticSpec, generate};
    use seer_model::train::{TrainOptions, train};
    let ctx = GpuContext::from_env()?;
    let reduced = (ctx.summary.is_software || ctx.is_cpu()) && !full;
    let batch = if reduced { 16 } else { 4096 };
    let config = ModelConfig {
        model: ModelKind::Deepar,
        freq: Frequency::Seconds(3600),
        context_length: 144,
        horizon: 24,
        time_features: seer_core::features::default_time_features(3600),
        input_size: None,
        hidden_size: 40,
        num_layers: 2,
        quantiles: Vec::new(),
        channels: Vec::new(),
        kernel_size: 0,
        dilations: Vec::new(),
        lags: vec![1, 2, 3, 24, 48, 168],
        cardinality: 1,
        embedding_dim: 0,
        distribution: Some("gaussian".into()),
        num_samples: 100,
        series_ids: None,
        classes: Vec::new(),
        seasonal_naive_series: Vec::new(),
        covariates: Vec::new(),
    };
    let spec = SyntheticSpec {
        series: 32,
        points: 1000,
        freq: 3600,
        start: 1_700_000_000,
        seed: 1,
        kind: SyntheticKind::Real,
    };
    let histories: Vec<History> = generate(&spec)?
        .into_iter()
        .map(|s| History::new(s.id, s.timestamps, s.values))
        .collect();
    let weights = init_weights(&config, 1)?;
    let opts = TrainOptions {
        epochs: 2,
        steps_per_epoch: steps.max(1),
        batch_size: batch,
        patience: 10,
        ..Default::default()
    };
    let mut rates = Vec::new();
    train(&ctx, &config, &weights, &histories, &opts, |e| {
        rates.push(e.windows_per_second)
    })?;
    // the first epoch includes pipeline compilation; report the second
    let wps = rates.last().copied().unwrap_or(f64::NAN);
    let report = json!({
        "adapter": ctx.summary.name,
        "software": ctx.summary.is_software,
        "reduced": reduced,
        "name": "deepar_train_step",
        "shape": format!("2x40 LSTM, gaussian, T=168 (144+24), B={batch}"),
        "steps": steps,
        "windows_per_second": wps,
        "ms_per_step": batch as f64 / wps * 1e3,
    });
    if let Some(path) = out {
        std::fs::write(path, serde_json::to_string_pretty(&report)? + "\n")?;
    }
    if as_json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "adapter: {}{}\ndeepar training, {}: {:.1} windows/s, {:.1} ms per step",
            ctx.summary.name,
            if reduced { " — reduced batch" } else { "" },
            report["shape"].as_str().unwrap_or(""),
            wps,
            batch as f64 / wps * 1e3
        );
    }
    Ok(())
}

pub fn run_kernels(
    as_json: bool,
    full: bool,
    reps: usize,
    out: Option<&Path>,
) -> anyhow::Result<()> {
    let ctx = GpuContext::from_env()?;
    let reduced = (ctx.summary.is_software || ctx.is_cpu()) && !full;
    let reps = reps.max(1);
    let mut rows = Vec::new();
    if reduced {
        eprintln!(
            "{} backend: running the reduced shape set (pass --full for the reference shapes)",
            ctx.summary.kind()
        );
        rows.push(bench_gemm(&ctx, 1024, 64, 64, true, reps)?);
        rows.push(bench_lstm(&ctx, 64, 40, 168, true, reps)?);
        rows.push(bench_lstm(&ctx, 64, 64, 168, true, reps)?);
        rows.push(bench_tcn(&ctx, 64, 168, true, reps)?);
        rows.push(bench_softmax(&ctx, 4096, 10, true, reps)?);
        rows.push(bench_deepar(&ctx, 8, 100, true, reps.min(3))?);
        rows.push(bench_lstm_forecast(&ctx, 100, reps)?);
        rows.push(bench_lstm_forecast(&ctx, 8, reps)?);
    } else {
        rows.push(bench_gemm(&ctx, 8192, 256, 64, false, reps)?);
        for (b, h) in [(1024, 40), (4096, 64), (16384, 64)] {
            rows.push(bench_lstm(&ctx, b, h, 168, false, reps)?);
        }
        rows.push(bench_tcn(&ctx, 4096, 168, false, reps)?);
        rows.push(bench_softmax(&ctx, 1 << 20, 10, false, reps)?);
        rows.push(bench_deepar(&ctx, 4096, 100, false, reps.min(3))?);
    }
    let report = json!({
        "adapter": ctx.summary.name,
        "backend": ctx.summary.backend,
        "software": ctx.summary.is_software,
        "reduced": reduced,
        "reps": reps,
        "results": rows.iter().map(|r| {
            let wall = median(&r.wall);
            let gpu = median(&r.gpu);
            let best = gpu.or(wall).unwrap_or(f64::NAN);
            json!({
                "name": r.name,
                "shape": r.shape,
                "reduced": r.reduced,
                "wall_ms": wall.map(|w| w * 1e3),
                "gpu_ms": gpu.map(|g| g * 1e3),
                "gflops": r.flops / best / 1e9,
            })
        }).collect::<Vec<Value>>(),
    });
    if let Some(path) = out {
        std::fs::write(path, serde_json::to_string_pretty(&report)? + "\n")?;
    }
    if as_json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "adapter: {} ({}){}",
        ctx.summary.name,
        ctx.summary.backend,
        if reduced { " — reduced shapes" } else { "" }
    );
    println!(
        "{:<15} {:<62} {:>11} {:>11} {:>9}",
        "kernel", "shape", "wall ms", "gpu ms", "GFLOP/s"
    );
    for r in report["results"].as_array().into_iter().flatten() {
        let ms = |v: &Value| {
            v.as_f64()
                .map(|x| format!("{x:.3}"))
                .unwrap_or_else(|| "-".into())
        };
        println!(
            "{:<15} {:<62} {:>11} {:>11} {:>9.2}",
            r["name"].as_str().unwrap_or(""),
            r["shape"].as_str().unwrap_or(""),
            ms(&r["wall_ms"]),
            ms(&r["gpu_ms"]),
            r["gflops"].as_f64().unwrap_or(f64::NAN)
        );
    }
    Ok(())
}
