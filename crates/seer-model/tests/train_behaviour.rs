//! Documented behaviours of training on the GPU (docs/training.md), end to end through `train`:
//!
//! 1. `gradient_clipping_keeps_an_exploding_rnn_finite`: an Elman RNN (hidden 8) over a
//!    154-step window whose recurrent matrix is 4 × a random orthogonal matrix (chaotic
//!    dynamics) has an unclipped gradient norm above 1e4 (1.5e7–2.7e9 measured on lavapipe) on
//!    every batch tried. With `max_grad_norm: 1.0` every step is applied, every epoch's loss is
//!    finite and falls, and the weights stay finite. That the clip really acts on the gradient
//!    Adam sees is shown by one step with a clip of 1e-12: Adam's first update is
//!    lr·g/(|g| + ε), so no weight may move by more than lr·1e-12/ε = 1e-4·lr, while the same
//!    step unclipped moves weights by ≈ lr. The same setup unclipped with a large learning rate
//!    (10) diverges or ends with a train loss over 5× the clipped run's. Note: AdamW normalises
//!    the update by √v, so its size is ≈ lr whatever the gradient's scale; the large rate is
//!    what ruins that run (measured: clipping at 1.0 with lr 10 is about as bad), and clipping
//!    cannot keep weights finite that Adam would not (a norm that overflows f32 skips the step
//!    either way).
//! 2. `training_is_deterministic_given_the_seed`: two runs with one seed give bit-identical
//!    weights and identical reports (all but the wall-clock `windows_per_second`), for DeepAR
//!    and the RNN; another seed gives other weights.
//! 3. `a_non_finite_loss_never_reaches_the_weights`: a target of 3e38 in one series makes the
//!    Gaussian NLL overflow for the batches that score it; those steps are skipped and counted
//!    (`skipped_steps > 0`, some steps still applied), and the returned weights are finite.
//!    `every_epoch_non_finite_is_training_diverged`: a series whose every training and
//!    validation window scores such a target makes every step skipped and every epoch
//!    non-finite, and `train` fails with "training diverged".
//! 4. Bad data. `constant_series_train_with_scale_one_plus_abs_c`: with the projection zeroed
//!    the pinball loss of a constant series c is exactly 0.5·|c|/(1 + |c|), i.e. the scale is
//!    1 + |c| (c = 0 gives loss 0), and training on constant series gives finite losses and
//!    weights. `all_nan_and_empty_series_are_ignored`: adding an all-NaN and an empty series
//!    leaves training bit-identical (rnn and DeepAR). `data_without_observations_is_an_error`:
//!    no series, or only all-NaN/empty ones, is a clear error.
//!    `series_too_short_for_any_window_is_an_error`: at the boundary (2·horizon + 1 points for
//!    the quantile forecasters, 2·horizon for DeepAR) training fails with "no training window
//!    could be sampled", one point more trains. `negative_counts_name_the_series`: a negative
//!    value under the negative_binomial likelihood is an error naming that series.

use seer_core::rng::SplitMix64;
use seer_gpu::GpuContext;
use seer_model::Frequency;
use seer_model::checkpoint::{Weights, init_weights};
use seer_model::train::{EpochScore, TrainOptions, TrainReport, loss_and_gradient, train};
use seer_model::{History, ModelConfig, ModelError, ModelKind};

/// The backend this test runs on: each test runs on the native CPU backend and on the WGSL
/// kernels (`seer_gpu::on_backends!`).
fn ctx() -> &'static GpuContext {
    seer_gpu::testing::context()
}

/// Uniform in [-1, 1).
fn sym(rng: &mut SplitMix64) -> f64 {
    rng.uniform() * 2.0 - 1.0
}

fn history(id: &str, values: Vec<f64>) -> History {
    let n = values.len() as i64;
    History::new(
        id,
        (0..n).map(|t| 1_700_000_000 + t * 3600).collect(),
        values,
    )
}

fn config(kind: ModelKind) -> ModelConfig {
    ModelConfig {
        model: kind,
        freq: Frequency::Seconds(3600),
        context_length: 6,
        horizon: 3,
        time_features: vec![],
        input_size: None,
        hidden_size: 5,
        num_layers: 1,
        quantiles: vec![],
        channels: vec![],
        kernel_size: 0,
        dilations: vec![],
        lags: vec![],
        cardinality: 0,
        embedding_dim: 0,
        distribution: None,
        num_samples: 0,
        series_ids: None,
        classes: vec![],
        seasonal_naive_series: Vec::new(),
        covariates: Vec::new(),
    }
}

fn rnn_config() -> ModelConfig {
    let mut c = config(ModelKind::Rnn);
    c.context_length = 150;
    c.horizon = 4;
    c.hidden_size = 8;
    c.quantiles = vec![0.5];
    c
}

/// Gram–Schmidt of a random n×n matrix, row-major.
fn orthogonal(n: usize, rng: &mut SplitMix64) -> Vec<f64> {
    let mut rows: Vec<Vec<f64>> = Vec::new();
    while rows.len() < n {
        let mut v: Vec<f64> = (0..n).map(|_| sym(rng)).collect();
        for r in &rows {
            let d: f64 = v.iter().zip(r).map(|(a, b)| a * b).sum();
            v.iter_mut().zip(r).for_each(|(a, b)| *a -= d * b);
        }
        let norm = v.iter().map(|a| a * a).sum::<f64>().sqrt();
        v.iter_mut().for_each(|a| *a /= norm);
        rows.push(v);
    }
    rows.concat()
}

/// Seeded init, then W_hh = gain × a random orthogonal matrix and W_ih uniform in ±input.
fn exploding_weights(c: &ModelConfig, gain: f64, input: f64, seed: u64) -> Weights {
    let mut w = init_weights(c, seed).unwrap();
    let h = c.hidden_size;
    let mut rng = SplitMix64::new(seed);
    let hh: Vec<f32> = orthogonal(h, &mut rng)
        .iter()
        .map(|v| (gain * v) as f32)
        .collect();
    w.insert("rnn.weight_hh_l0", vec![h, h], hh);
    let ih: Vec<f32> = (0..h).map(|_| (input * sym(&mut rng)) as f32).collect();
    w.insert("rnn.weight_ih_l0", vec![h, 1], ih);
    w
}

fn wave_data(n: usize, len: usize) -> Vec<History> {
    (0..n)
        .map(|s| {
            history(
                &format!("s{s}"),
                (0..len)
                    .map(|t| {
                        10.0 + s as f64
                            + 4.0 * (t as f64 * std::f64::consts::TAU / 24.0 + s as f64).sin()
                            + ((t * 7 + s * 3) % 5) as f64 * 0.3
                    })
                    .collect(),
            )
        })
        .collect()
}

fn grad_norm(g: &Weights) -> f64 {
    g.names()
        .flat_map(|n| g.get(n).unwrap().iter().map(|v| (*v as f64).powi(2)))
        .sum::<f64>()
        .sqrt()
}

fn deepar_config(dist: &str) -> ModelConfig {
    let mut c = config(ModelKind::Deepar);
    c.lags = vec![1, 2];
    c.cardinality = 4;
    c.embedding_dim = 2;
    c.distribution = Some(dist.into());
    c
}

fn all_finite(w: &Weights) -> bool {
    w.names()
        .all(|n| w.get(n).unwrap().iter().all(|v| v.is_finite()))
}

fn same_weights(a: &Weights, b: &Weights) -> bool {
    a.names().eq(b.names())
        && a.names().all(|n| {
            let (x, y) = (a.get(n).unwrap(), b.get(n).unwrap());
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits())
        })
}

fn max_change(a: &Weights, b: &Weights) -> f32 {
    a.names()
        .flat_map(|n| {
            let (x, y) = (a.get(n).unwrap(), b.get(n).unwrap());
            x.iter()
                .zip(y)
                .map(|(p, q)| (p - q).abs())
                .collect::<Vec<_>>()
        })
        .fold(0.0, f32::max)
}

/// Everything in a report but the wall-clock throughput, bit for bit.
fn report_key(r: &TrainReport) -> String {
    let epochs: Vec<String> = r
        .epochs
        .iter()
        .map(|e| {
            format!(
                "{} {:x} {:?} {} {:x} {}",
                e.epoch,
                e.train_loss.to_bits(),
                e.val_loss.map(f64::to_bits),
                e.skipped_steps,
                e.grad_norm.to_bits(),
                e.best
            )
        })
        .collect();
    format!(
        "{epochs:?} best {} {:?} skipped {} early {}",
        r.best_epoch,
        r.best_val_loss.map(f64::to_bits),
        r.skipped_steps,
        r.stopped_early
    )
}

fn opts(epochs: usize, steps: usize, batch: usize, lr: f32, clip: f32, seed: u64) -> TrainOptions {
    TrainOptions {
        epochs,
        steps_per_epoch: steps,
        batch_size: batch,
        learning_rate: lr,
        max_grad_norm: clip,
        patience: 100,
        seed,
        ..Default::default()
    }
}

fn error_of(r: Result<(Weights, TrainReport), ModelError>) -> ModelError {
    match r {
        Ok((_, report)) => panic!("expected an error, training succeeded: {report:?}"),
        Err(e) => e,
    }
}

seer_gpu::on_backends!(gradient_clipping_keeps_an_exploding_rnn_finite);
fn gradient_clipping_keeps_an_exploding_rnn_finite() {
    let c = rnn_config();
    let data = wave_data(3, 220);
    let w = exploding_weights(&c, 4.0, 1.5, 1);
    for seed in 1..=3 {
        let o = opts(1, 1, 8, 1e-3, 1.0, seed);
        let (loss, g) = loss_and_gradient(ctx(), &c, &w, &data, &o).unwrap();
        let norm = grad_norm(&g);
        assert!(loss.is_finite(), "loss {loss}");
        assert!(
            norm.is_finite() && norm > 1e4,
            "batch {seed}: unclipped gradient norm {norm:e}"
        );
    }

    let (clipped, report) =
        train(ctx(), &c, &w, &data, &opts(4, 8, 8, 0.1, 1.0, 1), |_| {}).unwrap();
    assert_eq!(report.skipped_steps, 0, "{report:?}");
    for e in &report.epochs {
        assert!(e.train_loss.is_finite() && e.grad_norm.is_finite(), "{e:?}");
        assert!(e.val_loss.is_some_and(f64::is_finite), "{e:?}");
    }
    assert!(all_finite(&clipped));
    let (first, last) = (report.epochs[0].train_loss, report.epochs[3].train_loss);
    assert!(last < 0.7 * first, "clipped train loss {first} → {last}");

    // the clip acts on what Adam sees: |Δw| ≤ lr·clip/ε on the first step
    let one_step = |clip: f32| {
        train(ctx(), &c, &w, &data, &opts(1, 1, 8, 1.0, clip, 1), |_| {})
            .unwrap()
            .0
    };
    let tiny = max_change(&w, &one_step(1e-12));
    assert!(
        tiny > 0.0 && tiny <= 1.1e-4,
        "clip 1e-12 moved a weight by {tiny}"
    );
    let free = max_change(&w, &one_step(0.0));
    assert!(
        free > 0.9,
        "an unclipped step of lr 1 moved weights by at most {free}"
    );

    let unclipped = train(ctx(), &c, &w, &data, &opts(4, 8, 8, 10.0, 0.0, 1), |_| {});
    match unclipped {
        Err(e) => assert!(e.to_string().contains("training diverged"), "{e}"),
        Ok((weights, r)) => {
            let worse = r.epochs.last().unwrap().train_loss;
            assert!(
                r.skipped_steps > 0
                    || !all_finite(&weights)
                    || !worse.is_finite()
                    || worse > 5.0 * last,
                "unclipped at lr 10: train loss {worse} vs clipped {last}"
            );
        }
    }
}

seer_gpu::on_backends!(training_is_deterministic_given_the_seed);
fn training_is_deterministic_given_the_seed() {
    let mut d = deepar_config("student_t");
    d.context_length = 8;
    d.hidden_size = 6;
    let rnn = {
        let mut c = rnn_config();
        c.context_length = 24;
        c
    };
    for c in [d, rnn] {
        let data = wave_data(4, 80);
        let w = init_weights(&c, 9).unwrap();
        let run = |seed| {
            train(
                ctx(),
                &c,
                &w,
                &data,
                &opts(3, 5, 4, 1e-2, 10.0, seed),
                |_| {},
            )
            .unwrap()
        };
        let (a, ra) = run(5);
        let (b, rb) = run(5);
        let (other, _) = run(6);
        let kind = c.model.name();
        assert!(same_weights(&a, &b), "{kind}: same seed, different weights");
        assert_eq!(report_key(&ra), report_key(&rb), "{kind}");
        assert!(
            !same_weights(&a, &other),
            "{kind}: seeds 5 and 6 gave the same weights"
        );
        assert!(!same_weights(&a, &w), "{kind}: training changed nothing");
    }
}

seer_gpu::on_backends!(a_non_finite_loss_never_reaches_the_weights);
fn a_non_finite_loss_never_reaches_the_weights() {
    let c = deepar_config("gaussian");
    let mut data = wave_data(3, 60);
    let mut spiky: Vec<f64> = (0..60).map(|t| 5.0 + (t % 4) as f64).collect();
    spiky[40] = 3e38; // finite in f32, but (z − μ)²/σ² overflows
    data.push(history("spiky", spiky));
    let w = init_weights(&c, 4).unwrap();
    let mut seen = Vec::new();
    let (trained, report) = train(ctx(), &c, &w, &data, &opts(3, 8, 2, 1e-2, 10.0, 2), |e| {
        seen.push(e.skipped_steps)
    })
    .unwrap();
    assert!(report.skipped_steps > 0, "no step was skipped: {report:?}");
    assert!(
        report.skipped_steps < 3 * 8,
        "every step was skipped: {report:?}"
    );
    assert_eq!(seen.iter().sum::<usize>(), report.skipped_steps);
    assert!(all_finite(&trained), "non-finite weights returned");
    assert!(!same_weights(&trained, &w), "no step was applied");
    for e in &report.epochs {
        assert!(e.train_loss.is_finite() && e.grad_norm.is_finite(), "{e:?}");
    }
}

seer_gpu::on_backends!(every_epoch_non_finite_is_training_diverged);
fn every_epoch_non_finite_is_training_diverged() {
    let mut c = deepar_config("gaussian");
    c.context_length = 2;
    c.horizon = 4;
    c.lags = vec![1];
    let w = init_weights(&c, 4).unwrap();
    // 9 points: the one training window (context: point 0) scores point 1, the validation
    // window (context: points 3, 4) scores point 8; both are 1e38 against a scale of 2
    let data = vec![history(
        "boom",
        vec![1.0, 1e38, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1e38],
    )];
    let mut seen = Vec::new();
    let e = error_of(train(
        ctx(),
        &c,
        &w,
        &data,
        &opts(2, 3, 2, 1e-2, 10.0, 0),
        |e| seen.push(e.clone()),
    ));
    assert!(e.to_string().contains("training diverged"), "{e}");
    assert_eq!(seen.len(), 2);
    for e in &seen {
        assert_eq!(e.skipped_steps, 3, "{e:?}");
        assert!(e.train_loss.is_nan() && !e.best, "{e:?}");
        assert!(e.val_loss.is_some_and(|v| !v.is_finite()), "{e:?}");
    }
}

fn small_rnn() -> ModelConfig {
    let mut c = config(ModelKind::Rnn);
    c.quantiles = vec![0.5];
    c
}

seer_gpu::on_backends!(constant_series_train_with_scale_one_plus_abs_c);
fn constant_series_train_with_scale_one_plus_abs_c() {
    let c = small_rnn();
    let mut w = init_weights(&c, 2).unwrap();
    w.insert(
        "proj.weight",
        vec![1, c.hidden_size],
        vec![0.0; c.hidden_size],
    );
    w.insert("proj.bias", vec![1], vec![0.0]);
    for value in [5.0, -3.0, 0.0, 1e6] {
        let data = vec![history("flat", vec![value; 40])];
        let (loss, grads) =
            loss_and_gradient(ctx(), &c, &w, &data, &opts(1, 1, 4, 1e-3, 1.0, 3)).unwrap();
        let expected = 0.5 * value.abs() / (1.0 + value.abs());
        assert!(
            (loss - expected).abs() <= 1e-6 * (1.0 + expected),
            "c = {value}: loss {loss}, expected {expected}"
        );
        assert!(all_finite(&grads));
    }
    let data: Vec<History> = [5.0, -3.0, 0.0, 1e6]
        .iter()
        .enumerate()
        .map(|(s, v)| history(&format!("c{s}"), vec![*v; 40]))
        .collect();
    let w = init_weights(&c, 2).unwrap();
    let (trained, report) =
        train(ctx(), &c, &w, &data, &opts(3, 5, 4, 1e-2, 10.0, 1), |_| {}).unwrap();
    assert_eq!(report.skipped_steps, 0);
    assert!(
        report.epochs.iter().all(|e| e.train_loss.is_finite()),
        "{report:?}"
    );
    assert!(report.best_val_loss.is_some_and(f64::is_finite));
    assert!(all_finite(&trained));
}

seer_gpu::on_backends!(all_nan_and_empty_series_are_ignored);
fn all_nan_and_empty_series_are_ignored() {
    for c in [small_rnn(), deepar_config("gaussian")] {
        let good = wave_data(3, 40);
        let mut with_bad = good.clone();
        with_bad.insert(1, history("nan", vec![f64::NAN; 40]));
        with_bad.push(History::new("empty", vec![], vec![]));
        let w = init_weights(&c, 1).unwrap();
        let o = opts(2, 4, 4, 1e-2, 10.0, 7);
        let (a, ra) = train(ctx(), &c, &w, &good, &o, |_| {}).unwrap();
        let (b, rb) = train(ctx(), &c, &w, &with_bad, &o, |_| {}).unwrap();
        let kind = c.model.name();
        assert!(all_finite(&b), "{kind}");
        assert!(
            rb.epochs.iter().all(|e| e.train_loss.is_finite()),
            "{kind}: {rb:?}"
        );
        assert!(
            same_weights(&a, &b),
            "{kind}: all-NaN/empty series changed training"
        );
        assert_eq!(report_key(&ra), report_key(&rb), "{kind}");
    }
}

seer_gpu::on_backends!(data_without_observations_is_an_error);
fn data_without_observations_is_an_error() {
    for c in [small_rnn(), deepar_config("gaussian")] {
        let w = init_weights(&c, 1).unwrap();
        let o = opts(1, 1, 4, 1e-2, 10.0, 0);
        let e = error_of(train(ctx(), &c, &w, &[], &o, |_| {}));
        assert!(e.to_string().contains("no series to train on"), "{e}");
        let bad = vec![
            history("nan", vec![f64::NAN; 30]),
            History::new("empty", vec![], vec![]),
            history("inf", vec![f64::INFINITY; 30]),
        ];
        let e = error_of(train(ctx(), &c, &w, &bad, &o, |_| {}));
        assert!(
            e.to_string().contains("no series has an observed value"),
            "{e}"
        );
    }
}

seer_gpu::on_backends!(series_too_short_for_any_window_is_an_error);
fn series_too_short_for_any_window_is_an_error() {
    // horizon 3: the quantile forecasters need 2·3 + 2 points, DeepAR 2·3 + 1
    for (c, shortest) in [(small_rnn(), 8), (deepar_config("gaussian"), 7)] {
        let w = init_weights(&c, 1).unwrap();
        let o = opts(1, 2, 4, 1e-2, 10.0, 0);
        let short = |n: usize| vec![history("a", vec![2.0; n]), history("b", vec![3.0; n - 2])];
        let e = error_of(train(ctx(), &c, &w, &short(shortest - 1), &o, |_| {}));
        assert!(
            e.to_string()
                .contains("no training window could be sampled"),
            "{}: {e}",
            c.model.name()
        );
        let (trained, report) = train(ctx(), &c, &w, &short(shortest), &o, |_| {}).unwrap();
        assert!(
            all_finite(&trained) && report.epochs[0].train_loss.is_finite(),
            "{report:?}"
        );
    }
}

seer_gpu::on_backends!(negative_counts_name_the_series);
fn negative_counts_name_the_series() {
    let c = deepar_config("negative_binomial");
    let w = init_weights(&c, 1).unwrap();
    let counts = |s: usize| -> Vec<f64> { (0..30).map(|t| ((t * 7 + s) % 9) as f64).collect() };
    let mut bad = counts(2);
    bad[11] = -1.0;
    let mut with_nan = counts(0);
    with_nan[4] = f64::NAN; // missing is fine, only negative values are not counts
    let data = vec![
        history("ok", with_nan),
        history("sales-7", bad),
        history("ok2", counts(1)),
    ];
    let o = opts(1, 2, 4, 1e-2, 10.0, 0);
    let e = error_of(train(ctx(), &c, &w, &data, &o, |_| {}));
    match &e {
        ModelError::Series { id, message } => {
            assert_eq!(id, "sales-7");
            assert!(message.contains("negative"), "{e}");
        }
        other => panic!("expected a series error, got {other:?}"),
    }
    assert!(e.to_string().contains("\"sales-7\""), "{e}");
    let good = vec![data[0].clone(), data[2].clone()];
    let (trained, _) = train(ctx(), &c, &w, &good, &o, |_| {}).unwrap();
    assert!(all_finite(&trained));
}

seer_gpu::on_backends!(forecast_epoch_score_keeps_the_epoch_with_the_best_held_out_forecasts);
fn forecast_epoch_score_keeps_the_epoch_with_the_best_held_out_forecasts() {
    let c = deepar_config("student_t");
    let data = wave_data(3, 120);
    let o = TrainOptions {
        epoch_score: EpochScore::Forecast,
        dropout: 0.1,
        ..opts(4, 5, 8, 0.01, 10.0, 3)
    };
    let (_, report) = train(ctx(), &c, &init_weights(&c, 3).unwrap(), &data, &o, |_| {}).unwrap();
    let scores: Vec<f64> = report
        .epochs
        .iter()
        .map(|e| e.forecast_score.expect("every epoch scores its forecasts"))
        .collect();
    assert!(
        scores.iter().all(|s| s.is_finite() && *s > 0.0),
        "{scores:?}"
    );
    // the kept epoch is the one whose held-out forecasts scored best, not the lowest loss
    let best = scores
        .iter()
        .enumerate()
        .min_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, _)| i + 1)
        .unwrap();
    assert_eq!(report.best_epoch, best, "{scores:?}");
    // the loss score reports none
    let (_, report) = train(
        ctx(),
        &c,
        &init_weights(&c, 3).unwrap(),
        &data,
        &opts(1, 2, 8, 0.01, 10.0, 3),
        |_| {},
    )
    .unwrap();
    assert_eq!(report.epochs[0].forecast_score, None);
}

seer_gpu::on_backends!(training_never_reads_the_held_out_horizons);
fn training_never_reads_the_held_out_horizons() {
    // the last 3 horizons of every series jump a thousandfold: a run holding out 3 horizons
    // never trains on a target there, one holding out 1 does
    let mut data = wave_data(2, 200);
    for h in &mut data {
        let n = h.values.len();
        for v in &mut h.values[n - 9..] {
            *v *= 1000.0;
        }
    }
    let mut lstm = config(ModelKind::Lstm);
    lstm.quantiles = vec![0.5];
    for c in [lstm, deepar_config("gaussian")] {
        let w = init_weights(&c, 3).unwrap();
        let train_loss = |windows: usize| {
            let o = TrainOptions {
                validation_windows: windows,
                ..opts(1, 20, 16, 1e-3, 10.0, 4)
            };
            let (_, r) = train(ctx(), &c, &w, &data, &o, |_| {}).unwrap();
            (r.epochs[0].train_loss, r.epochs[0].val_loss.unwrap())
        };
        let (held_out, val_3) = train_loss(3);
        let (read, _) = train_loss(1);
        assert!(
            held_out.is_finite() && read > 4.0 * held_out.abs().max(0.1),
            "{:?}: train loss {held_out} holding 3 horizons out, {read} holding 1",
            c.model
        );
        // validation reads them: the jump is in its windows
        assert!(
            val_3 > 4.0 * held_out.abs().max(0.1),
            "{:?}: {val_3}",
            c.model
        );
    }
}
