use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use seer_core::csv::{Dataset, Series, read_long_csv};
use seer_core::quantiles::parse_levels;
use seer_core::series::regularize;
use seer_core::time::format_timestamp;
use seer_gpu::GpuContext;
use seer_model::{CovariateKind, History, Model, ModelConfig, PredictOptions, Prediction};
use serde_json::{Value, json};

use crate::terminal::BadInput;

#[derive(Args)]
pub struct PredictArgs {
    /// Checkpoint directory (config.json + model.safetensors)
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Long-format CSV: series_id,timestamp,value (or unique_id,ds,y); extra columns are the
    /// covariates the model reads, others ignored
    #[arg(long)]
    pub data: PathBuf,
    #[arg(long)]
    pub horizon: Option<usize>,
    /// Sample paths to draw (DeepAR) — and print
    #[arg(long)]
    pub samples: Option<usize>,
    /// Quantile levels to report, e.g. 0.1,0.5,0.9
    #[arg(long)]
    pub quantiles: Option<String>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long)]
    pub json: bool,
    /// CSV of the steps after each series' last point with the values of the model's
    /// known-future covariates (same layout as --data; its value column is not read)
    #[arg(long)]
    pub future: Option<PathBuf>,
}

pub fn read_dataset(path: &Path) -> anyhow::Result<Dataset> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    read_long_csv(std::io::BufReader::new(file))
        .with_context(|| format!("reading {}", path.display()))
}

/// Where each of the model's covariates is among `dataset`'s feature columns.
fn covariate_columns(
    dataset: &Dataset,
    config: &ModelConfig,
    path: &Path,
) -> Result<Vec<usize>, BadInput> {
    config
        .supplied_covariates()
        .map(|cov| {
            dataset
                .feature_names
                .iter()
                .position(|n| *n == cov.name)
                .ok_or_else(|| {
                    BadInput(format!(
                        "{}: no column {:?}, which the model reads as a {} covariate (columns: {})",
                        path.display(),
                        cov.name,
                        cov.kind.name().replace('_', "-"),
                        dataset.feature_names.join(", ")
                    ))
                })
        })
        .collect()
}

/// Reads the CSV and lays every series on the model's time grid (gaps → missing points), with
/// the columns of the model's covariates. `future`, a CSV of the same layout, carries the
/// known-future covariates' values over the steps after each series' last point (its values
/// are not read).
pub fn load_histories(
    path: &Path,
    config: &ModelConfig,
    future: Option<&Path>,
) -> anyhow::Result<Vec<History>> {
    histories_of(&read_dataset(path)?, path, config, future)
}

/// As [`load_histories`], from `dataset` already read from `path` (named in errors).
pub fn histories_of(
    dataset: &Dataset,
    path: &Path,
    config: &ModelConfig,
    future: Option<&Path>,
) -> anyhow::Result<Vec<History>> {
    let columns = covariate_columns(dataset, config, path)?;
    let unused: Vec<&String> = dataset
        .feature_names
        .iter()
        .enumerate()
        .filter(|(i, _)| !columns.contains(i))
        .map(|(_, n)| n)
        .collect();
    if !unused.is_empty() {
        tracing::warn!(columns = ?unused, "feature columns the model does not read as covariates are ignored");
    }
    let future = match future {
        Some(p) => {
            let ds = read_dataset(p)?;
            let cols = covariate_columns(&ds, config, p)?;
            Some((p, ds, cols))
        }
        None => None,
    };
    let freq = config.freq;
    dataset
        .series
        .iter()
        .map(|s| {
            let mut series = Series {
                id: s.id.clone(),
                timestamps: s.timestamps.clone(),
                values: s.values.clone(),
                features: columns.iter().map(|&j| s.features[j].clone()).collect(),
                label: s.label.clone(),
            };
            let last = s.timestamps.last().copied();
            if let (Some((p, ds, cols)), Some(last)) = (&future, last)
                && let Some(f) = ds.series.iter().find(|f| f.id == s.id)
            {
                if let Some(&first) = f.timestamps.first().filter(|&&t| t <= last) {
                    return Err(BadInput(format!(
                        "{}: series {:?} has a row at {}, not after its history's last point {}",
                        p.display(),
                        s.id,
                        format_timestamp(first),
                        format_timestamp(last)
                    ))
                    .into());
                }
                series.timestamps.extend(&f.timestamps);
                series
                    .values
                    .extend(std::iter::repeat_n(f64::NAN, f.timestamps.len()));
                for (out, &j) in series.features.iter_mut().zip(cols) {
                    out.extend(&f.features[j]);
                }
            }
            let grid = regularize(&series, freq).with_context(|| {
                format!(
                    "{}: series {:?} does not fit the model's {freq} grid",
                    path.display(),
                    s.id
                )
            })?;
            // the history ends at its own last point; the grid may run on over the future rows
            let n = match (grid.timestamps.first(), last) {
                (Some(&start), Some(last)) => freq
                    .steps_between(start, last)
                    .map_or(0, |k| k as usize + 1),
                _ => 0,
            };
            Ok(History::new(
                grid.id,
                grid.timestamps[..n].to_vec(),
                grid.values[..n].to_vec(),
            )
            .with_label(grid.label)
            .with_covariates(grid.features))
        })
        .collect()
}

pub fn run(a: &PredictArgs) -> anyhow::Result<()> {
    let quantiles = a.quantiles.as_deref().map(parse_levels).transpose()?;
    let ctx = GpuContext::from_env()?;
    let model = Model::load(&ctx, &a.checkpoint)
        .with_context(|| format!("loading checkpoint {}", a.checkpoint.display()))?;
    let known_future: Vec<&str> = model
        .config
        .supplied_covariates()
        .filter(|c| c.kind == CovariateKind::KnownFuture)
        .map(|c| c.name.as_str())
        .collect();
    if !known_future.is_empty() && a.future.is_none() {
        return Err(BadInput(format!(
            "the model reads known-future covariates ({}): pass their values over the horizon with --future FILE (series_id,timestamp,value,{} for the steps after each series)",
            known_future.join(", "),
            known_future.join(",")
        ))
        .into());
    }
    let histories = load_histories(&a.data, &model.config, a.future.as_deref())?;
    if histories.is_empty() {
        return Err(BadInput(format!("{}: no series", a.data.display())).into());
    }
    let opts = PredictOptions {
        horizon: a.horizon,
        quantiles,
        num_samples: a.samples,
        return_samples: a.samples.is_some(),
        seed: a.seed,
    };
    let predictions = model.predict(&ctx, &histories, &opts)?;
    let mut out = String::new();
    if a.json {
        let items: Vec<Value> = predictions.iter().map(|p| to_json(p, &model)).collect();
        out = serde_json::to_string_pretty(&Value::Array(items))? + "\n";
    } else {
        for p in &predictions {
            print_text(&mut out, p, &model);
        }
    }
    crate::terminal::write_stdout(&out)
}

fn level_name(l: f64) -> String {
    format!("{l}")
}

fn to_json(p: &Prediction, model: &Model) -> Value {
    match p {
        Prediction::Forecast(f) => {
            let mut q = serde_json::Map::new();
            for (l, v) in &f.quantiles {
                q.insert(level_name(*l), json!(v));
            }
            let mut obj = json!({
                "series_id": f.id,
                "model": model.kind().name(),
                "last_observation": format_timestamp(f.last_observation),
                "timestamps": f.timestamps.iter().map(|&t| format_timestamp(t)).collect::<Vec<_>>(),
                "mean": f.mean,
                "quantiles": q,
            });
            if let Some(s) = &f.samples {
                obj["samples"] = json!(s);
            }
            obj
        }
        Prediction::GapFill(g) => json!({
            "series_id": g.id,
            "model": model.kind().name(),
            "timestamps": g.timestamps.iter().map(|&t| format_timestamp(t)).collect::<Vec<_>>(),
            "values": g.values,
            "filled": g.filled,
        }),
        Prediction::Classification(c) => json!({
            "series_id": c.id,
            "model": model.kind().name(),
            "probabilities": c.probabilities.iter().map(|(k, p)| (k.clone(), json!(p))).collect::<serde_json::Map<_, _>>(),
        }),
    }
}

fn print_text(out: &mut String, p: &Prediction, model: &Model) {
    use std::fmt::Write;
    match p {
        Prediction::Forecast(f) => {
            let _ = writeln!(
                out,
                "series {}  (last observation {}, model {})",
                f.id,
                format_timestamp(f.last_observation),
                model.kind().name()
            );
            let mut header = format!("  {:<22}{:>12}", "timestamp", "mean");
            for (l, _) in &f.quantiles {
                header += &format!("{:>12}", format!("q{}", level_name(*l)));
            }
            let _ = writeln!(out, "{header}");
            for (i, ts) in f.timestamps.iter().enumerate() {
                let mut line = format!("  {:<22}{:>12.4}", format_timestamp(*ts), f.mean[i]);
                for (_, v) in &f.quantiles {
                    line += &format!("{:>12.4}", v[i]);
                }
                let _ = writeln!(out, "{line}");
            }
            if let Some(paths) = &f.samples {
                let _ = writeln!(out, "  {} sample paths:", paths.len());
                for (k, path) in paths.iter().enumerate() {
                    let vals: Vec<String> = path.iter().map(|v| format!("{v:.4}")).collect();
                    let _ = writeln!(out, "    path {k:>4}: {}", vals.join(" "));
                }
            }
        }
        Prediction::GapFill(g) => {
            let _ = writeln!(
                out,
                "series {}  (gap filling, {} of {} points filled)",
                g.id,
                g.filled.iter().filter(|&&f| f).count(),
                g.values.len()
            );
            for ((ts, v), filled) in g.timestamps.iter().zip(&g.values).zip(&g.filled) {
                let _ = writeln!(
                    out,
                    "  {:<22}{:>12.4}{}",
                    format_timestamp(*ts),
                    v,
                    if *filled { "  (filled)" } else { "" }
                );
            }
        }
        Prediction::Classification(c) => {
            let best = c.probabilities.iter().max_by(|a, b| a.1.total_cmp(&b.1));
            let _ = writeln!(
                out,
                "series {}  class {}",
                c.id,
                best.map(|b| b.0.as_str()).unwrap_or("?")
            );
            for (k, p) in &c.probabilities {
                let _ = writeln!(out, "  {k:<16}{p:>8.4}");
            }
        }
    }
}
