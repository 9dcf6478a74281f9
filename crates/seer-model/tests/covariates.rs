//! Covariates end to end (docs/models.md, "Covariates"), on both backends:
//!
//! 1. `every_forecaster_reads_its_covariates`: for the LSTM, seq2seq, TCN and DeepAR, with one
//!    known-future and one past-observed covariate, a forecast changes when the known-future
//!    values of the forecast steps change, and when the past-observed values of the last
//!    `horizon` points change (which it reads a horizon late); it does not change when
//!    known-future values beyond the horizon change.
//! 2. `missing_covariates_are_errors_naming_them`: too few known-future values, a missing
//!    column, and a horizon beyond what a past-observed covariate allows are errors that say so.
//! 3. `a_covariate_the_target_follows_is_learnt`: the target is 10 + 3·x with x a random ±1
//!    known in advance; trained with x as a known-future covariate, the LSTM and TCN reach a
//!    validation (pinball) loss under half the loss of the same training without it, DeepAR a
//!    negative log-likelihood half a nat lower.
//! 4. `a_holiday_list_reads_as_the_column_it_stands_for`: a model whose config lists holiday
//!    dates forecasts exactly as the same weights given the 0/1 column of those days as a
//!    supplied known-future covariate; other dates change the forecast; bad dates are refused.
//! 5. `holiday_effects_are_learnt_from_the_list`: daily series that jump on listed days are
//!    learnt from the list alone (same bounds as 3).

use seer_core::rng::SplitMix64;
use seer_gpu::GpuContext;
use seer_model::checkpoint::init_weights;
use seer_model::train::{TrainOptions, train};
use seer_model::{
    Covariate, CovariateKind, Frequency, History, Model, ModelConfig, ModelKind, PredictOptions,
    Prediction,
};

fn ctx() -> &'static GpuContext {
    seer_gpu::testing::context()
}

const T0: i64 = 1_700_000_000;

fn covariate(name: &str, kind: CovariateKind) -> Covariate {
    Covariate {
        name: name.into(),
        kind,
        mean: 0.0,
        std: 1.0,
        dates: vec![],
    }
}

fn config(kind: ModelKind, covariates: Vec<Covariate>) -> ModelConfig {
    let mut c = ModelConfig {
        hidden_size: 8,
        num_layers: 1,
        quantiles: vec![0.1, 0.5, 0.9],
        covariates,
        ..ModelConfig::bare(kind, Frequency::Seconds(3600), 12, 4)
    };
    match kind {
        ModelKind::Tcn => {
            (c.hidden_size, c.num_layers) = (0, 0);
            c.channels = vec![8, 8, 8];
            c.kernel_size = 2;
            c.dilations = vec![1, 2, 4];
        }
        ModelKind::Deepar => {
            c.quantiles = vec![];
            c.lags = vec![1, 2];
            c.cardinality = 1;
            c.distribution = Some("gaussian".into());
            c.num_samples = 64;
        }
        _ => {}
    }
    c.input_size = Some(c.derived_input_size());
    c
}

fn history(values: Vec<f64>, covariates: Vec<Vec<f64>>) -> History {
    let n = values.len() as i64;
    History::new("s", (0..n).map(|t| T0 + t * 3600).collect(), values).with_covariates(covariates)
}

fn mean_of(model: &Model, h: &History) -> Vec<f64> {
    let opts = PredictOptions {
        horizon: Some(4),
        seed: 3,
        ..Default::default()
    };
    match model
        .predict(ctx(), std::slice::from_ref(h), &opts)
        .unwrap()
        .remove(0)
    {
        Prediction::Forecast(f) => f.mean,
        other => panic!("{other:?}"),
    }
}

fn differs(a: &[f64], b: &[f64]) -> bool {
    a.iter().zip(b).any(|(x, y)| (x - y).abs() > 1e-6)
}

const KINDS: [ModelKind; 4] = [
    ModelKind::Lstm,
    ModelKind::Seq2seq,
    ModelKind::Tcn,
    ModelKind::Deepar,
];

seer_gpu::on_backends!(every_forecaster_reads_its_covariates);
fn every_forecaster_reads_its_covariates() {
    for kind in KINDS {
        let c = config(
            kind,
            vec![
                covariate("x", CovariateKind::KnownFuture),
                covariate("p", CovariateKind::PastObserved),
            ],
        );
        assert_eq!(
            c.derived_input_size(),
            config(kind, vec![]).derived_input_size() + 2
        );
        let model = Model::from_parts(ctx(), c.clone(), init_weights(&c, 1).unwrap()).unwrap();
        let values: Vec<f64> = (0..30).map(|t| 10.0 + (t % 5) as f64).collect();
        let x: Vec<f64> = (0..36).map(|t| ((t * 7) % 3) as f64 - 1.0).collect();
        let p: Vec<f64> = (0..30).map(|t| ((t * 5) % 4) as f64).collect();
        let base = mean_of(&model, &history(values.clone(), vec![x.clone(), p.clone()]));
        assert!(base.iter().all(|v| v.is_finite()), "{kind:?}: {base:?}");

        let mut future = x.clone();
        future[31] += 3.0;
        let moved = mean_of(&model, &history(values.clone(), vec![future, p.clone()]));
        assert!(differs(&base, &moved), "{kind:?} reads x over the horizon");

        let mut beyond = x.clone();
        beyond[35] += 3.0;
        let same = mean_of(&model, &history(values.clone(), vec![beyond, p.clone()]));
        assert!(
            !differs(&base, &same),
            "{kind:?}: x past the horizon is not read"
        );

        let mut late = p.clone();
        late[28] += 3.0;
        let moved = mean_of(&model, &history(values.clone(), vec![x.clone(), late]));
        assert!(differs(&base, &moved), "{kind:?} reads p a horizon late");
    }
}

seer_gpu::on_backends!(missing_covariates_are_errors_naming_them);
fn missing_covariates_are_errors_naming_them() {
    let c = config(
        ModelKind::Lstm,
        vec![
            covariate("temperature", CovariateKind::KnownFuture),
            covariate("sales", CovariateKind::PastObserved),
        ],
    );
    let model = Model::from_parts(ctx(), c.clone(), init_weights(&c, 1).unwrap()).unwrap();
    let values = vec![5.0; 20];
    let err = |h: History, horizon: usize| {
        let opts = PredictOptions {
            horizon: Some(horizon),
            ..Default::default()
        };
        model.predict(ctx(), &[h], &opts).unwrap_err().to_string()
    };
    let e = err(
        history(values.clone(), vec![vec![1.0; 22], vec![1.0; 20]]),
        4,
    );
    assert!(
        e.contains("known-future covariate \"temperature\" has 2 values past the history's 20")
            && e.contains("needs 4"),
        "{e}"
    );
    let e = err(history(values.clone(), vec![vec![1.0; 24]]), 4);
    assert!(e.contains("the model reads 2 (temperature, sales)"), "{e}");
    let e = err(
        history(values.clone(), vec![vec![1.0; 24], vec![1.0; 19]]),
        4,
    );
    assert!(
        e.contains("past-observed covariate \"sales\" has 19 values"),
        "{e}"
    );
    let e = err(history(values, vec![vec![1.0; 30], vec![1.0; 20]]), 5);
    assert!(
        e.contains("limit of 4") && e.contains("past-observed"),
        "{e}"
    );
    // training needs the columns too
    let data = [history(vec![1.0; 40], vec![])];
    let w = init_weights(&c, 1).unwrap();
    let e = match train(ctx(), &c, &w, &data, &TrainOptions::default(), |_| {}) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("trained without the covariate columns"),
    };
    assert!(e.contains("has 0 covariate columns"), "{e}");
    // a classifier or gap filler reads none
    let mut g = config(
        ModelKind::Bilstm,
        vec![covariate("x", CovariateKind::KnownFuture)],
    );
    g.quantiles = vec![];
    assert!(
        g.validate()
            .unwrap_err()
            .to_string()
            .contains("forecasters only")
    );
    let twice = config(
        ModelKind::Lstm,
        vec![
            covariate("x", CovariateKind::KnownFuture),
            covariate("x", CovariateKind::PastObserved),
        ],
    );
    assert!(
        twice
            .validate()
            .unwrap_err()
            .to_string()
            .contains("listed twice")
    );
}

/// The schedule both learning tests train with.
fn learning_opts() -> TrainOptions {
    TrainOptions {
        epochs: 6,
        steps_per_epoch: 25,
        batch_size: 16,
        learning_rate: 1e-2,
        patience: 100,
        seed: 5,
        ..Default::default()
    }
}

/// Whether an input was learnt from: the pinball loss is positive, so half of it; DeepAR's
/// negative log-likelihood is in nats and may go below 0, so half a nat less.
fn learnt(kind: ModelKind, with: f64, without: f64) -> bool {
    if kind == ModelKind::Deepar {
        with < without - 0.5
    } else {
        with < 0.5 * without
    }
}

seer_gpu::on_backends!(a_covariate_the_target_follows_is_learnt);
fn a_covariate_the_target_follows_is_learnt() {
    let mut rng = SplitMix64::new(11);
    let data: Vec<History> = (0..4)
        .map(|s| {
            let x: Vec<f64> = (0..200)
                .map(|_| if rng.uniform() < 0.5 { -1.0 } else { 1.0 })
                .collect();
            let y = x.iter().map(|v| 10.0 + 3.0 * v).collect();
            let n = x.len() as i64;
            History::new(format!("s{s}"), (0..n).map(|t| T0 + t * 3600).collect(), y)
                .with_covariates(vec![x])
        })
        .collect();
    let opts = learning_opts();
    for kind in [ModelKind::Lstm, ModelKind::Tcn, ModelKind::Deepar] {
        let loss = |covariates: Vec<Covariate>| {
            let c = config(kind, covariates);
            let columns = if c.covariates.is_empty() {
                data.iter()
                    .map(|h| h.clone().with_covariates(vec![]))
                    .collect()
            } else {
                data.clone()
            };
            let w = init_weights(&c, 2).unwrap();
            let (_, report) = train(ctx(), &c, &w, &columns, &opts, |_| {}).unwrap();
            report.best_val_loss.unwrap()
        };
        let with = loss(vec![covariate("x", CovariateKind::KnownFuture)]);
        let without = loss(vec![]);
        eprintln!("{kind:?}: validation loss {with} with x, {without} without");
        assert!(
            learnt(kind, with, without),
            "{kind:?}: validation loss {with} with the covariate, {without} without"
        );
    }
}

fn holidays(dates: &[&str], mean: f64, std: f64) -> Covariate {
    Covariate {
        name: "holiday".into(),
        kind: CovariateKind::KnownFuture,
        mean,
        std,
        dates: dates.iter().map(|d| d.to_string()).collect(),
    }
}

seer_gpu::on_backends!(a_holiday_list_reads_as_the_column_it_stands_for);
fn a_holiday_list_reads_as_the_column_it_stands_for() {
    // T0 + 26 h is 2023-11-16 00:00 UTC: the last 4 history points and the 4 forecast steps
    // fall on that day
    let values: Vec<f64> = (0..30).map(|t| 10.0 + (t % 5) as f64).collect();
    let column: Vec<f64> = (0..34).map(|t| if t >= 26 { 1.0 } else { 0.0 }).collect();
    for kind in KINDS {
        let listed = config(
            kind,
            vec![holidays(&["2023-11-16", "2023-12-25"], 0.1, 0.3)],
        );
        let supplied = config(
            kind,
            vec![Covariate {
                mean: 0.1,
                std: 0.3,
                ..covariate("holiday", CovariateKind::KnownFuture)
            }],
        );
        let w = init_weights(&listed, 1).unwrap();
        let model = |c: &ModelConfig| Model::from_parts(ctx(), c.clone(), w.clone()).unwrap();
        let computed = mean_of(&model(&listed), &history(values.clone(), vec![]));
        let given = mean_of(
            &model(&supplied),
            &history(values.clone(), vec![column.clone()]),
        );
        assert!(
            !differs(&computed, &given),
            "{kind:?}: {computed:?} vs {given:?}"
        );
        let elsewhere = config(kind, vec![holidays(&["2023-11-20"], 0.1, 0.3)]);
        let other = mean_of(&model(&elsewhere), &history(values.clone(), vec![]));
        assert!(differs(&computed, &other), "{kind:?}: the dates are read");
        // a window carrying a column for it is refused: only supplied covariates travel
        let err = model(&listed)
            .predict(
                ctx(),
                &[history(values.clone(), vec![column.clone()])],
                &PredictOptions::default(),
            )
            .unwrap_err()
            .to_string();
        assert!(err.contains("covariate columns"), "{err}");
    }
    let bad = |cov: Covariate| {
        config(ModelKind::Lstm, vec![cov])
            .validate()
            .unwrap_err()
            .to_string()
    };
    let err = bad(holidays(&["2024-01-01", "2024-02-30"], 0.0, 1.0));
    assert!(
        err.contains("dates[1]") && err.contains("2024-02-30"),
        "{err}"
    );
    let err = bad(holidays(&["2024-01-01 10:00"], 0.0, 1.0));
    assert!(err.contains("YYYY-MM-DD"), "{err}");
    let err = bad(Covariate {
        kind: CovariateKind::PastObserved,
        ..holidays(&["2024-01-01"], 0.0, 1.0)
    });
    assert!(err.contains("known_future"), "{err}");
}

seer_gpu::on_backends!(holiday_effects_are_learnt_from_the_list);
fn holiday_effects_are_learnt_from_the_list() {
    // daily series that jump by 4 on listed days, which nothing in their past foretells
    let mut rng = SplitMix64::new(13);
    let day = 86_400;
    let start = 1_700_006_400 - 1_700_006_400 % day;
    let listed: Vec<bool> = (0..200).map(|_| rng.uniform() < 0.3).collect();
    let dates: Vec<String> = listed
        .iter()
        .enumerate()
        .filter(|(_, l)| **l)
        .map(|(d, _)| seer_core::time::format_timestamp(start + d as i64 * day)[..10].to_string())
        .collect();
    let data: Vec<History> = (0..4)
        .map(|s| {
            let y = listed
                .iter()
                .map(|&l| 10.0 + s as f64 + if l { 4.0 } else { 0.0 })
                .collect();
            History::new(
                format!("s{s}"),
                (0..200).map(|d| start + d * day).collect(),
                y,
            )
        })
        .collect();
    let opts = learning_opts();
    for kind in [ModelKind::Lstm, ModelKind::Deepar] {
        let loss = |covariates: Vec<Covariate>| {
            let mut c = config(kind, covariates);
            c.freq = Frequency::Seconds(day);
            let w = init_weights(&c, 2).unwrap();
            let (_, report) = train(ctx(), &c, &w, &data, &opts, |_| {}).unwrap();
            report.best_val_loss.unwrap()
        };
        let with = loss(vec![Covariate::holidays("holiday", dates.clone(), &data)]);
        let without = loss(vec![]);
        eprintln!(
            "{kind:?}: validation loss {with} with the holiday list ({} days), {without} without",
            dates.len()
        );
        assert!(
            learnt(kind, with, without),
            "{kind:?}: {with} with the list, {without} without"
        );
    }
}
