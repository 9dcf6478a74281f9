//! `seer eval` for the two models that do not forecast (docs/metrics.md, "Gap-filling and
//! classification metrics"): the BiLSTM gap filler is scored on points hidden from it against
//! linear interpolation, the classifier on the labels of its windows against the majority class.

use anyhow::Context;
use seer_core::hash::fnv1a64;
use seer_gpu::GpuContext;
use seer_model::{History, Model, ModelKind, PredictOptions, Prediction};
use serde_json::{Value, json};

use crate::BadInput;
use crate::eval::EvalArgs;
use crate::predict::load_histories;

/// Share of a window's observed points hidden from the gap filler (as in its training).
const MASK_RATE: f64 = 0.15;
/// Probabilities are clamped to at least this before the log of the log loss.
const MIN_PROB: f64 = 1e-12;
/// Windows per `Model::predict` call (bounds device memory).
const CHUNK: usize = 4096;

pub fn run(a: &EvalArgs, ctx: &GpuContext, model: &Model) -> anyhow::Result<()> {
    let kind = model.kind();
    if a.horizon.is_some() {
        eprintln!(
            "note: --horizon is not used by a {} model; its windows are its context_length ({} points)",
            kind.name(),
            model.config.context_length
        );
    }
    if a.plot.is_some() {
        eprintln!(
            "note: --plot draws forecasts; nothing is plotted for a {} model",
            kind.name()
        );
    }
    let histories = load_histories(&a.data, model.config.freq)?;
    let report = match kind {
        ModelKind::Bilstm => gap_fill(a, ctx, model, &histories)?,
        ModelKind::Classifier => classify(a, ctx, model, &histories)?,
        _ => unreachable!("eval.rs sends only bilstm and classifier models here"),
    };
    let out = if a.json {
        serde_json::to_string_pretty(&report)? + "\n"
    } else if kind == ModelKind::Bilstm {
        gap_fill_text(&report)
    } else {
        classify_text(&report)
    };
    crate::write_stdout(&out)
}

/// The `[start, end)` ranges of the last `windows` non-overlapping windows of `len` points of a
/// series of `n` points, latest first; fewer when the series is short.
fn window_ranges(n: usize, len: usize, windows: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..windows).map_while(move |back| {
        let end = n.checked_sub(back * len)?;
        let start = end.checked_sub(len)?;
        Some((start, end))
    })
}

/// SplitMix64: a small seedable generator, so the hidden points depend only on the seed, the
/// series id and the window.
struct SplitMix(u64);

impl SplitMix {
    fn new(seed: u64, id: &str, back: usize) -> Self {
        SplitMix(
            seed.wrapping_mul(0xD1B5_4A32_D192_ED03)
                ^ fnv1a64(id.as_bytes())
                ^ (back as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        )
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Which observed points of `values` to hide: `round(0.15 · observed)`, at least one and never
/// all; `None` when fewer than two points are observed.
fn hide_mask(values: &[f64], rng: &mut SplitMix) -> Option<Vec<bool>> {
    let mut observed: Vec<usize> = (0..values.len())
        .filter(|&i| values[i].is_finite())
        .collect();
    if observed.len() < 2 {
        return None;
    }
    let hide = ((observed.len() as f64 * MASK_RATE).round() as usize).clamp(1, observed.len() - 1);
    // partial Fisher–Yates: the first `hide` entries become a uniform random subset
    for i in 0..hide {
        let j = i + rng.below(observed.len() - i);
        observed.swap(i, j);
    }
    let mut hidden = vec![false; values.len()];
    for &i in &observed[..hide] {
        hidden[i] = true;
    }
    Some(hidden)
}

/// Linear interpolation at `i` between the nearest finite neighbours of `seen`; the nearest
/// value at the edges. `None` when nothing in `seen` is finite.
fn interpolate(seen: &[f64], i: usize) -> Option<f64> {
    let prev = (0..i).rev().find(|&j| seen[j].is_finite());
    let next = (i + 1..seen.len()).find(|&k| seen[k].is_finite());
    match (prev, next) {
        (Some(j), Some(k)) => {
            let w = (i - j) as f64 / (k - j) as f64;
            Some(seen[j] + (seen[k] - seen[j]) * w)
        }
        (Some(j), None) => Some(seen[j]),
        (None, Some(k)) => Some(seen[k]),
        (None, None) => None,
    }
}

/// Error sums of fills at hidden points.
#[derive(Default)]
struct FillErrors {
    n: usize,
    abs: f64,
    sq: f64,
    truth: f64,
}

impl FillErrors {
    fn add(&mut self, truth: f64, fill: f64) {
        let e = fill - truth;
        self.n += 1;
        self.abs += e.abs();
        self.sq += e * e;
        self.truth += truth.abs();
    }

    fn json(&self, name: &str) -> Value {
        let n = self.n as f64;
        json!({
            "model": name,
            "mae": self.abs / n,
            "rmse": (self.sq / n).sqrt(),
            "nd": (self.truth > 0.0).then(|| self.abs / self.truth),
            "hidden_points": self.n,
        })
    }
}

struct FillWindow {
    id: String,
    values: Vec<f64>,
    hidden: Vec<bool>,
    input: History,
}

fn gap_fill(
    a: &EvalArgs,
    ctx: &GpuContext,
    model: &Model,
    histories: &[History],
) -> anyhow::Result<Value> {
    let len = model.config.context_length;
    let mut windows = Vec::new();
    let mut skipped = 0usize;
    for h in histories {
        let before = windows.len();
        for (back, (start, end)) in window_ranges(h.values.len(), len, a.windows).enumerate() {
            let values = &h.values[start..end];
            let mut rng = SplitMix::new(a.seed, &h.id, back);
            let Some(hidden) = hide_mask(values, &mut rng) else {
                continue;
            };
            let seen: Vec<f64> = values
                .iter()
                .zip(&hidden)
                .map(|(&v, &hide)| if hide { f64::NAN } else { v })
                .collect();
            windows.push(FillWindow {
                id: h.id.clone(),
                values: values.to_vec(),
                hidden,
                input: History::new(h.id.clone(), h.timestamps[start..end].to_vec(), seen),
            });
        }
        skipped += usize::from(windows.len() == before);
    }
    if windows.is_empty() {
        return Err(BadInput(format!(
            "no series in {} has a window of {len} points (the model's context) with two observed values",
            a.data.display()
        ))
        .into());
    }
    let (mut err_model, mut err_interp) = (FillErrors::default(), FillErrors::default());
    let opts = PredictOptions::default();
    for part in windows.chunks(CHUNK) {
        let inputs: Vec<History> = part.iter().map(|w| w.input.clone()).collect();
        let preds = model.predict(ctx, &inputs, &opts)?;
        for (w, p) in part.iter().zip(preds) {
            let Prediction::GapFill(g) = p else {
                anyhow::bail!(
                    "the bilstm model returned no gap fill for series {:?}",
                    w.id
                );
            };
            for i in (0..w.values.len()).filter(|&i| w.hidden[i]) {
                let fill = g.values[i];
                if !fill.is_finite() {
                    anyhow::bail!(
                        "series {:?}: the model filled a hidden point with {fill}",
                        w.id
                    );
                }
                let base = interpolate(&w.input.values, i)
                    .context("a window with no visible point was not skipped")?;
                err_model.add(w.values[i], fill);
                err_interp.add(w.values[i], base);
            }
        }
    }
    Ok(json!({
        "checkpoint": a.checkpoint.display().to_string(),
        "task": "gap_filling",
        "context_length": len,
        "windows": a.windows,
        "mask_rate": MASK_RATE,
        "seed": a.seed,
        "series_windows": windows.len(),
        "series_skipped": skipped,
        "hidden_points": err_model.n,
        "results": [err_model.json(model.kind().name()), err_interp.json("linear_interpolation")],
    }))
}

fn fmt_num(v: &Value) -> String {
    v.as_f64()
        .map(|x| format!("{x:.4}"))
        .unwrap_or_else(|| "-".into())
}

fn gap_fill_text(r: &Value) -> String {
    let mut s = format!(
        "gap filling: {} windows × {} points, {}% of observed points hidden (seed {}): {} series-windows, {} hidden points\n{:<22}{:>10}{:>10}{:>10}\n",
        r["windows"],
        r["context_length"],
        MASK_RATE * 100.0,
        r["seed"],
        r["series_windows"],
        r["hidden_points"],
        "model",
        "MAE",
        "RMSE",
        "ND"
    );
    for m in r["results"].as_array().into_iter().flatten() {
        s += &format!(
            "{:<22}{:>10}{:>10}{:>10}\n",
            m["model"].as_str().unwrap_or(""),
            fmt_num(&m["mae"]),
            fmt_num(&m["rmse"]),
            fmt_num(&m["nd"])
        );
    }
    s
}

fn classify(
    a: &EvalArgs,
    ctx: &GpuContext,
    model: &Model,
    histories: &[History],
) -> anyhow::Result<Value> {
    let classes = &model.config.classes;
    let k = classes.len();
    let len = model.config.context_length;
    // every label is checked before any window is scored
    let mut labelled = Vec::new();
    for h in histories {
        let Some(label) = &h.label else { continue };
        let class = classes.iter().position(|c| c == label).ok_or_else(|| {
            BadInput(format!(
                "series {:?}: label {label:?} is not one of the model's classes ({})",
                h.id,
                classes.join(", ")
            ))
        })?;
        labelled.push((h, class));
    }
    let unlabelled = histories.len() - labelled.len();
    // each window is the history up to its end, so imputation sees what came before it
    let mut windows: Vec<(History, usize)> = Vec::new();
    let mut skipped = 0usize;
    for (h, class) in labelled {
        let before = windows.len();
        for (start, end) in window_ranges(h.values.len(), len, a.windows) {
            if !h.values[start..end].iter().any(|v| v.is_finite()) {
                continue;
            }
            let input = History::new(
                h.id.clone(),
                h.timestamps[..end].to_vec(),
                h.values[..end].to_vec(),
            );
            windows.push((input, class));
        }
        skipped += usize::from(windows.len() == before);
    }
    if windows.is_empty() {
        return Err(BadInput(format!(
            "no labelled series in {} has a window of {len} points (the model's context) with an observed value{}",
            a.data.display(),
            if unlabelled == histories.len() {
                " (no series has a `label` column value)"
            } else {
                ""
            }
        ))
        .into());
    }
    let mut confusion = vec![vec![0usize; k]; k];
    let mut log_loss = 0.0;
    let opts = PredictOptions::default();
    for part in windows.chunks(CHUNK) {
        let inputs: Vec<History> = part.iter().map(|w| w.0.clone()).collect();
        let preds = model.predict(ctx, &inputs, &opts)?;
        for ((h, class), p) in part.iter().zip(preds) {
            let Prediction::Classification(c) = p else {
                anyhow::bail!(
                    "the classifier returned no probabilities for series {:?}",
                    h.id
                );
            };
            let probs: Vec<f64> = classes
                .iter()
                .map(|name| {
                    c.probabilities
                        .iter()
                        .find(|(n, _)| n == name)
                        .map(|x| x.1)
                        .unwrap_or(0.0)
                })
                .collect();
            if let Some(bad) = probs.iter().find(|p| !p.is_finite()) {
                anyhow::bail!("series {:?}: the model gave a probability of {bad}", h.id);
            }
            log_loss -= probs[*class].max(MIN_PROB).ln();
            let predicted = argmax(&probs);
            confusion[*class][predicted] += 1;
        }
    }
    let n = windows.len() as f64;
    let support: Vec<usize> = confusion.iter().map(|row| row.iter().sum()).collect();
    let correct: usize = (0..k).map(|c| confusion[c][c]).sum();
    let majority = argmax(&support.iter().map(|&s| s as f64).collect::<Vec<_>>());
    let recall = |hits: &dyn Fn(usize) -> usize| -> serde_json::Map<String, Value> {
        classes
            .iter()
            .enumerate()
            .map(|(c, name)| {
                let r = (support[c] > 0).then(|| hits(c) as f64 / support[c] as f64);
                (name.clone(), json!(r))
            })
            .collect()
    };
    // the baseline predicts the class frequencies of the evaluated windows for every window
    let prior_loss: f64 = support
        .iter()
        .filter(|&&s| s > 0)
        .map(|&s| -(s as f64) * (s as f64 / n).max(MIN_PROB).ln())
        .sum::<f64>()
        / n;
    Ok(json!({
        "checkpoint": a.checkpoint.display().to_string(),
        "task": "classification",
        "context_length": len,
        "windows": a.windows,
        "classes": classes,
        "series_windows": windows.len(),
        "series_unlabelled": unlabelled,
        "series_skipped": skipped,
        "support": classes.iter().zip(&support).map(|(c, s)| (c.clone(), json!(s))).collect::<serde_json::Map<_, _>>(),
        "confusion": confusion,
        "baseline": "the class frequencies of the evaluated windows (majority class of the evaluated windows: no training set is read)",
        "results": [
            {
                "model": model.kind().name(),
                "accuracy": correct as f64 / n,
                "log_loss": log_loss / n,
                "recall": recall(&|c| confusion[c][c]),
            },
            {
                "model": "majority_class",
                "class": classes[majority],
                "accuracy": support[majority] as f64 / n,
                "log_loss": prior_loss,
                "recall": recall(&|c| if c == majority { support[c] } else { 0 }),
            },
        ],
    }))
}

/// Index of the largest value; the first on ties.
fn argmax(values: &[f64]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best
}

fn classify_text(r: &Value) -> String {
    let results = r["results"].as_array().cloned().unwrap_or_default();
    let mut s = format!(
        "classification: {} windows × {} points over {} series-windows ({} unlabelled series skipped)\nbaseline: always the majority class of the evaluated windows, {:?} (no training set is read); its log loss is that of predicting their class frequencies\n{:<22}{:>10}{:>10}\n",
        r["windows"],
        r["context_length"],
        r["series_windows"],
        r["series_unlabelled"],
        results
            .get(1)
            .and_then(|b| b["class"].as_str())
            .unwrap_or(""),
        "model",
        "accuracy",
        "log loss"
    );
    for m in &results {
        s += &format!(
            "{:<22}{:>10}{:>10}\n",
            m["model"].as_str().unwrap_or(""),
            fmt_num(&m["accuracy"]),
            fmt_num(&m["log_loss"])
        );
    }
    s += &format!("recall by class\n{:<22}{:>10}", "class", "windows");
    for m in &results {
        s += &format!("{:>16}", m["model"].as_str().unwrap_or(""));
    }
    s += "\n";
    for c in r["classes"].as_array().into_iter().flatten() {
        let name = c.as_str().unwrap_or("");
        s += &format!("{name:<22}{:>10}", r["support"][name].as_u64().unwrap_or(0));
        for m in &results {
            s += &format!("{:>16}", fmt_num(&m["recall"][name]));
        }
        s += "\n";
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_go_back_from_the_end_without_overlap() {
        let w: Vec<_> = window_ranges(40, 16, 3).collect();
        assert_eq!(w, vec![(24, 40), (8, 24)]);
        assert_eq!(window_ranges(10, 16, 2).count(), 0);
    }

    #[test]
    fn the_mask_hides_some_observed_points_never_all() {
        let mut values: Vec<f64> = (0..20).map(f64::from).collect();
        values[3] = f64::NAN;
        let hidden = hide_mask(&values, &mut SplitMix::new(1, "a", 0)).unwrap();
        assert_eq!(hidden.iter().filter(|h| **h).count(), 3); // round(19 · 0.15)
        assert!(!hidden[3], "a missing point is not hidden");
        let again = hide_mask(&values, &mut SplitMix::new(1, "a", 0)).unwrap();
        assert_eq!(hidden, again, "deterministic");
        let two = [1.0, f64::NAN, 2.0];
        let h = hide_mask(&two, &mut SplitMix::new(0, "b", 0)).unwrap();
        assert_eq!(h.iter().filter(|h| **h).count(), 1);
        assert!(hide_mask(&[1.0, f64::NAN], &mut SplitMix::new(0, "c", 0)).is_none());
    }

    #[test]
    fn interpolation_is_linear_inside_and_carries_at_the_edges() {
        let seen = [f64::NAN, 2.0, f64::NAN, f64::NAN, 8.0, f64::NAN];
        assert_eq!(interpolate(&seen, 0), Some(2.0));
        assert_eq!(interpolate(&seen, 2), Some(4.0));
        assert_eq!(interpolate(&seen, 3), Some(6.0));
        assert_eq!(interpolate(&seen, 5), Some(8.0));
        assert_eq!(interpolate(&[f64::NAN; 3], 1), None);
    }

    #[test]
    fn argmax_takes_the_first_of_ties() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0]), 1);
        assert_eq!(argmax(&[0.0]), 0);
    }
}
