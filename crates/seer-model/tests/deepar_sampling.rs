//! DeepAR's sampling pipeline end to end on the GPU. With the head's weights zeroed its bias
//! fixes the distribution at every step, so the paths' mean, spread and quantiles have known
//! values: a check of scaling, the likelihood heads, the sampler and the quantile summary
//! through `Model::predict` (the kernels themselves are checked against the CPU reference).

use seer_gpu::GpuContext;
use seer_model::Frequency;
use seer_model::checkpoint::init_weights;
use seer_model::{History, Model, ModelConfig, ModelKind, PredictOptions, Prediction};

/// The backend this test runs on: each test runs on the native CPU backend and on the WGSL
/// kernels (`seer_gpu::on_backends!`).
fn ctx() -> &'static GpuContext {
    seer_gpu::testing::context()
}

fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

fn model(distribution: &str, bias: &[f32]) -> Model {
    let config = ModelConfig {
        model: ModelKind::Deepar,
        freq: Frequency::Seconds(3600),
        context_length: 8,
        horizon: 5,
        time_features: vec![],
        input_size: None,
        hidden_size: 4,
        num_layers: 1,
        quantiles: vec![],
        channels: vec![],
        kernel_size: 0,
        dilations: vec![],
        lags: vec![1, 2],
        cardinality: 1,
        embedding_dim: 0,
        distribution: Some(distribution.into()),
        num_samples: 50,
        series_ids: None,
        classes: vec![],
        seasonal_naive_series: Vec::new(),
        covariates: Vec::new(),
    };
    let mut w = init_weights(&config, 9).unwrap();
    let p = bias.len();
    w.insert("proj.weight", vec![p, 4], vec![0.0; p * 4]);
    w.insert("proj.bias", vec![p], bias.to_vec());
    Model::from_parts(ctx(), config, w).unwrap()
}

/// A constant history of 10: scale s = 11.
fn history() -> Vec<History> {
    vec![History::new(
        "s",
        (0..20).map(|k| 1_700_000_000 + k * 3600).collect(),
        vec![10.0; 20],
    )]
}

fn forecast(m: &Model, paths: usize) -> seer_model::Forecast {
    let opts = PredictOptions {
        num_samples: Some(paths),
        return_samples: true,
        quantiles: Some(vec![0.1, 0.5, 0.9]),
        seed: 3,
        ..Default::default()
    };
    match m.predict(ctx(), &history(), &opts).unwrap().remove(0) {
        Prediction::Forecast(f) => f,
        other => panic!("{other:?}"),
    }
}

seer_gpu::on_backends!(gaussian_paths_have_the_head_distribution);
fn gaussian_paths_have_the_head_distribution() {
    let f = forecast(&model("gaussian", &[0.5, -1.0]), 4000);
    let (mu, sigma) = (11.0 * 0.5, 11.0 * (softplus(-1.0) + 1e-6));
    let samples = f.samples.as_ref().unwrap();
    assert_eq!(samples.len(), 4000);
    assert!(samples.iter().all(|p| p.len() == 5));
    for step in 0..5 {
        assert!(
            (f.mean[step] - mu).abs() < 4.0 * sigma / 4000f64.sqrt(),
            "mean {} vs {mu}",
            f.mean[step]
        );
        let (q10, q50, q90) = (
            f.quantiles[0].1[step],
            f.quantiles[1].1[step],
            f.quantiles[2].1[step],
        );
        assert!((q50 - mu).abs() < 0.1 * sigma, "median {q50} vs {mu}");
        let width = (q90 - q10) / (2.0 * 1.281_551_6 * sigma);
        assert!(
            (width - 1.0).abs() < 0.06,
            "80% interval width ratio {width}"
        );
    }
    assert_eq!(f.timestamps[0], 1_700_000_000 + 20 * 3600);
}

seer_gpu::on_backends!(student_t_paths_are_centred_and_heavier_tailed);
fn student_t_paths_are_centred_and_heavier_tailed() {
    let f = forecast(&model("student_t", &[-0.2, 0.0, 0.5]), 4000);
    let (mu, sigma, nu) = (
        11.0 * -0.2,
        11.0 * (softplus(0.0) + 1e-6),
        2.0 + softplus(0.5),
    );
    for step in 0..5 {
        assert!((f.quantiles[1].1[step] - mu).abs() < 0.1 * sigma, "median");
        // t with ν ≈ 3 has a wider 80% interval than the normal with the same σ
        let width = (f.quantiles[2].1[step] - f.quantiles[0].1[step]) / (2.0 * 1.281_551_6 * sigma);
        assert!(
            width > 1.05 && width < 1.35,
            "width ratio {width} for nu {nu}"
        );
    }
}

seer_gpu::on_backends!(negative_binomial_paths_are_counts_with_its_mean_and_variance);
fn negative_binomial_paths_are_counts_with_its_mean_and_variance() {
    let f = forecast(&model("negative_binomial", &[1.0, -2.0]), 4000);
    let mu = 11.0 * (softplus(1.0) + 1e-6);
    let alpha = (softplus(-2.0) + 1e-6) / 11f64.sqrt();
    let samples = f.samples.as_ref().unwrap();
    assert!(
        samples
            .iter()
            .flatten()
            .all(|z| *z >= 0.0 && z.fract() == 0.0)
    );
    for step in 0..5 {
        let col: Vec<f64> = samples.iter().map(|p| p[step]).collect();
        let var =
            col.iter().map(|z| (z - f.mean[step]).powi(2)).sum::<f64>() / (col.len() - 1) as f64;
        let want_var = mu + alpha * mu * mu;
        assert!(
            (f.mean[step] - mu).abs() < 5.0 * (want_var / 4000.0).sqrt(),
            "mean {} vs {mu}",
            f.mean[step]
        );
        assert!(
            (var / want_var - 1.0).abs() < 0.15,
            "var {var} vs {want_var}"
        );
    }
}

seer_gpu::on_backends!(each_series_gets_its_own_scale_in_one_batch);
fn each_series_gets_its_own_scale_in_one_batch() {
    let m = model("gaussian", &[1.0, -3.0]);
    let mut hs = history();
    hs.push(History::new(
        "big",
        (0..20).map(|k| 1_700_000_000 + k * 3600).collect(),
        vec![1000.0; 20],
    ));
    let out = m
        .predict(
            ctx(),
            &hs,
            &PredictOptions {
                num_samples: Some(200),
                ..Default::default()
            },
        )
        .unwrap();
    let means: Vec<f64> = out
        .iter()
        .map(|p| match p {
            Prediction::Forecast(f) => f.mean[0],
            _ => unreachable!(),
        })
        .collect();
    assert!((means[0] / 11.0 - 1.0).abs() < 0.05, "{means:?}");
    assert!((means[1] / 1001.0 - 1.0).abs() < 0.05, "{means:?}");
}
