//! The `seer` binary end to end: init → predict for every model type, and every kind of bad
//! input giving a clear message and exit code 2 rather than a panic.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn seer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_seer"))
        .args(args)
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .expect("run seer")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("seer-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

/// Hourly series: "a" 40 points with a NaN, "b" 12 points with a gap (shorter than the context).
fn hourly_csv() -> String {
    let mut s = String::from("unique_id,ds,y\n");
    for i in 0..40 {
        let v = if i == 30 {
            "NaN".to_string()
        } else {
            format!("{:.3}", 10.0 + (i as f64 / 4.0).sin())
        };
        s += &format!("a,2024-01-0{}T{:02}:00:00Z,{v}\n", 1 + i / 24, i % 24);
    }
    for i in (0..12).filter(|i| *i != 5) {
        s += &format!("b,2024-01-01T{:02}:00:00Z,{}\n", i, 3 + i % 3);
    }
    s
}

fn init(dir: &Path, kind: &str, extra: &[&str]) -> String {
    let out = dir.join(kind).to_string_lossy().into_owned();
    let mut args = vec![
        "model",
        "init",
        "--type",
        kind,
        "--context",
        "16",
        "--horizon",
        "4",
        "--hidden",
        "8",
        "--seed",
        "3",
        "--out",
        &out,
    ];
    args.extend_from_slice(extra);
    let o = seer(&args);
    assert!(o.status.success(), "init {kind}: {}", stderr(&o));
    out
}

#[test]
fn every_model_type_initialises_and_predicts() {
    let dir = tmp("all");
    let data = write(&dir, "d.csv", &hourly_csv());
    for kind in [
        "lstm",
        "rnn",
        "seq2seq",
        "tcn",
        "deepar",
        "bilstm",
        "classifier",
    ] {
        let ck = init(&dir, kind, &[]);
        let o = seer(&["predict", "--checkpoint", &ck, "--data", &data, "--json"]);
        assert!(o.status.success(), "{kind}: {}", stderr(&o));
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        let items = v.as_array().unwrap();
        assert_eq!(items.len(), 2, "{kind}: one result per series");
        assert_eq!(items[0]["series_id"], "a");
        match kind {
            "bilstm" => {
                let filled = items[0]["filled"].as_array().unwrap();
                assert_eq!(
                    filled.iter().filter(|f| f.as_bool().unwrap()).count(),
                    1,
                    "the NaN is filled"
                );
                assert!(
                    items[1]["filled"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|f| f.as_bool().unwrap()),
                    "the gap is filled"
                );
            }
            "classifier" => {
                let p = items[0]["probabilities"].as_object().unwrap();
                let total: f64 = p.values().map(|x| x.as_f64().unwrap()).sum();
                assert!((total - 1.0).abs() < 1e-5);
            }
            _ => {
                assert_eq!(items[0]["timestamps"][0], "2024-01-02T16:00:00Z");
                assert_eq!(items[0]["mean"].as_array().unwrap().len(), 4);
                let q = items[0]["quantiles"].as_object().unwrap();
                let (lo, hi) = (q["0.1"].as_array().unwrap(), q["0.9"].as_array().unwrap());
                for (l, h) in lo.iter().zip(hi) {
                    assert!(
                        l.as_f64().unwrap() <= h.as_f64().unwrap(),
                        "{kind}: quantiles ordered"
                    );
                }
            }
        }
    }
}

#[test]
fn deepar_sample_paths_are_reproducible_by_seed() {
    let dir = tmp("seed");
    let data = write(&dir, "d.csv", &hourly_csv());
    let ck = init(&dir, "deepar", &["--distribution", "student_t"]);
    let run = |seed: &str| {
        let o = seer(&[
            "predict",
            "--checkpoint",
            &ck,
            "--data",
            &data,
            "--samples",
            "7",
            "--seed",
            seed,
            "--json",
            "--quantiles",
            "0.05,0.5,0.95",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        serde_json::from_str::<serde_json::Value>(&stdout(&o)).unwrap()
    };
    let (a, b, c) = (run("5"), run("5"), run("6"));
    assert_eq!(a, b);
    assert_ne!(a[0]["samples"], c[0]["samples"]);
    assert_eq!(a[0]["samples"].as_array().unwrap().len(), 7);
    assert!(a[0]["quantiles"].get("0.05").is_some());
}

fn expect_bad(o: &Output, needle: &str) {
    assert_eq!(o.status.code(), Some(2), "exit code; stderr: {}", stderr(o));
    assert!(
        stderr(o).contains(needle),
        "stderr should mention {needle:?}: {}",
        stderr(o)
    );
    assert!(!stderr(o).contains("panicked"), "{}", stderr(o));
}

fn predict_bad(checkpoint: &str, data: &str, extra: &[&str], needle: &str) {
    let mut args = vec!["predict", "--checkpoint", checkpoint, "--data", data];
    args.extend_from_slice(extra);
    expect_bad(&seer(&args), needle);
}

#[test]
fn malformed_csv_names_the_line() {
    let dir = tmp("malformed");
    let ck = init(&dir, "lstm", &[]);
    let data = write(
        &dir,
        "bad.csv",
        "series_id,timestamp,value\na,2024-01-01T00:00:00Z,1\na,2024-01-01T01:00:00Z,abc\n",
    );
    predict_bad(&ck, &data, &[], "line 3");
    let data = write(&dir, "nohdr.csv", "id,when,what\n");
    predict_bad(&ck, &data, &[], "series_id");
    let data = write(&dir, "ts.csv", "series_id,timestamp,value\na,yesterday,1\n");
    predict_bad(&ck, &data, &[], "yesterday");
}

#[test]
fn series_without_observations_or_off_grid_are_named() {
    let dir = tmp("series");
    let ck = init(&dir, "lstm", &[]);
    let data = write(
        &dir,
        "nan.csv",
        "series_id,timestamp,value\nok,2024-01-01T00:00:00Z,1\nempty,2024-01-01T00:00:00Z,NaN\nempty,2024-01-01T01:00:00Z,inf\n",
    );
    predict_bad(&ck, &data, &[], "\"empty\"");
    let data = write(
        &dir,
        "grid.csv",
        "series_id,timestamp,value\nodd,2024-01-01T00:00:00Z,1\nodd,2024-01-01T00:30:00Z,2\n",
    );
    predict_bad(&ck, &data, &[], "odd");
}

#[test]
fn checkpoint_shape_mismatch_names_the_tensor() {
    let dir = tmp("shape");
    let ck = init(&dir, "lstm", &[]);
    let cfg = std::fs::read_to_string(Path::new(&ck).join("config.json")).unwrap();
    let cfg = cfg.replace("\"hidden_size\": 8", "\"hidden_size\": 9");
    std::fs::write(Path::new(&ck).join("config.json"), cfg).unwrap();
    let data = write(&dir, "d.csv", &hourly_csv());
    predict_bad(&ck, &data, &[], "rnn.weight_ih_l0");
}

#[test]
fn unknown_model_types_and_bad_requests_exit_2() {
    let dir = tmp("unknown");
    expect_bad(
        &seer(&[
            "model",
            "init",
            "--type",
            "transformer",
            "--out",
            dir.join("x").to_str().unwrap(),
        ]),
        "unknown model type",
    );
    let ck = init(&dir, "tcn", &[]);
    let cfg = std::fs::read_to_string(Path::new(&ck).join("config.json")).unwrap();
    let bad = dir.join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(
        bad.join("config.json"),
        cfg.replace("\"tcn\"", "\"transformer\""),
    )
    .unwrap();
    let data = write(&dir, "d.csv", &hourly_csv());
    expect_bad(
        &seer(&[
            "predict",
            "--checkpoint",
            bad.to_str().unwrap(),
            "--data",
            &data,
        ]),
        "transformer",
    );
    expect_bad(
        &seer(&[
            "predict",
            "--checkpoint",
            &ck,
            "--data",
            &data,
            "--horizon",
            "9",
        ]),
        "horizon 9",
    );
    expect_bad(
        &seer(&[
            "predict",
            "--checkpoint",
            &ck,
            "--data",
            &data,
            "--quantiles",
            "0.5,1.5",
        ]),
        "1.5",
    );
    expect_bad(
        &seer(&[
            "predict",
            "--checkpoint",
            &ck,
            "--data",
            &data,
            "--quantiles",
            "0.01",
        ]),
        "outside the levels",
    );
    expect_bad(
        &seer(&[
            "predict",
            "--checkpoint",
            &ck,
            "--data",
            &data,
            "--samples",
            "5",
        ]),
        "sample paths",
    );
    expect_bad(
        &seer(&[
            "predict",
            "--checkpoint",
            dir.join("missing").to_str().unwrap(),
            "--data",
            &data,
        ]),
        "config.json",
    );
}

#[test]
fn negative_values_are_refused_by_the_negative_binomial() {
    let dir = tmp("negbin");
    let ck = init(&dir, "deepar", &["--distribution", "negative_binomial"]);
    let data = write(
        &dir,
        "d.csv",
        "series_id,timestamp,value\nneg,2024-01-01T00:00:00Z,3\nneg,2024-01-01T01:00:00Z,-1\n",
    );
    predict_bad(&ck, &data, &[], "negative");
}

#[test]
fn info_names_the_adapter_or_says_what_to_install() {
    let o = seer(&["info", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(v["adapter"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(
        v["limits"]["max_storage_buffer_binding_size"]
            .as_u64()
            .unwrap()
            > 0
    );
    // forcing hardware where there is none must fail with the packages to install
    let o = Command::new(env!("CARGO_BIN_EXE_seer"))
        .args(["info"])
        .env("SEER_ADAPTER", "gpu")
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .unwrap();
    if !o.status.success() {
        assert!(stderr(&o).contains("mesa-vulkan-drivers"), "{}", stderr(&o));
    }
    let o = Command::new(env!("CARGO_BIN_EXE_seer"))
        .args(["info"])
        .env("SEER_ADAPTER", "quantum")
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("SEER_ADAPTER"), "{}", stderr(&o));
}

/// Hourly series with a `label` column: three each of flat, trending and seasonal, 48 points;
/// `nan` puts a NaN near the end of the first one (inside a 16-point context).
fn labelled_csv(nan: bool) -> String {
    let mut s = String::from("series_id,timestamp,value,label\n");
    for (k, class) in ["flat", "trend", "seasonal"].iter().enumerate() {
        for j in 0..3 {
            for i in 0..48 {
                let t = i as f64;
                let wiggle = 0.1 * (((i * 7 + j * 3) % 5) as f64 - 2.0);
                let v = match k {
                    0 => 10.0 + j as f64 + wiggle,
                    1 => 2.0 + (0.5 + 0.2 * j as f64) * t + wiggle,
                    _ => 10.0 + 4.0 * (t * std::f64::consts::TAU / 12.0 + j as f64).sin() + wiggle,
                };
                let v = if nan && k == 0 && j == 0 && i == 40 {
                    "NaN".to_string()
                } else {
                    format!("{v:.3}")
                };
                s += &format!(
                    "{class}{j},2024-01-0{}T{:02}:00:00Z,{v},{class}\n",
                    1 + i / 24,
                    i % 24
                );
            }
        }
    }
    s
}

fn train_tiny(dir: &Path, data: &str, model: &str) -> String {
    let out = dir.join(model).to_string_lossy().into_owned();
    let o = seer(&[
        "train",
        "--data",
        data,
        "--model",
        model,
        "--out",
        &out,
        "--hidden",
        "8",
        "--layers",
        "1",
        "--context",
        "16",
        "--epochs",
        "3",
        "--steps-per-epoch",
        "5",
        "--batch-size",
        "8",
        "--lr",
        "0.01",
    ]);
    assert!(o.status.success(), "train {model}: {}", stderr(&o));
    assert!(stdout(&o).contains("best epoch"), "{}", stdout(&o));
    out
}

#[test]
fn classifier_and_gap_filler_train_then_predict() {
    let dir = tmp("train-direct");
    let data = write(&dir, "labelled.csv", &labelled_csv(true));

    let ck = train_tiny(&dir, &data, "classifier");
    let o = seer(&["predict", "--checkpoint", &ck, "--data", &data, "--json"]);
    assert!(o.status.success(), "classifier predict: {}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let items = v.as_array().unwrap();
    assert_eq!(items.len(), 9);
    for item in items {
        let p = item["probabilities"].as_object().unwrap();
        assert_eq!(p.len(), 3, "flat, trend, seasonal");
        let total: f64 = p.values().map(|x| x.as_f64().unwrap()).sum();
        assert!((total - 1.0).abs() < 1e-5, "probabilities sum to {total}");
    }

    let ck = train_tiny(&dir, &data, "bilstm");
    let o = seer(&["predict", "--checkpoint", &ck, "--data", &data, "--json"]);
    assert!(o.status.success(), "bilstm predict: {}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let first = &v.as_array().unwrap()[0];
    assert_eq!(first["series_id"], "flat0");
    let filled: Vec<bool> = first["filled"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_bool().unwrap())
        .collect();
    assert_eq!(
        filled.iter().filter(|f| **f).count(),
        1,
        "the NaN is filled"
    );
    let k = filled.iter().position(|f| *f).unwrap();
    assert!(first["values"][k].as_f64().unwrap().is_finite());

    // a label outside the classes is named with the classes
    let bad = labelled_csv(false).replace(",flat\n", ",level\n");
    let bad = write(&dir, "bad.csv", &bad);
    let o = seer(&[
        "train",
        "--data",
        &bad,
        "--model",
        "classifier",
        "--out",
        &ck,
        "--epochs",
        "1",
    ]);
    expect_bad(&o, "\"level\"");
    assert!(
        stderr(&o).contains("flat, trend, seasonal"),
        "{}",
        stderr(&o)
    );
}

fn train_quick(dir: &Path, data: &str, model: &str) -> String {
    let out = dir.join(model).to_string_lossy().into_owned();
    let o = seer(&[
        "train",
        "--data",
        data,
        "--model",
        model,
        "--out",
        &out,
        "--epochs",
        "2",
        "--steps-per-epoch",
        "3",
        "--hidden",
        "8",
        "--layers",
        "1",
        "--context",
        "16",
        "--batch-size",
        "8",
    ]);
    assert!(o.status.success(), "train {model}: {}", stderr(&o));
    out
}

fn finite(v: &serde_json::Value, what: &str) -> f64 {
    let x = v
        .as_f64()
        .unwrap_or_else(|| panic!("{what} is not a number: {v}"));
    assert!(x.is_finite(), "{what} = {x}");
    x
}

#[test]
fn gap_filler_and_classifier_evaluate() {
    let dir = tmp("eval-other");
    // unlabelled series are skipped by the classifier's evaluation, not refused
    let csv = labelled_csv(true)
        + &hourly_csv()
            .replace("unique_id,ds,y\n", "")
            .replace('\n', ",\n");
    let data = write(&dir, "labelled.csv", &csv);

    let ck = train_quick(&dir, &data, "bilstm");
    let eval = |ck: &str, extra: &[&str]| {
        let mut args = vec![
            "eval",
            "--checkpoint",
            ck,
            "--data",
            &data,
            "--windows",
            "2",
            "--json",
        ];
        args.extend_from_slice(extra);
        let o = seer(&args);
        assert!(o.status.success(), "eval {ck}: {}", stderr(&o));
        (
            serde_json::from_str::<serde_json::Value>(&stdout(&o)).unwrap(),
            stderr(&o),
        )
    };
    let (v, err) = eval(&ck, &["--seed", "4", "--plot", "/nonexistent/x.png"]);
    assert!(err.contains("nothing is plotted"), "{err}");
    assert_eq!(v["task"], "gap_filling");
    assert_eq!(v["context_length"], 16);
    // 9 labelled series × 2 windows of 16 + "a" (40 points) × 2; "b" (12 points) is too short
    assert_eq!(v["series_windows"], 20);
    assert_eq!(v["series_skipped"], 1);
    let results = v["results"].as_array().unwrap();
    assert_eq!(results[0]["model"], "bilstm");
    assert_eq!(results[1]["model"], "linear_interpolation");
    let hidden = v["hidden_points"].as_u64().unwrap();
    assert!(
        hidden >= 20,
        "at least one hidden point per window: {hidden}"
    );
    for r in results {
        assert_eq!(r["hidden_points"].as_u64(), Some(hidden));
        for k in ["mae", "rmse", "nd"] {
            assert!(finite(&r[k], k) >= 0.0);
        }
        assert!(r["rmse"].as_f64() >= r["mae"].as_f64());
    }
    // the hidden points depend on the seed, deterministically
    assert_eq!(eval(&ck, &["--seed", "4"]).0, v);
    assert_ne!(eval(&ck, &["--seed", "5"]).0["results"], v["results"]);

    let ck = train_quick(&dir, &data, "classifier");
    let (v, _) = eval(&ck, &[]);
    assert_eq!(v["task"], "classification");
    assert_eq!(v["series_windows"], 18, "9 labelled series × 2 windows");
    assert_eq!(v["series_unlabelled"], 2);
    assert!(v["baseline"].as_str().unwrap().contains("majority"));
    let results = v["results"].as_array().unwrap();
    assert_eq!(results[0]["model"], "classifier");
    assert_eq!(results[1]["model"], "majority_class");
    assert_eq!(results[1]["class"], "flat", "a tie goes to the first class");
    for r in results {
        let acc = finite(&r["accuracy"], "accuracy");
        assert!((0.0..=1.0).contains(&acc));
        assert!(finite(&r["log_loss"], "log_loss") >= 0.0);
        let recall = r["recall"].as_object().unwrap();
        assert_eq!(recall.len(), 3);
        for x in recall.values() {
            assert!((0.0..=1.0).contains(&finite(x, "recall")));
        }
    }
    assert!((results[1]["accuracy"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-12);
    assert!((results[1]["log_loss"].as_f64().unwrap() - 3f64.ln()).abs() < 1e-12);
    let confusion: usize = v["confusion"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| row.as_array().unwrap())
        .map(|x| x.as_u64().unwrap() as usize)
        .sum();
    assert_eq!(confusion, 18);
    // text output
    let o = seer(&["eval", "--checkpoint", &ck, "--data", &data]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("majority_class"), "{}", stdout(&o));

    // a label outside the model's classes names the series
    let bad = write(
        &dir,
        "bad.csv",
        &labelled_csv(false).replace(",flat\n", ",level\n"),
    );
    let o = seer(&["eval", "--checkpoint", &ck, "--data", &bad]);
    expect_bad(&o, "\"flat0\"");
    assert!(stderr(&o).contains("\"level\""), "{}", stderr(&o));
}

#[test]
fn eval_of_a_forecaster_needs_a_horizon() {
    let dir = tmp("eval-horizon");
    let ck = init(&dir, "lstm", &[]);
    let data = write(&dir, "d.csv", &hourly_csv());
    expect_bad(
        &seer(&["eval", "--checkpoint", &ck, "--data", &data]),
        "--horizon is required",
    );
    let o = seer(&[
        "eval",
        "--checkpoint",
        &ck,
        "--data",
        &data,
        "--horizon",
        "4",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["horizon"], 4);
}

fn checkpoint_config(dir: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(Path::new(dir).join("config.json")).unwrap())
        .unwrap()
}

#[test]
fn eval_names_each_series_winner_and_select_writes_them_into_the_checkpoint() {
    let dir = tmp("eval-select");
    let ck = init(&dir, "lstm", &[]);
    let data = write(&dir, "d.csv", &hourly_csv());
    let args = [
        "eval",
        "--checkpoint",
        &ck,
        "--data",
        &data,
        "--horizon",
        "4",
        "--windows",
        "2",
    ];
    let o = seer(&[args.as_slice(), &["--json"]].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let series = v["series"].as_array().unwrap();
    let ids: Vec<&str> = series
        .iter()
        .map(|s| s["series_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a", "b"]);
    let mut naive = Vec::new();
    for s in series {
        let model = finite(&s["mean_quantile_loss"], "model wQL");
        let baseline = finite(&s["seasonal_naive_mean_quantile_loss"], "naive wQL");
        let winner = if baseline < model {
            "seasonal_naive"
        } else {
            "lstm"
        };
        assert_eq!(s["winner"], winner, "{s}");
        if baseline < model {
            naive.push(s["series_id"].as_str().unwrap().to_string());
        }
    }

    let o = seer(&[args.as_slice(), &["--select"]].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("per series"), "{}", stdout(&o));
    let config = checkpoint_config(&ck);
    let written: Vec<String> = config["seasonal_naive_series"]
        .as_array()
        .map(|a| a.iter().map(|x| x.as_str().unwrap().to_string()).collect())
        .unwrap_or_default();
    assert_eq!(written, naive);
    // once it leaves series to the naive, eval also scores what the engine will serve
    let o = seer(&[args.as_slice(), &["--json"]].concat());
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let rows: Vec<&str> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["model"].as_str().unwrap())
        .collect();
    if naive.is_empty() {
        assert_eq!(rows, ["lstm", "seasonal_naive"]);
    } else {
        assert_eq!(rows, ["lstm", "seasonal_naive", "served"]);
    }
    if naive.len() == ids.len() {
        // every series left to the naive: served is the naive
        assert_eq!(v["results"][2]["mase"], v["results"][1]["mase"]);
    }
    // the checkpoint still loads and forecasts every series itself in `seer predict`
    let o = seer(&["predict", "--checkpoint", &ck, "--data", &data, "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));

    let ck = init(&dir, "bilstm", &[]);
    expect_bad(
        &seer(&["eval", "--checkpoint", &ck, "--data", &data, "--select"]),
        "--select chooses between a forecaster",
    );
}

#[test]
fn train_prints_its_frequency_defaults_and_the_held_out_winners() {
    let dir = tmp("train-defaults");
    let data = write(&dir, "d.csv", &hourly_csv());
    let out = dir.join("deepar").to_string_lossy().into_owned();
    let o = seer(&[
        "train",
        "--data",
        &data,
        "--model",
        "deepar",
        "--out",
        &out,
        "--epochs",
        "1",
        "--hidden",
        "4",
        "--layers",
        "2",
        "--context",
        "8",
        "--horizon",
        "4",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("frequency 1h (day = 24 steps, week = 168 steps): context 8, horizon 4, lags 1,2,3,4,5,6,7,23,24,25,47,48,49,167,168,169 (default)"),
        "{err}"
    );
    assert!(
        err.contains("schedule: 1 epochs × 20 steps × 32 windows (steps from the data's"),
        "{err}"
    );
    // the shortest series (11 points) has room for one held-out horizon
    assert!(
        err.contains("; the last 1 × 4 steps of each series held out"),
        "{err}"
    );
    assert!(
        err.contains("held-out last 1 × 4 steps: per series"),
        "{err}"
    );
    assert_eq!(checkpoint_config(&out)["distribution"], "student_t");

    assert!(
        err.contains("forecast wQL"),
        "epochs are scored by their forecasts: {err}"
    );
    expect_bad(
        &seer(&[
            "train",
            "--data",
            &data,
            "--model",
            "deepar",
            "--out",
            &out,
            "--epoch-score",
            "mase",
        ]),
        "--epoch-score: expected forecast or loss",
    );
    // a config that repeats a lag is refused with the lag named
    let toml = write(
        &dir,
        "m.toml",
        "freq = 3600\ncontext_length = 8\nhorizon = 4\nhidden_size = 4\nnum_layers = 1\nlags = [1, 24, 24]\ncardinality = 2\n",
    );
    expect_bad(
        &seer(&[
            "train", "--data", &data, "--model", "deepar", "--out", &out, "--config", &toml,
        ]),
        "lag 24 is listed twice",
    );
}

#[test]
fn monthly_and_quarterly_data_train_and_forecast_on_the_calendar() {
    let dir = tmp("calendar");
    let data_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/data");
    let monthly = format!("{data_dir}/elnino_monthly.csv");
    let out = dir.join("monthly").to_string_lossy().into_owned();
    let o = seer(&[
        "train", "--data", &monthly, "--model", "deepar", "--out", &out, "--epochs", "1",
        "--hidden", "4", "--layers", "1",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("frequency 1mo (year = 12 steps): context 24 (default), horizon 18 (default)"),
        "{err}"
    );
    assert!(err.contains("seasonal naive season 12"), "{err}");
    let config = checkpoint_config(&out);
    assert_eq!(config["freq"], "1mo");
    assert_eq!(
        config["time_features"],
        serde_json::json!(["month_of_year"])
    );
    let o = seer(&[
        "predict",
        "--checkpoint",
        &out,
        "--data",
        &monthly,
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let steps = v[0]["timestamps"].as_array().unwrap();
    assert_eq!(steps.len(), 18);
    // the series ends 2010-12-01: forecasts fall on month starts, not every 30 days
    assert_eq!(steps[0], "2011-01-01T00:00:00Z");
    assert_eq!(steps[1], "2011-02-01T00:00:00Z");
    assert_eq!(steps[2], "2011-03-01T00:00:00Z");
    assert_eq!(steps[17], "2012-06-01T00:00:00Z");

    // quarter ends stay quarter ends; the seasonal naive is scored on its season of 4
    let quarterly = format!("{data_dir}/us_macro_quarterly.csv");
    let out = dir.join("quarterly").to_string_lossy().into_owned();
    let o = seer(&[
        "train", "--data", &quarterly, "--model", "lstm", "--out", &out, "--epochs", "1",
        "--hidden", "4", "--layers", "1",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(checkpoint_config(&out)["freq"], "1q");
    let o = seer(&[
        "predict",
        "--checkpoint",
        &out,
        "--data",
        &quarterly,
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let steps = v[0]["timestamps"].as_array().unwrap();
    // 2009-09-30 is the last quarter
    assert_eq!(steps[0], "2009-12-31T00:00:00Z");
    assert_eq!(steps[1], "2010-03-31T00:00:00Z");
    assert_eq!(steps[2], "2010-06-30T00:00:00Z");
    let o = seer(&[
        "eval",
        "--checkpoint",
        &out,
        "--data",
        &quarterly,
        "--horizon",
        "4",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["season"], 4, "{v}");

    // a monthly model refuses data finer than its calendar grid, naming the series
    let hourly = write(&dir, "h.csv", &hourly_csv());
    let ck = dir.join("monthly").to_string_lossy().into_owned();
    expect_bad(
        &seer(&["predict", "--checkpoint", &ck, "--data", &hourly]),
        "series \"a\": timestamps 2024-01-01T00:00:00Z and 2024-01-01T01:00:00Z fall in the same 1mo period",
    );
    // and --freq takes the calendar spellings
    let o = seer(&[
        "model",
        "init",
        "--type",
        "lstm",
        "--freq",
        "1y",
        "--out",
        &dir.join("yearly").to_string_lossy(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("frequency 1y: context 12"),
        "{}",
        stderr(&o)
    );
}

/// Hourly series whose value follows a temperature column, `n` points from 2024-01-01.
fn temperature_csv(ids: &[&str], from: usize, n: usize, with_values: bool) -> String {
    let mut s = String::from("series_id,timestamp,value,temp,note\n");
    for id in ids {
        for i in from..from + n {
            let temp = 15.0 + 10.0 * ((i * 7 % 11) as f64 / 10.0);
            let value = if with_values {
                format!("{:.3}", 100.0 + 2.0 * temp)
            } else {
                String::new()
            };
            s += &format!(
                "{id},2024-01-{:02}T{:02}:00:00Z,{value},{temp:.2},1\n",
                1 + i / 24,
                i % 24
            );
        }
    }
    s
}

#[test]
fn covariates_train_predict_and_eval_from_csv_columns() {
    let dir = tmp("covariates");
    let data = write(&dir, "d.csv", &temperature_csv(&["a", "b"], 0, 120, true));
    let out = dir.join("m").to_string_lossy().into_owned();
    let o = seer(&[
        "train",
        "--data",
        &data,
        "--model",
        "lstm",
        "--out",
        &out,
        "--epochs",
        "1",
        "--hidden",
        "4",
        "--layers",
        "1",
        "--context",
        "12",
        "--horizon",
        "4",
        "--covariates",
        "temp",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("covariates temp (known-future)"),
        "{}",
        stderr(&o)
    );
    let config = checkpoint_config(&out);
    let cov = &config["covariates"][0];
    assert_eq!(
        (cov["name"].as_str(), cov["kind"].as_str()),
        (Some("temp"), Some("known_future"))
    );
    // standardised by the training data: temperatures 15 … 25
    let mean = cov["mean"].as_f64().unwrap();
    assert!(mean > 15.0 && mean < 25.0, "{cov}");
    assert_eq!(
        config["input_size"],
        1 + 2 + 1,
        "value, 2 time features, temp"
    );

    // a forecast needs the temperatures of the steps it forecasts
    expect_bad(
        &seer(&["predict", "--checkpoint", &out, "--data", &data]),
        "known-future covariates (temp): pass their values over the horizon with --future FILE",
    );
    let future = write(&dir, "f.csv", &temperature_csv(&["a", "b"], 120, 4, false));
    let o = seer(&[
        "predict",
        "--checkpoint",
        &out,
        "--data",
        &data,
        "--future",
        &future,
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v[0]["timestamps"][0], "2024-01-06T00:00:00Z");
    assert_eq!(v[1]["mean"].as_array().unwrap().len(), 4);
    // too few future rows, and rows that are not after the history, are refused
    let short = write(&dir, "s.csv", &temperature_csv(&["a", "b"], 120, 2, false));
    expect_bad(
        &seer(&[
            "predict",
            "--checkpoint",
            &out,
            "--data",
            &data,
            "--future",
            &short,
        ]),
        "known-future covariate \"temp\" has 2 values past the history's 120",
    );
    let overlap = write(&dir, "o.csv", &temperature_csv(&["a"], 119, 5, false));
    expect_bad(
        &seer(&[
            "predict",
            "--checkpoint",
            &out,
            "--data",
            &data,
            "--future",
            &overlap,
        ]),
        "not after its history's last point",
    );
    // data without the column names it
    let bare = write(&dir, "bare.csv", &hourly_csv());
    expect_bad(
        &seer(&[
            "predict",
            "--checkpoint",
            &out,
            "--data",
            &bare,
            "--future",
            &future,
        ]),
        "no column \"temp\", which the model reads as a known-future covariate",
    );
    // eval reads the actual temperatures of each window (an ex-post forecast)
    let o = seer(&[
        "eval",
        "--checkpoint",
        &out,
        "--data",
        &data,
        "--horizon",
        "4",
        "--windows",
        "2",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    // a past-observed covariate needs no future file
    let past = dir.join("p").to_string_lossy().into_owned();
    let o = seer(&[
        "train",
        "--data",
        &data,
        "--model",
        "tcn",
        "--out",
        &past,
        "--epochs",
        "1",
        "--context",
        "12",
        "--horizon",
        "4",
        "--past-covariates",
        "temp",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = seer(&["predict", "--checkpoint", &past, "--data", &data]);
    assert!(o.status.success(), "{}", stderr(&o));
    expect_bad(
        &seer(&[
            "train",
            "--data",
            &data,
            "--model",
            "lstm",
            "--out",
            &past,
            "--covariates",
            "wind",
        ]),
        "no column \"wind\"",
    );
}

#[test]
fn a_holiday_file_becomes_an_input_that_forecasts_need_not_supply() {
    let dir = tmp("holidays");
    let data = write(&dir, "d.csv", &temperature_csv(&["a", "b"], 0, 120, true));
    let list = write(
        &dir,
        "h.csv",
        "# date,name\n2024-01-03, a holiday\n\n2024-01-06,the first forecast day\n",
    );
    let out = dir.join("m").to_string_lossy().into_owned();
    let train = |holidays: &str| {
        seer(&[
            "train",
            "--data",
            &data,
            "--model",
            "lstm",
            "--out",
            &out,
            "--epochs",
            "1",
            "--hidden",
            "4",
            "--layers",
            "1",
            "--context",
            "12",
            "--horizon",
            "4",
            "--holidays",
            holidays,
        ])
    };
    let o = train(&list);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("covariates holiday (holidays)"),
        "{}",
        stderr(&o)
    );
    let config = checkpoint_config(&out);
    let cov = &config["covariates"][0];
    assert_eq!(cov["name"], "holiday");
    assert_eq!(cov["kind"], "known_future");
    assert_eq!(
        cov["dates"],
        serde_json::json!(["2024-01-03", "2024-01-06"])
    );
    // one training day in five is listed
    assert!((cov["mean"].as_f64().unwrap() - 0.2).abs() < 1e-9, "{cov}");
    // the model computes the holiday input of the forecast steps itself
    let o = seer(&["predict", "--checkpoint", &out, "--data", &data, "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v[0]["timestamps"][0], "2024-01-06T00:00:00Z");
    let o = seer(&[
        "eval",
        "--checkpoint",
        &out,
        "--data",
        &data,
        "--horizon",
        "4",
        "--windows",
        "2",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let bad = write(
        &dir,
        "bad.csv",
        "2024-01-03\n2024-01-06\n2024-13-01,no such month\n",
    );
    expect_bad(
        &train(&bad),
        "bad.csv:3: \"2024-13-01\" is not a date (YYYY-MM-DD)",
    );
    let empty = write(&dir, "empty.csv", "# nothing listed\n");
    expect_bad(&train(&empty), "empty.csv: no dates");
}

#[test]
fn seer_up_runs_the_pipeline_on_the_embedded_broker() {
    let o = Command::new(env!("CARGO_BIN_EXE_seer"))
        .args([
            "up",
            "--no-train",
            "--duration",
            "8",
            "--series",
            "20",
            "--rate",
            "400",
            "--metrics-listen",
            "127.0.0.1:0",
        ])
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .unwrap();
    let out = stdout(&o);
    assert!(o.status.success(), "{}\n{}", out, stderr(&o));
    let total: u64 = out
        .lines()
        .find_map(|l| {
            l.strip_prefix("seer up: stopped after ")
                .and_then(|r| r.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or_else(|| panic!("no summary line in {out}"));
    assert!(total > 0, "forecasts flowed: {out}");
    assert!(
        out.contains("seasonal_naive"),
        "the baseline serves without a trained model: {out}"
    );
    assert!(
        stderr(&o).contains("kafka at 127.0.0.1:"),
        "the embedded broker's address is printed"
    );
}

fn seer_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_seer"));
    c.args(args).env("XDG_RUNTIME_DIR", std::env::temp_dir());
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run seer")
}

#[test]
fn config_print_layers_file_env_and_flags_with_their_sources() {
    let dir = tmp("config");
    let file = write(
        &dir,
        "seer.toml",
        "[kafka]\nbrokers = \"file:9092\"\nsasl_password = \"hunter2\"\n\n[ingest]\nmax_batch = 10\nwindow = 100\n\n[kafka.properties]\n\"socket.keepalive.enable\" = true\n",
    );
    let o = seer_env(
        &[
            "config",
            "print",
            "ingest",
            "--config",
            &file,
            "--set",
            "ingest.window=200",
        ],
        &[
            ("SEER_INGEST__MAX_BATCH", "20"),
            ("SEER_INGEST__WINDOW", "150"),
            ("SEER_TOPICS__OBSERVATIONS", "obs.env"),
        ],
    );
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    // env beats file, flags beat env, file beats default; each line says which
    assert!(
        out.contains("max_batch = 20  # env SEER_INGEST__MAX_BATCH"),
        "{out}"
    );
    assert!(
        out.contains("window = 200  # flag --set ingest.window"),
        "{out}"
    );
    assert!(
        out.contains(&format!("brokers = \"file:9092\"  # {file}:2")),
        "{out}"
    );
    assert!(
        out.contains("observations = \"obs.env\"  # env SEER_TOPICS__OBSERVATIONS"),
        "{out}"
    );
    assert!(out.contains("max_delay_ms = 10  # default"), "{out}");
    assert!(
        out.contains("\"socket.keepalive.enable\" = \"true\""),
        "{out}"
    );
    // secrets never printed; only the ingest's sections
    assert!(
        !out.contains("hunter2") && out.contains("<redacted>"),
        "{out}"
    );
    assert!(
        !out.contains("[gateway]") && !out.contains("[engine]"),
        "{out}"
    );

    for service in ["engine", "gateway", "all"] {
        let o = seer_env(&["config", "print", service], &[]);
        assert!(o.status.success(), "{service}: {}", stderr(&o));
        assert!(stdout(&o).contains(&format!(
            "[{}]",
            if service == "all" { "ingest" } else { service }
        )));
    }
}

#[test]
fn bad_configuration_names_the_key_and_where_it_was_set() {
    let dir = tmp("badconfig");
    // (arguments, environment, what the error must say)
    type Case = (Vec<String>, Vec<(&'static str, &'static str)>, String);
    let cases: Vec<Case> = vec![
        (
            vec!["config".into(), "print".into()],
            vec![("SEER_INGEST__MAX_BACH", "3")],
            "env SEER_INGEST__MAX_BACH: unknown configuration key ingest.max_bach".into(),
        ),
        (
            vec![
                "config".into(),
                "print".into(),
                "--config".into(),
                write(&dir, "typo.toml", "[engine]\n\nmax_concurent = 3\n"),
            ],
            vec![],
            "typo.toml:3: unknown configuration key engine.max_concurent".into(),
        ),
        (
            vec![
                "ingest".into(),
                "--config".into(),
                write(&dir, "type.toml", "[ingest]\nwindow = \"big\"\n"),
            ],
            vec![],
            "type.toml:2: ingest.window: expected an integer, got \"big\"".into(),
        ),
        (
            vec!["ingest".into(), "--max-batch".into(), "0".into()],
            vec![],
            "ingest.max_batch = 0 (flag --max-batch): must be at least 1".into(),
        ),
        (
            vec!["gateway".into()],
            vec![("SEER_KAFKA__SECURITY_PROTOCOL", "sasl_ssl")],
            "kafka.sasl_mechanism".into(),
        ),
        (
            vec![
                "engine".into(),
                "--set".into(),
                "engine.max_concurrent=-1".into(),
            ],
            vec![],
            "engine.max_concurrent".into(),
        ),
    ];
    for (args, env, want) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = seer_env(&args, &env);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(&want), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    }
}
