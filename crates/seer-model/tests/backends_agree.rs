//! Every model kind, with the same weights, predicts the same on the native CPU backend as on the
//! WGSL kernels (the software adapter in CI, a GPU where there is one), and one training step
//! gives the same loss and gradients. The kernels are tested op by op against f64 references in
//! seer-gpu; this catches what only a whole model exercises (chunking, state carried between
//! calls, decode loops, DeepAR's seeded paths).

use seer_gpu::GpuContext;
use seer_gpu::testing::{TestBackend, context, run_on};
use seer_model::Frequency;
use seer_model::checkpoint::init_weights;
use seer_model::{History, Model, ModelConfig, ModelKind, PredictOptions, Prediction};

fn on(backend: TestBackend) -> &'static GpuContext {
    let mut ctx = None;
    run_on(backend, || ctx = Some(context()));
    ctx.expect("run_on ran the closure")
}

fn config(kind: ModelKind) -> ModelConfig {
    let mut c = ModelConfig {
        model: kind,
        freq: Frequency::Seconds(3600),
        context_length: 20,
        horizon: 5,
        time_features: seer_core::features::default_time_features(3600),
        input_size: None,
        hidden_size: 9,
        num_layers: 2,
        quantiles: vec![0.1, 0.5, 0.9],
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
    };
    match kind {
        ModelKind::Tcn => {
            c.hidden_size = 0;
            c.num_layers = 0;
            c.channels = vec![7, 5, 5];
            c.kernel_size = 3;
            c.dilations = vec![1, 2, 4];
        }
        ModelKind::Deepar => {
            c.quantiles = vec![];
            c.lags = vec![1, 2, 24];
            c.cardinality = 1;
            c.distribution = Some("gaussian".into());
            c.num_samples = 64;
        }
        ModelKind::Classifier => {
            c.quantiles = vec![];
            c.classes = vec!["calm".into(), "storm".into(), "drift".into()];
        }
        ModelKind::Bilstm => c.quantiles = vec![],
        _ => {}
    }
    c
}

/// Hourly series of 60 points with gaps, at different levels (the scaling must agree too).
fn histories() -> Vec<History> {
    (0..7)
        .map(|s| {
            let level = 5.0 * (s + 1) as f64;
            let values = (0..60)
                .map(|t| {
                    if (t * 3 + s) % 11 == 4 {
                        f64::NAN
                    } else {
                        level + (s as f64 + 1.0) * (t as f64 * std::f64::consts::TAU / 24.0).sin()
                    }
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

fn close(what: &str, cpu: f64, wgsl: f64, scale: f64) {
    let tol = 1e-4 * scale.max(1.0);
    assert!(
        (cpu - wgsl).abs() <= tol || (cpu.is_nan() && wgsl.is_nan()),
        "{what}: cpu {cpu} vs wgsl {wgsl} (tolerance {tol})"
    );
}

fn compare(kind: ModelKind, cpu: &[Prediction], wgsl: &[Prediction]) {
    assert_eq!(cpu.len(), wgsl.len());
    for (c, w) in cpu.iter().zip(wgsl) {
        assert_eq!(c.id(), w.id());
        let at = |i: usize| format!("{kind:?} {} [{i}]", c.id());
        match (c, w) {
            (Prediction::Forecast(c), Prediction::Forecast(w)) => {
                assert_eq!(c.timestamps, w.timestamps);
                let scale = c.mean.iter().fold(1.0f64, |m, v| m.max(v.abs()));
                for (i, (a, b)) in c.mean.iter().zip(&w.mean).enumerate() {
                    close(&format!("{} mean", at(i)), *a, *b, scale);
                }
                for ((lc, vc), (lw, vw)) in c.quantiles.iter().zip(&w.quantiles) {
                    assert_eq!(lc, lw);
                    for (i, (a, b)) in vc.iter().zip(vw).enumerate() {
                        close(&format!("{} q{lc}", at(i)), *a, *b, scale);
                    }
                }
                if let (Some(pc), Some(pw)) = (&c.samples, &w.samples) {
                    // the same Philox draws: each path agrees, up to rounding fed back through
                    // the autoregression
                    assert_eq!(pc.len(), pw.len());
                    for (p, (a, b)) in pc.iter().zip(pw).enumerate() {
                        for (i, (x, y)) in a.iter().zip(b).enumerate() {
                            close(&format!("{} path {p}", at(i)), *x, *y, scale);
                        }
                    }
                }
            }
            (Prediction::GapFill(c), Prediction::GapFill(w)) => {
                assert_eq!(c.filled, w.filled);
                let scale = c.values.iter().fold(1.0f64, |m, v| m.max(v.abs()));
                for (i, (a, b)) in c.values.iter().zip(&w.values).enumerate() {
                    close(&at(i), *a, *b, scale);
                }
            }
            (Prediction::Classification(c), Prediction::Classification(w)) => {
                for (i, ((nc, pc), (nw, pw))) in
                    c.probabilities.iter().zip(&w.probabilities).enumerate()
                {
                    assert_eq!(nc, nw);
                    close(&at(i), *pc, *pw, 1.0);
                }
            }
            _ => panic!("{kind:?}: the backends answered different kinds of prediction"),
        }
    }
}

#[test]
fn every_model_kind_predicts_the_same_on_both_backends() {
    let (cpu, wgsl) = (on(TestBackend::Cpu), on(TestBackend::Wgsl));
    let data = histories();
    for kind in ModelKind::ALL {
        let c = config(kind);
        let weights = init_weights(&c, 7).unwrap();
        let opts = PredictOptions {
            horizon: Some(5),
            return_samples: kind == ModelKind::Deepar,
            seed: 11,
            ..Default::default()
        };
        let on_cpu = Model::from_parts(cpu, c.clone(), weights.clone())
            .unwrap()
            .predict(cpu, &data, &opts)
            .unwrap();
        let on_wgsl = Model::from_parts(wgsl, c, weights)
            .unwrap()
            .predict(wgsl, &data, &opts)
            .unwrap();
        compare(kind, &on_cpu, &on_wgsl);
    }
}

#[test]
fn a_training_step_gives_the_same_loss_and_gradients_on_both_backends() {
    use seer_model::train::{TrainOptions, loss_and_gradient};
    let (cpu, wgsl) = (on(TestBackend::Cpu), on(TestBackend::Wgsl));
    let opts = TrainOptions {
        batch_size: 8,
        seed: 5,
        ..Default::default()
    };
    let data = histories();
    // the classifier trains on labelled series, which these are not
    for kind in ModelKind::ALL
        .into_iter()
        .filter(|k| *k != ModelKind::Classifier)
    {
        let c = config(kind);
        let weights = init_weights(&c, 3).unwrap();
        let (loss_c, grads_c) = loss_and_gradient(cpu, &c, &weights, &data, &opts).unwrap();
        let (loss_w, grads_w) = loss_and_gradient(wgsl, &c, &weights, &data, &opts).unwrap();
        close(&format!("{kind:?} loss"), loss_c, loss_w, loss_c.abs());
        for name in grads_w.names() {
            let (a, b) = (grads_c.get(name).unwrap(), grads_w.get(name).unwrap());
            let scale = b.iter().fold(0.0f32, |m, g| m.max(g.abs())) as f64;
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                let tol = 1e-3 * scale.max(1e-4);
                assert!(
                    ((x - y) as f64).abs() <= tol,
                    "{kind:?} {name}[{i}]: cpu {x} vs wgsl {y} (tolerance {tol})"
                );
            }
        }
    }
}

/// A model's loss bits, each gradient's bits by name, and its sampled forecasts.
type Fingerprint = (u64, Vec<(String, Vec<u32>)>, Vec<Prediction>);

/// A model's loss, gradients and sampled forecasts on `ctx`, the floats as bits.
fn fingerprint(ctx: &GpuContext, kind: ModelKind, data: &[History]) -> Fingerprint {
    use seer_model::train::{TrainOptions, loss_and_gradient};
    let c = config(kind);
    let weights = init_weights(&c, 4).unwrap();
    // B·T over 2 × 4096: the weight gradients split their inner dimension
    let opts = TrainOptions {
        batch_size: 400,
        seed: 2,
        ..Default::default()
    };
    let (loss, grads) = loss_and_gradient(ctx, &c, &weights, data, &opts).unwrap();
    let grads = grads
        .names()
        .map(|n| {
            let bits = grads.get(n).unwrap().iter().map(|v| v.to_bits()).collect();
            (n.to_string(), bits)
        })
        .collect();
    let predict = PredictOptions {
        horizon: Some(5),
        return_samples: true,
        seed: 9,
        ..Default::default()
    };
    let model = Model::from_parts(ctx, c, weights).unwrap();
    let forecasts = model.predict(ctx, data, &predict).unwrap();
    (loss.to_bits(), grads, forecasts)
}

const BIT_EXACT_KINDS: [ModelKind; 3] = [ModelKind::Lstm, ModelKind::Tcn, ModelKind::Deepar];

#[test]
fn the_cpu_backend_gives_the_same_bits_on_any_thread_count() {
    let one = GpuContext::cpu_with_threads(Some(1));
    let three = GpuContext::cpu_with_threads(Some(3));
    let data: Vec<History> = (0..6).flat_map(|_| histories()).collect();
    for kind in BIT_EXACT_KINDS {
        let (a, b) = (
            fingerprint(&one, kind, &data),
            fingerprint(&three, kind, &data),
        );
        assert_same_bits(kind, &a, &b);
    }
}

fn assert_same_bits(kind: ModelKind, a: &Fingerprint, b: &Fingerprint) {
    assert_eq!(a.0, b.0, "{kind:?} loss");
    assert_eq!(a.1.len(), b.1.len(), "{kind:?} gradients");
    for ((name, x), (_, y)) in a.1.iter().zip(&b.1) {
        assert_eq!(x, y, "{kind:?} {name}");
    }
    assert_eq!(a.2, b.2, "{kind:?} predictions");
}

#[test]
fn concurrent_callers_on_one_cpu_context_get_the_bits_of_a_lone_caller() {
    // a launch that finds another in flight runs on its caller's thread, so these callers mix
    // serial and pooled launches; neither may change a bit
    let alone = GpuContext::cpu_with_threads(Some(1));
    let shared = GpuContext::cpu_with_threads(Some(3));
    let data: Vec<History> = (0..6).flat_map(|_| histories()).collect();
    for kind in BIT_EXACT_KINDS {
        let expected = fingerprint(&alone, kind, &data);
        std::thread::scope(|s| {
            let callers: Vec<_> = (0..3)
                .map(|_| s.spawn(|| fingerprint(&shared, kind, &data)))
                .collect();
            for caller in callers {
                assert_same_bits(kind, &expected, &caller.join().unwrap());
            }
        });
    }
}
