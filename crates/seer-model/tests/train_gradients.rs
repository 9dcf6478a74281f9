//! End-to-end gradient checks of every training graph on the GPU: the directional derivative
//! g·v of the analytic gradient against the central difference (L(p + εv) − L(p − εv)) / 2ε of
//! the same batch's loss, for random directions v over all parameters. f32 losses limit the
//! agreement to about 1e-3 relative; a wrong term in any layer's backward is far larger.

use seer_gpu::GpuContext;
use seer_model::Frequency;
use seer_model::checkpoint::{Weights, init_weights};
use seer_model::train::{TrainOptions, loss_and_gradient};
use seer_model::{History, ModelConfig, ModelKind};

/// The backend this test runs on: each test runs on the native CPU backend and on the WGSL
/// kernels (`seer_gpu::on_backends!`).
fn ctx() -> &'static GpuContext {
    seer_gpu::testing::context()
}

fn data(counts: bool) -> Vec<History> {
    (0..3)
        .map(|s| {
            let values: Vec<f64> = (0..60)
                .map(|t| {
                    let v = 5.0
                        + s as f64
                        + 3.0 * ((t as f64) * 0.7 + s as f64).sin()
                        + 0.5 * ((t * 13 + s * 7) % 5) as f64;
                    let v = if counts { v.round().max(0.0) } else { v };
                    if t == 17 && s == 1 { f64::NAN } else { v }
                })
                .collect();
            History::new(
                format!("s{s}"),
                (0..60).map(|t| 1_700_000_000 + t * 3600).collect(),
                values,
            )
        })
        .collect()
}

pub fn base_config(kind: ModelKind) -> ModelConfig {
    ModelConfig {
        model: kind,
        freq: Frequency::Seconds(3600),
        context_length: 6,
        horizon: 3,
        time_features: vec!["hour_of_day".parse().unwrap()],
        input_size: None,
        hidden_size: 5,
        num_layers: 2,
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

fn directional_check(config: &ModelConfig, data: &[History], seed: u64) {
    directional_check_with_dropout(config, data, seed, 0.0)
}

/// The finite-difference check with dropout between layers: each loss evaluation is a fresh
/// training run of the same seed, so it draws the same masks.
fn directional_check_with_dropout(config: &ModelConfig, data: &[History], seed: u64, dropout: f32) {
    let weights = init_weights(config, seed).unwrap();
    let opts = TrainOptions {
        batch_size: 4,
        seed,
        dropout,
        ..Default::default()
    };
    let (loss, grads) = loss_and_gradient(ctx(), config, &weights, data, &opts).unwrap();
    assert!(loss.is_finite(), "loss {loss}");
    let names: Vec<String> = weights.names().map(String::from).collect();
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for direction in 0..3 {
        let mut v = Weights::default();
        let mut analytic = 0.0;
        for n in &names {
            let len = weights.get(n).unwrap().len();
            let dir: Vec<f32> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
                })
                .collect();
            analytic += dir
                .iter()
                .zip(grads.get(n).unwrap())
                .map(|(a, b)| (*a as f64) * (*b as f64))
                .sum::<f64>();
            v.insert(n.clone(), weights.shape(n).unwrap().to_vec(), dir);
        }
        let eps = 2e-3f32;
        let shifted = |sign: f32| {
            let mut w = Weights::default();
            for n in &names {
                let p: Vec<f32> = weights
                    .get(n)
                    .unwrap()
                    .iter()
                    .zip(v.get(n).unwrap())
                    .map(|(p, d)| p + sign * eps * d)
                    .collect();
                w.insert(n.clone(), weights.shape(n).unwrap().to_vec(), p);
            }
            loss_and_gradient(ctx(), config, &w, data, &opts).unwrap().0
        };
        let numeric = (shifted(1.0) - shifted(-1.0)) / (2.0 * eps as f64);
        let allowed = 1e-2 * analytic.abs().max(numeric.abs()) + 2e-3;
        assert!(
            (analytic - numeric).abs() <= allowed,
            "{} direction {direction}: analytic {analytic}, finite difference {numeric}",
            config.model.name()
        );
    }
}

seer_gpu::on_backends!(deepar_gradients_for_every_likelihood);
fn deepar_gradients_for_every_likelihood() {
    for (dist, counts) in [
        ("gaussian", false),
        ("student_t", false),
        ("negative_binomial", true),
    ] {
        let mut c = base_config(ModelKind::Deepar);
        c.lags = vec![1, 2, 5];
        c.cardinality = 3;
        c.embedding_dim = 2;
        c.distribution = Some(dist.into());
        directional_check(&c, &data(counts), 11);
    }
}

seer_gpu::on_backends!(deepar_gradients_through_dropout);
fn deepar_gradients_through_dropout() {
    let mut c = base_config(ModelKind::Deepar);
    c.lags = vec![1, 2, 5];
    c.cardinality = 3;
    c.embedding_dim = 2;
    c.distribution = Some("student_t".into());
    let weights = init_weights(&c, 12).unwrap();
    let loss = |dropout| {
        let opts = TrainOptions {
            batch_size: 4,
            seed: 12,
            dropout,
            ..Default::default()
        };
        loss_and_gradient(ctx(), &c, &weights, &data(false), &opts)
            .unwrap()
            .0
    };
    // the masks are live (the loss moves) and drawn again alike for the same seed
    assert_ne!(loss(0.5), loss(0.0));
    assert_eq!(loss(0.5), loss(0.5));
    directional_check_with_dropout(&c, &data(false), 12, 0.5);
}

seer_gpu::on_backends!(quantile_forecaster_gradients);
fn quantile_forecaster_gradients() {
    for kind in [ModelKind::Lstm, ModelKind::Rnn, ModelKind::Seq2seq] {
        let mut c = base_config(kind);
        c.quantiles = vec![0.1, 0.5, 0.9];
        directional_check(&c, &data(false), 5);
    }
}

fn tcn_config(channels: Vec<usize>, dilations: Vec<usize>, kernel: usize) -> ModelConfig {
    let mut c = base_config(ModelKind::Tcn);
    c.hidden_size = 0;
    c.num_layers = 0;
    c.channels = channels;
    c.dilations = dilations;
    c.kernel_size = kernel;
    c.quantiles = vec![0.1, 0.5, 0.9];
    c
}

seer_gpu::on_backends!(tcn_gradients);
fn tcn_gradients() {
    // every block with a 1×1 downsample, then one with the identity residual
    directional_check(&tcn_config(vec![4, 3], vec![1, 2], 2), &data(false), 7);
    directional_check(&tcn_config(vec![3, 3], vec![1, 2], 3), &data(false), 8);
}

seer_gpu::on_backends!(tcn_training_lowers_the_loss);
fn tcn_training_lowers_the_loss() {
    use seer_model::train::train;
    let series: Vec<History> = (0..4)
        .map(|s| {
            let values: Vec<f64> = (0..200)
                .map(|t| 10.0 + s as f64 + 4.0 * (t as f64 * std::f64::consts::TAU / 24.0).sin())
                .collect();
            History::new(
                format!("s{s}"),
                (0..200).map(|t| 1_700_000_000 + t * 3600).collect(),
                values,
            )
        })
        .collect();
    let mut c = tcn_config(vec![8, 8], vec![1, 2], 3);
    c.context_length = 24;
    c.horizon = 4;
    let weights = init_weights(&c, 3).unwrap();
    let opts = TrainOptions {
        epochs: 6,
        steps_per_epoch: 20,
        batch_size: 16,
        learning_rate: 1e-2,
        patience: 10,
        seed: 3,
        ..Default::default()
    };
    let (_, report) = train(ctx(), &c, &weights, &series, &opts, |_| {}).unwrap();
    let first = report.epochs.first().unwrap();
    let last = report.epochs.last().unwrap();
    assert!(
        last.train_loss < 0.7 * first.train_loss,
        "train loss {} → {}",
        first.train_loss,
        last.train_loss
    );
    let (v0, best) = (first.val_loss.unwrap(), report.best_val_loss.unwrap());
    assert!(best < 0.5 * v0, "validation loss {v0} → best {best}");
}

seer_gpu::on_backends!(bilstm_gradients);
fn bilstm_gradients() {
    let mut c = base_config(ModelKind::Bilstm);
    c.time_features = vec![];
    directional_check(&c, &data(false), 7);
}

seer_gpu::on_backends!(classifier_gradients);
fn classifier_gradients() {
    let mut c = base_config(ModelKind::Classifier);
    c.time_features = vec![];
    c.classes = vec!["flat".into(), "trend".into(), "seasonal".into()];
    let mut d: Vec<History> = data(false)
        .into_iter()
        .enumerate()
        .map(|(s, h)| h.with_label(Some(c.classes[s].clone())))
        .collect();
    // shorter than the context (front-padded) and unlabelled (skipped)
    d.push(
        History::new(
            "short",
            (0..4).map(|t| 1_700_000_000 + t * 3600).collect(),
            vec![1.0, 3.0, f64::NAN, 2.0],
        )
        .with_label(Some("trend".into())),
    );
    d.push(History::new("none", vec![1_700_000_000], vec![1.0]));
    directional_check(&c, &d, 13);
}
