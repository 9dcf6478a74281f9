//! The promotion gate on the GPU (the adapter `SEER_ADAPTER` selects): a candidate fine-tuned
//! on garbage labels (shuffled or constant) is never promoted over a trained model, while one
//! fine-tuned on real windows is promoted over an untrained model.

mod common;

use common::{HOUR, config_of, ctx, lstm_config};
use seer_core::rng::SplitMix64;
use seer_model::checkpoint::init_weights;
use seer_model::train::{TrainOptions, train};
use seer_model::{History, ModelKind};
use seer_trainer::gate::Verdict;
use seer_trainer::learner::{Held, Learner, RoundInput};

fn series(s: usize, from: i64, n: usize) -> History {
    let ts: Vec<i64> = (0..n as i64).map(|k| (from + k) * HOUR).collect();
    let values = (0..n as i64)
        .map(|k| {
            let k = from + k;
            20.0 + 5.0 * s as f64
                + 4.0 * ((k as f64) * std::f64::consts::TAU / 24.0 + s as f64).sin()
        })
        .collect();
    History::new(format!("s{s}"), ts, values)
}

/// Replay-sized windows (2·(context + horizon) + 2 points) of 8 series, and one holdout window
/// (context + horizon points) per series after them.
fn windows() -> (Vec<History>, Vec<History>) {
    let mut train = Vec::new();
    let mut holdout = Vec::new();
    for s in 0..8 {
        for w in 0..6 {
            train.push(series(s, w * 26, 26));
        }
        holdout.push(series(s, 6 * 26, 12));
    }
    (train, holdout)
}

fn input(train: Vec<History>, holdout: &[History]) -> RoundInput {
    RoundInput {
        train,
        holdout: holdout.to_vec(),
        listed: Vec::new(),
        steps: 30,
        batch_size: 16,
        margin: 0.02,
        season: 24,
        seed: 1,
    }
}

fn tuning() -> TrainOptions {
    TrainOptions {
        learning_rate: 0.01,
        ..TrainOptions::default()
    }
}

#[test]
fn garbage_labels_are_never_promoted_and_real_ones_are() {
    let ctx = ctx();
    let c = lstm_config();
    let (train_windows, holdout) = windows();

    // positive control: real windows beat an untrained model
    let untrained = Held {
        version: "v0".into(),
        weights: init_weights(&c, 5).unwrap(),
    };
    let mut learner = Learner::new(&ctx, c.clone(), untrained, &tuning()).unwrap();
    // listed for the seasonal naive: a series with no window stays listed, and so does one
    // the naive forecasts exactly (a pure 24-hour cycle), which no candidate beats
    let listed = vec![
        ("gone".to_string(), None),
        ("s0".to_string(), Some(series(0, 0, 30))),
    ];
    let o = learner
        .round(
            &ctx,
            &RoundInput {
                listed,
                ..input(train_windows.clone(), &holdout)
            },
        )
        .unwrap();
    assert_eq!(o.verdict, Verdict::Promote, "{:?}", o.verdict);
    assert!(o.applied > 0 && o.mean_loss.is_finite());
    assert_eq!(o.naive_series, ["gone", "s0"]);

    // a trained model to defend
    let long: Vec<History> = (0..8).map(|s| series(s, 0, 156)).collect();
    let (trained, _) = train(
        &ctx,
        &c,
        &init_weights(&c, 5).unwrap(),
        &long,
        &TrainOptions {
            epochs: 20,
            steps_per_epoch: 40,
            patience: 20,
            batch_size: 16,
            learning_rate: 0.01,
            ..TrainOptions::default()
        },
        |_| {},
    )
    .unwrap();
    let held = Held {
        version: "v1".into(),
        weights: trained.clone(),
    };
    let mut learner = Learner::new(&ctx, c.clone(), held, &tuning()).unwrap();

    let mut rng = SplitMix64::new(9);
    let shuffled: Vec<History> = train_windows
        .iter()
        .map(|h| {
            let mut h = h.clone();
            for i in (1..h.values.len()).rev() {
                let j = rng.below(i + 1);
                h.values.swap(i, j);
            }
            h
        })
        .collect();
    let constant: Vec<History> = train_windows
        .iter()
        .map(|h| {
            History::new(
                h.id.clone(),
                h.timestamps.clone(),
                vec![7.0; h.values.len()],
            )
        })
        .collect();
    let mut defended = Vec::new();
    for (what, garbage) in [("shuffled", shuffled), ("constant", constant)] {
        let o = learner.round(&ctx, &input(garbage, &holdout)).unwrap();
        defended.push(o.active_score.as_ref().and_then(|s| s.mase).unwrap());
        assert_ne!(
            o.verdict,
            Verdict::Promote,
            "{what} labels promoted: candidate {:?} over active {:?}",
            o.candidate_score
                .as_ref()
                .map(|s| (s.mase, s.quantile_loss.clone())),
            o.active_score
                .as_ref()
                .map(|s| (s.mase, s.quantile_loss.clone())),
        );
        // the active version is untouched
        assert_eq!(learner.active.version, "v1");
    }
    // the trained model was scored the same way each time: nothing a discarded candidate
    // learned reached it
    let o = learner
        .round(&ctx, &input(train_windows, &holdout))
        .unwrap();
    defended.push(o.active_score.as_ref().and_then(|s| s.mase).unwrap());
    assert!(
        defended.windows(2).all(|w| (w[0] - w[1]).abs() < 1e-9),
        "{defended:?}"
    );
}

#[test]
fn lstm_rnn_deepar_and_tcn_fine_tune_online_and_beat_an_untrained_model() {
    let ctx = ctx();
    let (train_windows, holdout) = windows();
    for kind in [
        ModelKind::Lstm,
        ModelKind::Rnn,
        ModelKind::Deepar,
        ModelKind::Tcn,
    ] {
        let c = config_of(kind);
        let held = Held {
            version: "v0".into(),
            weights: init_weights(&c, 5).unwrap(),
        };
        let mut learner = Learner::new(&ctx, c, held, &tuning()).unwrap();
        let o = learner
            .round(&ctx, &input(train_windows.clone(), &holdout))
            .unwrap();
        assert_eq!(o.verdict, Verdict::Promote, "{kind:?}: {:?}", o.verdict);
        // the optimiser continues: a second round starts from the candidate's moments
        learner.commit("v1".into(), o.candidate.unwrap(), Vec::new());
        let again = learner
            .round(&ctx, &input(train_windows.clone(), &holdout))
            .unwrap();
        assert!(again.applied > 0, "{kind:?}");
    }
}

#[test]
fn a_model_reading_a_holiday_list_fine_tunes_on_windows_that_carry_no_covariates() {
    // the list is computed from timestamps, so the trainer's windows are enough; a supplied
    // covariate would be refused, as no window carries it
    let ctx = ctx();
    let (train_windows, holdout) = windows();
    let mut c = config_of(ModelKind::Deepar);
    c.covariates = vec![seer_model::Covariate {
        dates: vec!["1970-01-02".into(), "1970-01-05".into()],
        ..seer_model::Covariate::fitted("holiday", seer_model::CovariateKind::KnownFuture, [])
    }];
    c.input_size = Some(c.derived_input_size());
    let held = Held {
        version: "v0".into(),
        weights: init_weights(&c, 5).unwrap(),
    };
    let mut learner = Learner::new(&ctx, c.clone(), held, &tuning()).unwrap();
    let o = learner
        .round(&ctx, &input(train_windows.clone(), &holdout))
        .unwrap();
    assert!(
        o.applied > 0 && o.candidate_score.is_some(),
        "{:?}",
        o.verdict
    );
    c.covariates[0].dates.clear();
    c.covariates[0].name = "temperature".into();
    let held = Held {
        version: "v0".into(),
        weights: init_weights(&c, 5).unwrap(),
    };
    let mut learner = Learner::new(&ctx, c, held, &tuning()).unwrap();
    let err = learner
        .round(&ctx, &input(train_windows, &holdout))
        .err()
        .expect("a supplied covariate no window carries is refused")
        .to_string();
    assert!(err.contains("covariate"), "{err}");
}
