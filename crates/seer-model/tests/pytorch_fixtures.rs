//! seer's forward passes against PyTorch: tests/fixtures/pytorch_oracle.py builds each model as
//! nn.LSTM / nn.RNN / nn.Conv1d / nn.Linear modules with seeded weights, runs them in float64 and
//! commits the checkpoint and the expected outputs. seer computes in f32, so a value may differ
//! by rel 1e-4 plus abs 2e-5 × the series' scale (outputs are scaled back by s = 1 + mean|z|).

use std::path::{Path, PathBuf};

use seer_core::time::parse_timestamp;
use seer_gpu::{GpuContext, Recorder};
use seer_model::checkpoint::Weights;
use seer_model::layers::{Cell, RecurrentStack, StackState, TcnStack};
use seer_model::{History, Model, PredictOptions, Prediction};
use serde_json::Value;

const REL: f64 = 1e-4;
const ABS: f64 = 2e-5;

/// The backend this test runs on: each test runs on the native CPU backend and on the WGSL
/// kernels (`seer_gpu::on_backends!`).
fn ctx() -> &'static GpuContext {
    seer_gpu::testing::context()
}

fn case_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/pytorch")
        .join(name)
}

fn case(name: &str) -> Value {
    let text = std::fs::read_to_string(case_dir(name).join("case.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn weights(name: &str) -> Weights {
    Weights::from_safetensors(&std::fs::read(case_dir(name).join("model.safetensors")).unwrap())
        .unwrap()
}

fn flat(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(a) => a.iter().flat_map(flat).collect(),
        Value::Number(n) => vec![n.as_f64().unwrap()],
        Value::Null => vec![f64::NAN],
        other => panic!("unexpected {other}"),
    }
}

fn close(what: &str, got: &[f64], want: &[f64], scale: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let allowed = REL * w.abs() + ABS * scale;
        assert!(
            (g - w).abs() <= allowed,
            "{what}[{i}]: seer {g}, pytorch {w} (allowed {allowed:.2e})"
        );
    }
}

fn layer_input(c: &Value) -> (Vec<f32>, usize, usize) {
    let x = &c["inputs"]["x"];
    let b = x.as_array().unwrap().len();
    let t = x[0].as_array().unwrap().len();
    (flat(x).iter().map(|&v| v as f32).collect(), b, t)
}

fn check_recurrent_layers(name: &str, cell: Cell, bidirectional: bool) {
    let c = case(name);
    let cfg: Value =
        serde_json::from_str(&std::fs::read_to_string(case_dir(name).join("config.json")).unwrap())
            .unwrap();
    let layers = cfg["num_layers"].as_u64().unwrap() as usize;
    let w = weights(name);
    let stack = RecurrentStack::load(ctx(), &w, "", cell, layers, bidirectional).unwrap();
    let (x, b, t) = layer_input(&c);
    let width = x.len() / (b * t);
    let x = ctx().upload(&x, &[b * t, width]).unwrap();
    let state = (!bidirectional).then(|| StackState::zeros(ctx(), &stack, b).unwrap());
    let mut rec = Recorder::new(ctx());
    let out = stack
        .forward(&mut rec, &x, b, t, None, state.as_ref())
        .unwrap();
    rec.submit().unwrap();
    let read = |t: &seer_gpu::Tensor| {
        ctx()
            .read(t)
            .unwrap()
            .iter()
            .map(|&v| v as f64)
            .collect::<Vec<_>>()
    };
    close(
        &format!("{name} output"),
        &read(&out),
        &flat(&c["expected"]["output"]),
        1.0,
    );
    if let Some(state) = state {
        let h: Vec<f64> = state.h.iter().flat_map(read).collect();
        close(
            &format!("{name} h_n"),
            &h,
            &flat(&c["expected"]["h_n"]),
            1.0,
        );
        if cell == Cell::Lstm {
            let cs: Vec<f64> = state.c.iter().flat_map(read).collect();
            close(
                &format!("{name} c_n"),
                &cs,
                &flat(&c["expected"]["c_n"]),
                1.0,
            );
        }
    }
}

seer_gpu::on_backends!(lstm_two_layers_matches_pytorch);
fn lstm_two_layers_matches_pytorch() {
    check_recurrent_layers("lstm_layers", Cell::Lstm, false);
}

seer_gpu::on_backends!(bilstm_matches_pytorch);
fn bilstm_matches_pytorch() {
    check_recurrent_layers("bilstm_layers", Cell::Lstm, true);
}

seer_gpu::on_backends!(elman_rnn_matches_pytorch);
fn elman_rnn_matches_pytorch() {
    check_recurrent_layers("rnn_layers", Cell::Elman, false);
}

seer_gpu::on_backends!(tcn_blocks_match_pytorch);
fn tcn_blocks_match_pytorch() {
    let name = "tcn_blocks";
    let c = case(name);
    let cfg: Value =
        serde_json::from_str(&std::fs::read_to_string(case_dir(name).join("config.json")).unwrap())
            .unwrap();
    let list = |k: &str| {
        cfg[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect::<Vec<_>>()
    };
    let stack = TcnStack::load(
        ctx(),
        &weights(name),
        "blocks.",
        cfg["input_channels"].as_u64().unwrap() as usize,
        &list("channels"),
        &list("dilations"),
        cfg["kernel_size"].as_u64().unwrap() as usize,
    )
    .unwrap();
    let x = &c["inputs"]["x"];
    let (b, ch, t) = (
        x.as_array().unwrap().len(),
        x[0].as_array().unwrap().len(),
        x[0][0].as_array().unwrap().len(),
    );
    let xs: Vec<f32> = flat(x).iter().map(|&v| v as f32).collect();
    let x = ctx().upload(&xs, &[b, ch, t]).unwrap();
    let mut rec = Recorder::new(ctx());
    let y = stack.forward(&mut rec, &x, b, t).unwrap();
    rec.submit().unwrap();
    let got: Vec<f64> = ctx().read(&y).unwrap().iter().map(|&v| v as f64).collect();
    close("tcn output", &got, &flat(&c["expected"]["output"]), 1.0);
}

fn histories(c: &Value) -> Vec<History> {
    c["inputs"]["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            History::new(
                s["id"].as_str().unwrap(),
                s["timestamps"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| parse_timestamp(t.as_str().unwrap()).unwrap())
                    .collect(),
                flat(&s["values"]),
            )
        })
        .collect()
}

fn model(name: &str) -> Model {
    Model::load(ctx(), &case_dir(name)).unwrap()
}

fn check_quantile_model(name: &str) {
    let c = case(name);
    let m = model(name);
    let horizon = c["inputs"]["horizon"].as_u64().unwrap() as usize;
    let opts = PredictOptions {
        horizon: Some(horizon),
        ..Default::default()
    };
    let preds = m.predict(ctx(), &histories(&c), &opts).unwrap();
    let expected = c["expected"]["forecasts"].as_array().unwrap();
    assert_eq!(preds.len(), expected.len());
    for (p, e) in preds.iter().zip(expected) {
        let Prediction::Forecast(f) = p else {
            panic!("{name}: not a forecast")
        };
        assert_eq!(f.id, e["id"].as_str().unwrap());
        let scale = e["scale"].as_f64().unwrap();
        let want = flat(&e["quantiles"]);
        let q = want.len() / horizon;
        let mut got = Vec::new();
        for step in 0..horizon {
            for level in 0..q {
                got.push(f.quantiles[level].1[step]);
            }
        }
        close(&format!("{name} {} quantiles", f.id), &got, &want, scale);
        close(
            &format!("{name} {} mean", f.id),
            &f.mean,
            &flat(&e["mean"]),
            scale,
        );
        let stamps: Vec<i64> = e["timestamps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| parse_timestamp(t.as_str().unwrap()).unwrap())
            .collect();
        assert_eq!(f.timestamps, stamps);
    }
}

seer_gpu::on_backends!(lstm_forecaster_matches_pytorch);
fn lstm_forecaster_matches_pytorch() {
    check_quantile_model("lstm_model");
}

seer_gpu::on_backends!(rnn_forecaster_matches_pytorch);
fn rnn_forecaster_matches_pytorch() {
    check_quantile_model("rnn_model");
}

seer_gpu::on_backends!(seq2seq_forecaster_matches_pytorch);
fn seq2seq_forecaster_matches_pytorch() {
    check_quantile_model("seq2seq_model");
}

seer_gpu::on_backends!(tcn_forecaster_matches_pytorch);
fn tcn_forecaster_matches_pytorch() {
    check_quantile_model("tcn_model");
}

fn check_deepar(name: &str, second: &str) {
    let c = case(name);
    let m = model(name);
    let params = m.context_params(ctx(), &histories(&c)).unwrap();
    let expected = c["expected"]["params"].as_array().unwrap();
    assert_eq!(params.len(), expected.len());
    for (p, e) in params.iter().zip(expected) {
        let scale = e["scale"].as_f64().unwrap();
        let mu: Vec<f64> = p.iter().map(|x| x[0]).collect();
        let second_param: Vec<f64> = p.iter().map(|x| x[1]).collect();
        close(&format!("{name} mu"), &mu, &flat(&e["mu"]), scale);
        close(
            &format!("{name} {second}"),
            &second_param,
            &flat(&e[second]),
            scale,
        );
        if e.get("nu").is_some() {
            let nu: Vec<f64> = p.iter().map(|x| x[2]).collect();
            close(&format!("{name} nu"), &nu, &flat(&e["nu"]), 1.0);
        }
    }
}

seer_gpu::on_backends!(deepar_gaussian_params_match_pytorch);
fn deepar_gaussian_params_match_pytorch() {
    check_deepar("deepar_gaussian", "sigma");
}

seer_gpu::on_backends!(deepar_student_t_params_match_pytorch);
fn deepar_student_t_params_match_pytorch() {
    check_deepar("deepar_student_t", "sigma");
}

seer_gpu::on_backends!(deepar_negative_binomial_params_match_pytorch);
fn deepar_negative_binomial_params_match_pytorch() {
    check_deepar("deepar_negative_binomial", "alpha");
}

seer_gpu::on_backends!(bilstm_gap_filler_matches_pytorch);
fn bilstm_gap_filler_matches_pytorch() {
    let c = case("bilstm_model");
    let preds = model("bilstm_model")
        .predict(ctx(), &histories(&c), &PredictOptions::default())
        .unwrap();
    let expected = c["expected"]["fills"].as_array().unwrap();
    for (p, e) in preds.iter().zip(expected) {
        let Prediction::GapFill(g) = p else {
            panic!("not a fill")
        };
        assert_eq!(g.id, e["id"].as_str().unwrap());
        close(
            "fills",
            &g.values,
            &flat(&e["values"]),
            e["scale"].as_f64().unwrap(),
        );
        assert!(g.filled.iter().any(|&f| f), "fixture has gaps to fill");
    }
}

seer_gpu::on_backends!(classifier_matches_pytorch);
fn classifier_matches_pytorch() {
    let c = case("classifier_model");
    let preds = model("classifier_model")
        .predict(ctx(), &histories(&c), &PredictOptions::default())
        .unwrap();
    let expected = c["expected"]["probabilities"].as_array().unwrap();
    for (p, e) in preds.iter().zip(expected) {
        let Prediction::Classification(cl) = p else {
            panic!("not a classification")
        };
        let got: Vec<f64> = cl.probabilities.iter().map(|x| x.1).collect();
        close("probabilities", &got, &flat(&e["p"]), 1.0);
    }
}

seer_gpu::on_backends!(chunked_recurrence_matches_one_pass);
fn chunked_recurrence_matches_one_pass() {
    // the same 2-layer LSTM and Elman stacks over 10 series, whole and in chunks of 3
    for (name, cell) in [("lstm_layers", Cell::Lstm), ("rnn_layers", Cell::Elman)] {
        let stack = RecurrentStack::load(ctx(), &weights(name), "", cell, 2, false).unwrap();
        let (b, t, width) = (10, 6, 3);
        let xs: Vec<f32> = (0..b * t * width)
            .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
            .collect();
        let x = ctx().upload(&xs, &[b * t, width]).unwrap();
        let run = |chunk: Option<usize>| {
            let state = StackState::zeros(ctx(), &stack, b).unwrap();
            let mut rec = Recorder::new(ctx());
            let out = stack
                .forward_chunked(&mut rec, &x, b, t, None, Some(&state), chunk)
                .unwrap();
            rec.submit().unwrap();
            let mut v = ctx().read(&out).unwrap();
            v.extend(ctx().read(&state.h[1]).unwrap());
            v
        };
        assert_eq!(run(None), run(Some(3)), "{name}");
    }
}
