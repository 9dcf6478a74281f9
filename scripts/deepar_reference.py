#!/usr/bin/env python3
"""GluonTS (PyTorch) DeepAR as a reference for seer's DeepAR, scored with seer's own metrics.

Protocol (the one `seer eval --windows W --horizon H` applies, replicated exactly):

* The CSV is long format (series_id, timestamp, value[, feature columns]); every series is put
  on its 30-minute grid (seer's `regularize`; missing grid points become NaN).
* Test windows: the last W non-overlapping windows of H points of each series. Window `back`
  (0 = the last) is `[n - (back+1)·H, n - back·H)`; its history is *everything* before its
  origin, from the first point of the series (rolling origin, no retraining).
* Training: each series with its last W·H points removed (so no test point is ever seen in
  training), GluonTS's default instance sampler, no validation set; GluonTS keeps the epoch
  with the lowest train loss, as it does by default.
* Scoring (`crates/seer-core/src/metrics.rs`, `crates/seer-model/src/backtest/forecast.rs`):
  - every window is one "series" of seer's `Accuracy`;
  - the point forecast is the *sample mean* of the paths (seer's `summarize_paths`); MASE,
    sMAPE, ND and NRMSE read it;
  - MASE of a window = MAE / mean|y_t - y_{t-m}| over the window's whole history (m = 48 for
    30-minute data, `season_for_freq(1800)`), then the plain mean over windows;
  - ND = Σ|a - f| / Σ|a|, NRMSE = sqrt(mean (a - f)²) / mean|a|, pooled over all windows;
  - quantiles: numpy's linear empirical quantile of the paths at each step, at seer's levels
    0.1, 0.25, 0.5, 0.75, 0.9; weighted quantile loss of level q = 2 Σ ρ_q / Σ|a| pooled over
    all windows (`seer eval --json` prints only 0.5 and 0.9; the mean over the 5 is also given);
  - CRPS = Σ CRPS_t / Σ|a|, where CRPS_t is the plug-in energy form of the empirical
    distribution of the paths for a sampling model, and 2·mean_q ρ_q over the 5 levels for the
    seasonal naive (which has quantiles only);
  - coverage_80 = share of actuals in [q0.1, q0.9].
* Seasonal naive (`crates/seer-core/src/naive.rs`): the last season of the (LOCF-filled)
  history repeated; its quantiles add √(⌊k/m⌋+1)·Q_e(q), Q_e the empirical quantiles of the
  in-sample seasonal differences of the whole history. Printed for m = 48 (what seer reports)
  and m = 336 (weekly); MASE is always scaled with m = 48 so every row is comparable.
* ETS (`--ets`, statsmodels; `pip install statsmodels`): per test window, ETS(A,N,A) (additive
  error, no trend, additive seasonality with period `--ets-season`, default 48, the daily cycle)
  fitted on the last `--ets-history` points (default 48·28 = 1344, four weeks) of the window's
  history (LOCF-filled); `--ets-trend damped` fits ETS(A,Ad,A) instead, `--ets-trend auto` both
  and keeps the lower AICc per window (no trend is the default: AICc always prefers A,Ad,A,
  fitted with α = β ≈ 1 and φ at its 0.8 bound, whose forecasts are worse on the 2014 windows,
  MASE 1.17 against 0.94, and equal on the 28 windows to 15 December, 0.818 against 0.817). Fit: the Gaussian
  MLE, computed as the least-squares Holt-Winters fit
  (`holtwinters.ExponentialSmoothing(initialization_method="estimated")`: smoothing weights,
  damping and all initial states estimated, L-BFGS-B run to convergence (`maxfun` raised from
  15000); the same optimum, since for additive errors the likelihood concentrates to the SSE),
  loaded into `ETSModel.smooth` (`ETSModel.fit` from its own start lands in much worse optima
  here). Point forecast = the model's mean forecast; quantiles = mean + Φ⁻¹(q)·σ_h from
  ETSModel's exact forecast variance; CRPS from those 5 quantiles, as for the seasonal naive.
  MASE is still scaled with the window's *whole* history (only the fit is truncated). A window
  whose fit fails gets the seasonal naive (m = `--ets-season`) instead and is counted in
  `ets_failed_windows`. `--json` gives an `ets` block with the seasonal-naive keys plus `model`,
  `chosen_models`, `fit_seconds`, `ets_failed_windows`, `ets_unconverged_windows`.

Usage:
    target/ref-venv/bin/python scripts/deepar_reference.py \
        --data tests/data/vic_elec_2014.csv --windows 14 --horizon 48 --seeds 0,1,2 [--json]
    ... --lags 1,2,3,4,5,6,7,47,48,49,95,96,97,335,336,337
    ... --naive-only        # just the seasonal naive rows (the cross-check with seer eval)
    ... --no-deepar --ets   # seasonal naive + ETS baselines only, no DeepAR training (~1 min)

The venv: python3 -m venv target/ref-venv && target/ref-venv/bin/pip install \
"gluonts[torch]==0.17.0" pandas numpy statsmodels   # statsmodels 0.15.0 for --ets
"""

import argparse
import json
import math
import os
import sys
import tempfile
import time

import numpy as np
import pandas as pd

FREQ = "30min"
FREQ_SECONDS = 1800
LEVELS = [0.1, 0.25, 0.5, 0.75, 0.9]
LEVEL_TOLERANCE = 1e-9


# ---------------------------------------------------------------- seer's metrics, replicated


def effective_lag(n, season):
    m = max(season, 1)
    return m if n > m else 1


def seasonal_error(insample, season):
    """seer_core::metrics::seasonal_error."""
    x = np.asarray(insample, dtype=float)
    m = effective_lag(len(x), season)
    a, b = x[:-m], x[m:]
    ok = np.isfinite(a) & np.isfinite(b)
    if not ok.any():
        return None
    scale = float(np.abs(b[ok] - a[ok]).sum() / ok.sum())
    return scale if (scale > 0 and math.isfinite(scale)) else None


def pinball(actual, q_pred, level):
    u = actual - q_pred
    return np.where(u >= 0, level * u, (level - 1.0) * u)


def crps_sorted(sorted_samples, actual):
    """seer_core::metrics::crps_sorted: E|X - a| - ½E|X - X'| via order statistics."""
    n = len(sorted_samples)
    centre = sorted_samples[n // 2]
    i = np.arange(n, dtype=float)
    abs_dev = np.abs(sorted_samples - actual).sum()
    spread = ((2.0 * i + 1.0 - n) * (sorted_samples - centre)).sum()
    return abs_dev / n - spread / (n * n)


def smape_terms(a, f):
    big = np.maximum(np.abs(a), np.abs(f))
    out = np.zeros_like(a)
    nz = big > 0
    an, fn = a[nz] / big[nz], f[nz] / big[nz]
    out[nz] = 2.0 * np.abs(an - fn) / (np.abs(an) + np.abs(fn))
    return out


class Accuracy:
    """seer_core::metrics::Accuracy (one `add` per window)."""

    def __init__(self):
        self.series = 0
        self.observations = 0
        self.mase_sum = 0.0
        self.mase_series = 0
        self.mase_undefined = 0
        self.smape_sum = 0.0
        self.smape_series = 0
        self.abs_error = 0.0
        self.squared_error = 0.0
        self.abs_actual = 0.0
        self.crps_sum = 0.0
        self.crps_abs_actual = 0.0
        self.levels = []  # [level, loss, abs_actual]
        self.covered = 0
        self.coverage_points = 0

    def add(self, actual, mean, quantiles, samples, insample, season):
        actual = np.asarray(actual, dtype=float)
        mean = np.asarray(mean, dtype=float)
        obs = np.isfinite(actual)
        a = actual[obs]
        assert np.isfinite(mean[obs]).all(), "non-finite forecast"
        self.series += 1
        scale = seasonal_error(insample, season)
        if scale is not None and obs.any():
            self.mase_sum += float(np.abs(a - mean[obs]).mean() / scale)
            self.mase_series += 1
        else:
            self.mase_undefined += 1
        if obs.any():
            self.smape_sum += float(smape_terms(a, mean[obs]).mean())
            self.smape_series += 1
        abs_actual = float(np.abs(a).sum())
        self.observations += int(obs.sum())
        self.abs_actual += abs_actual
        e = a - mean[obs]
        self.abs_error += float(np.abs(e).sum())
        self.squared_error += float((e * e).sum())

        if samples is not None and len(samples) > 0:
            s = np.asarray(samples, dtype=float)  # [path][step]
            for t in np.flatnonzero(obs):
                self.crps_sum += float(crps_sorted(np.sort(s[:, t]), actual[t]))
            self.crps_abs_actual += abs_actual
        elif quantiles:
            for t in np.flatnonzero(obs):
                terms = [float(pinball(actual[t], v[t], lv)) for lv, v in quantiles]
                self.crps_sum += 2.0 * sum(terms) / len(terms)
            self.crps_abs_actual += abs_actual

        for lv, values in quantiles:
            v = np.asarray(values, dtype=float)
            loss = float(pinball(a, v[obs], lv).sum())
            for entry in self.levels:
                if abs(entry[0] - lv) < LEVEL_TOLERANCE:
                    entry[1] += loss
                    entry[2] += abs_actual
                    break
            else:
                self.levels.append([lv, loss, abs_actual])

        def find(target):
            for lv, v in quantiles:
                if abs(lv - target) < LEVEL_TOLERANCE:
                    return np.asarray(v, dtype=float)
            return None

        lo, hi = find(0.1), find(0.9)
        if lo is not None and hi is not None:
            self.coverage_points += int(obs.sum())
            self.covered += int(((lo[obs] <= a) & (a <= hi[obs])).sum())

    def summary(self):
        def ratio(num, den):
            return num / den if den > 0 else None

        nrmse = None
        if self.observations > 0:
            n = self.observations
            nrmse = ratio(math.sqrt(self.squared_error / n), self.abs_actual / n)
        ql = sorted(
            (lv, 2.0 * loss / aa) for lv, loss, aa in self.levels if aa > 0
        )
        out = {
            "mase": self.mase_sum / self.mase_series if self.mase_series else None,
            "smape": self.smape_sum / self.smape_series if self.smape_series else None,
            "nd": ratio(self.abs_error, self.abs_actual),
            "nrmse": nrmse,
            "crps": ratio(self.crps_sum, self.crps_abs_actual),
        }
        for lv, v in ql:
            out[f"quantile_loss_{lv:g}"] = v
        out["mean_wql"] = float(np.mean([v for _, v in ql])) if ql else None
        out["coverage_80"] = (
            self.covered / self.coverage_points if self.coverage_points else None
        )
        out["series_windows"] = self.series
        out["observations"] = self.observations
        return out


# ---------------------------------------------------------------- seer's seasonal naive


def impute_locf(x):
    x = np.asarray(x, dtype=float)
    ok = np.isfinite(x)
    if not ok.any():
        return None
    s = pd.Series(np.where(ok, x, np.nan)).ffill().bfill()
    return s.to_numpy()


def naive_lag(n, season):
    m = max(season, 1)
    return 1 if n < m else m


def seasonal_naive(history, season, horizon):
    filled = impute_locf(history)
    if filled is None:
        return None
    m = naive_lag(len(filled), season)
    last = filled[len(filled) - m:]
    return np.array([last[k % m] for k in range(horizon)])


def seasonal_naive_quantiles(history, season, horizon, levels):
    """[(level, values per step)], seer_core::naive::seasonal_naive_quantiles."""
    point = seasonal_naive(history, season, horizon)
    if point is None:
        return None
    h = np.asarray(history, dtype=float)
    m = naive_lag(len(h), season)
    a, b = h[:-m], h[m:]
    ok = np.isfinite(a) & np.isfinite(b)
    if not ok.any():
        return None
    errors = np.sort(b[ok] - a[ok])
    eq = np.quantile(errors, levels)  # numpy "linear", as seer's quantile_sorted
    widening = np.sqrt(np.arange(horizon) // m + 1.0)
    return point, [(lv, point + widening * e) for lv, e in zip(levels, eq)]


# ---------------------------------------------------------------- data and windows


def load_series(path):
    df = pd.read_csv(path)
    df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True)
    out = []
    for sid, g in df.groupby("series_id", sort=True):
        g = g.sort_values("timestamp").set_index("timestamp")
        grid = pd.date_range(g.index[0], g.index[-1], freq=FREQ)
        g = g.reindex(grid)
        feats = [c for c in g.columns if c not in ("series_id", "value")]
        out.append(
            {
                "id": sid,
                "start": grid[0],
                "values": g["value"].to_numpy(dtype=float),
                "features": g[feats].to_numpy(dtype=float).T if feats else None,
                "feature_names": feats,
            }
        )
    return out


def windows_of(series, windows, horizon):
    """Oldest origin first, as seer's backtest loop: (series, origin, end)."""
    out = []
    for back in reversed(range(windows)):
        for s in series:
            end = len(s["values"]) - back * horizon
            origin = end - horizon
            if origin < 0:
                continue
            if not np.isfinite(s["values"][:origin]).any():
                continue
            out.append((s, origin, end))
    return out


def naive_scores(wins, horizon, naive_season, scale_season):
    acc = Accuracy()
    for s, origin, end in wins:
        hist = s["values"][:origin]
        r = seasonal_naive_quantiles(hist, naive_season, horizon, LEVELS)
        if r is None:
            continue
        point, qs = r
        acc.add(s["values"][origin:end], point, qs, None, hist, scale_season)
    return acc.summary()


# ---------------------------------------------------------------- ETS baseline (statsmodels)


ETS_TRENDS = {"none": [(None, False)], "damped": [("add", True)],
              "auto": [(None, False), ("add", True)]}


def ets_fit_forecast(history, horizon, season, max_history, trend, levels):
    """Additive-error, additive-seasonal ETS on the last `max_history` points of `history`.

    Returns (mean, [(level, values)], short_name, converged). Raises on any failure (the caller
    falls back to the seasonal naive). With several candidate trends the lowest AICc wins.

    The parameters (smoothing, damping, initial level/trend/48 seasonal states) are the
    least-squares Holt-Winters fit (`ExponentialSmoothing(..., initialization_method=
    "estimated").fit()`), which for additive errors is the Gaussian MLE of the ETS state-space
    model (the variance concentrated out). They are then loaded into `ETSModel.smooth` for the
    likelihood/AICc and the exact Gaussian forecast variance. `ETSModel.fit` itself is not used:
    from its default start its L-BFGS stops in far worse optima on this data (MASE ~2 on the
    2014 windows, against ~1 for the same model fitted this way).
    """
    import warnings

    from scipy.stats import norm
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    y = impute_locf(np.asarray(history, dtype=float)[-max_history:])
    if y is None or len(y) < 2 * season + 10:
        raise ValueError("history too short for ETS")
    y = pd.Series(y)  # a pandas endog: statsmodels 0.15's get_prediction fails on ndarrays
    best, best_conv = None, True
    errors = []
    for tr, damped in ETS_TRENDS[trend]:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                hw = ExponentialSmoothing(y, trend=tr, damped_trend=damped, seasonal="add",
                                          seasonal_periods=season,
                                          initialization_method="estimated").fit(
                    # L-BFGS-B's default 15000 evaluations stop short of convergence here
                    minimize_kwargs={"options": {"maxiter": 20000, "maxfun": 200000}})
                hp = hw.params
                par = [hp["smoothing_level"]]
                if tr is not None:
                    par.append(hp["smoothing_trend"])
                par.append(hp["smoothing_seasonal"])
                if damped:
                    par.append(hp["damping_trend"])
                par.append(hp["initial_level"])
                if tr is not None:
                    par.append(hp["initial_trend"])
                # ETSModel's initial seasonal states run the other way round
                par.extend(np.asarray(hp["initial_seasons"], dtype=float)[::-1])
                model = ETSModel(y, error="add", trend=tr, damped_trend=damped,
                                 seasonal="add", seasonal_periods=season)
                res = model.smooth(np.asarray(par, dtype=float))
            if not math.isfinite(res.aicc):
                raise ValueError("non-finite AICc")
        except Exception as e:  # noqa: BLE001 - any fit failure counts the same
            errors.append(f"{tr}/{damped}: {e}")
            continue
        if best is None or res.aicc < best.aicc:
            best = res
            retvals = getattr(hw, "mle_retvals", None)  # scipy's OptimizeResult (a dict)
            best_conv = True if retvals is None else bool(retvals.get("success", True))
    if best is None:
        raise RuntimeError("; ".join(errors))
    pred = best.get_prediction(start=len(y), end=len(y) + horizon - 1)  # "exact" intervals
    mean = np.asarray(pred.predicted_mean, dtype=float)
    sd = np.sqrt(np.asarray(pred.var_pred_mean, dtype=float))
    if len(mean) != horizon or not (np.isfinite(mean).all() and np.isfinite(sd).all()):
        raise ValueError("non-finite ETS forecast")
    qs = [(lv, mean + norm.ppf(lv) * sd) for lv in levels]
    return mean, qs, best.model.short_name, best_conv


def ets_scores(wins, horizon, args, scale_season):
    acc = Accuracy()
    failed, unconverged, chosen, fit_s = 0, 0, {}, 0.0
    for s, origin, end in wins:
        hist = s["values"][:origin]
        t0 = time.time()
        try:
            mean, qs, name, conv = ets_fit_forecast(hist, horizon, args.ets_season,
                                                    args.ets_history, args.ets_trend, LEVELS)
            chosen[name] = chosen.get(name, 0) + 1
            unconverged += 0 if conv else 1
        except Exception as e:  # noqa: BLE001
            print(f"ets: window at origin {origin} of {s['id']} failed ({e}); "
                  f"seasonal naive instead", file=sys.stderr)
            failed += 1
            r = seasonal_naive_quantiles(hist, args.ets_season, horizon, LEVELS)
            if r is None:
                continue
            mean, qs = r
        fit_s += time.time() - t0
        acc.add(s["values"][origin:end], mean, qs, None, hist, scale_season)
    out = acc.summary()
    trends = {"none": "N", "damped": "Ad", "auto": "N|Ad by AICc"}[args.ets_trend]
    out["model"] = (f"statsmodels ETSModel(error=add, trend={trends}, seasonal=add, "
                    f"seasonal_periods={args.ets_season}); Gaussian MLE = least-squares Holt-Winters fit "
                    f"(smoothing, damping and all initial states estimated) loaded into "
                    f"ETSModel.smooth; fit on the last {args.ets_history} points of each "
                    f"window's history; quantiles from the exact Gaussian forecast variance")
    out["chosen_models"] = chosen
    out["fit_seconds"] = fit_s
    out["ets_failed_windows"] = failed
    out["ets_unconverged_windows"] = unconverged
    return out


# ---------------------------------------------------------------- GluonTS DeepAR


def train_and_score(args, series, wins, seed, lags, season):
    import lightning.pytorch as pl
    import torch
    from gluonts.dataset.common import ListDataset
    from gluonts.torch.distributions import NormalOutput, StudentTOutput
    from gluonts.torch.model.deepar import DeepAREstimator

    pl.seed_everything(seed, workers=True)
    torch.set_num_threads(args.threads)
    cut = args.windows * args.horizon

    def entry(s, length, with_future=0):
        e = {"start": pd.Period(s["start"].tz_convert(None), freq=FREQ),
             "target": s["values"][:length], "item_id": s["id"]}
        if args.use_features and s["features"] is not None:
            e["feat_dynamic_real"] = s["features"][:, : length + with_future]
        return e

    train = ListDataset([entry(s, len(s["values"]) - cut) for s in series], freq=FREQ)
    n_feat = series[0]["features"].shape[0] if args.use_features and series[0]["features"] is not None else 0
    distr = StudentTOutput() if args.distribution == "student_t" else NormalOutput()
    os.makedirs(args.workdir, exist_ok=True)
    root = tempfile.mkdtemp(prefix=f"lightning-seed{seed}-", dir=args.workdir)
    est = DeepAREstimator(
        freq=FREQ,
        prediction_length=args.horizon,
        context_length=args.context,
        num_layers=args.layers,
        hidden_size=args.hidden,
        lags_seq=lags,
        distr_output=distr,
        num_feat_dynamic_real=n_feat,
        batch_size=args.batch_size,
        num_batches_per_epoch=args.num_batches_per_epoch,
        num_parallel_samples=args.samples,
        dropout_rate=args.dropout,
        trainer_kwargs={
            "max_epochs": args.epochs,
            "accelerator": "cpu",
            "devices": 1,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "logger": False,
            "default_root_dir": root,
        },
    )
    t0 = time.time()
    predictor = est.train(train)
    train_s = time.time() - t0

    test = ListDataset(
        [entry(s, origin, with_future=args.horizon) for s, origin, _ in wins], freq=FREQ
    )
    t0 = time.time()
    torch.manual_seed(seed)
    forecasts = list(predictor.predict(test, num_samples=args.samples))
    predict_s = time.time() - t0

    acc, acc_median = Accuracy(), Accuracy()
    for (s, origin, end), fc in zip(wins, forecasts):
        paths = np.asarray(fc.samples, dtype=float)  # [path][step]
        mean = paths.mean(axis=0)
        qv = np.quantile(paths, LEVELS, axis=0)  # numpy linear, as seer's quantiles_of
        quantiles = [(lv, qv[i]) for i, lv in enumerate(LEVELS)]
        actual, hist = s["values"][origin:end], s["values"][:origin]
        acc.add(actual, mean, quantiles, paths, hist, season)
        acc_median.add(actual, qv[LEVELS.index(0.5)], quantiles, paths, hist, season)
    out = acc.summary()
    out["mase_of_median"] = acc_median.summary()["mase"]  # GluonTS Evaluator's convention
    out["nd_of_median"] = acc_median.summary()["nd"]
    out["seed"] = seed
    out["train_seconds"] = train_s
    out["predict_seconds"] = predict_s
    return out


def mean_over(runs):
    keys = [k for k in runs[0] if k != "seed" and isinstance(runs[0][k], (int, float))]
    out = {}
    for k in keys:
        vals = [r[k] for r in runs if r.get(k) is not None]
        out[k] = float(np.mean(vals)) if vals else None
        if len(vals) > 1 and k in ("mase", "crps", "mean_wql", "quantile_loss_0.5", "quantile_loss_0.9"):
            out[k + "_std"] = float(np.std(vals, ddof=1))
    return out


COLS = ["mase", "smape", "nd", "nrmse", "crps", "quantile_loss_0.5", "quantile_loss_0.9",
        "mean_wql", "coverage_80"]


def row(name, d):
    f = lambda v: "-" if v is None else f"{v:.4f}"
    return f"{name:<22}" + "".join(f"{f(d.get(c)):>10}" for c in COLS)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="tests/data/vic_elec_2014.csv")
    p.add_argument("--windows", type=int, default=14)
    p.add_argument("--horizon", type=int, default=48)
    p.add_argument("--context", type=int, default=96)
    p.add_argument("--lags", default=None,
                   help="comma-separated lags (default: GluonTS get_lags_for_frequency('30min'))")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--hidden", type=int, default=40)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--num-batches-per-epoch", type=int, default=50)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--samples", type=int, default=200)
    p.add_argument("--distribution", choices=["student_t", "gaussian"], default="student_t")
    p.add_argument("--use-features", action="store_true",
                   help="feed the CSV's feature columns as dynamic real features (their true "
                        "future values over the horizon: an oracle covariate)")
    p.add_argument("--dropout", type=float, default=0.1,
                   help="dropout between LSTM layers (GluonTS's default 0.1; seer has none)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--workdir", default="target/deepar-ref")
    p.add_argument("--naive-only", action="store_true",
                   help="only the seasonal naive rows (implies --no-deepar; --ets still runs)")
    p.add_argument("--no-deepar", action="store_true", help="skip DeepAR training entirely")
    p.add_argument("--ets", action="store_true",
                   help="add the statsmodels ETS baseline (see the docstring)")
    p.add_argument("--ets-season", type=int, default=48,
                   help="ETS seasonal period (default 48: the daily cycle)")
    p.add_argument("--ets-history", type=int, default=48 * 28,
                   help="fit ETS on at most this many last points of each window's history")
    p.add_argument("--ets-trend", choices=sorted(ETS_TRENDS), default="none",
                   help="none (ETS(A,N,A), the default), damped (ETS(A,Ad,A)) or auto (both, "
                        "the lower AICc per window)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()

    series = load_series(args.data)
    season = 48  # seer's season_for_freq(1800): steps in a day
    assert season == 86400 // FREQ_SECONDS
    wins = windows_of(series, args.windows, args.horizon)
    report = {
        "data": args.data, "windows": args.windows, "horizon": args.horizon,
        "season": season, "levels": LEVELS,
        "seasonal_naive": naive_scores(wins, args.horizon, 48, season),
        "seasonal_naive_336": naive_scores(wins, args.horizon, 336, season),
    }
    if args.ets:
        report["ets"] = ets_scores(wins, args.horizon, args, season)
    run_deepar = not (args.naive_only or args.no_deepar)
    if run_deepar:
        import logging
        import warnings
        warnings.filterwarnings("ignore")
        for name in ("lightning", "lightning.pytorch", "pytorch_lightning", "gluonts"):
            logging.getLogger(name).setLevel(logging.ERROR)
        from gluonts.time_feature import get_lags_for_frequency
        lags = ([int(x) for x in args.lags.split(",")] if args.lags
                else get_lags_for_frequency(FREQ))
        seeds = [int(x) for x in args.seeds.split(",")]
        report["deepar_config"] = {
            "context": args.context, "lags": lags, "epochs": args.epochs,
            "batch_size": args.batch_size, "num_batches_per_epoch": args.num_batches_per_epoch,
            "hidden": args.hidden, "layers": args.layers, "distribution": args.distribution,
            "samples": args.samples, "use_features": args.use_features, "seeds": seeds,
        }
        runs = []
        for seed in seeds:
            r = train_and_score(args, series, wins, seed, lags, season)
            runs.append(r)
            if not args.json:
                print(f"seed {seed}: trained in {r['train_seconds']:.1f}s, "
                      f"predicted in {r['predict_seconds']:.1f}s", file=sys.stderr)
        report["deepar_runs"] = runs
        report["deepar_mean"] = mean_over(runs)

    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{args.windows} windows x horizon {args.horizon}, season {season}, "
          f"levels {LEVELS}; MASE scaled at m={season} over each window's whole history")
    print(f"{'model':<22}" + "".join(f"{c.replace('quantile_loss_', 'QL').replace('coverage_', 'cov'):>10}" for c in COLS))
    print(row("seasonal_naive(48)", report["seasonal_naive"]))
    print(row("seasonal_naive(336)", report["seasonal_naive_336"]))
    if args.ets:
        e = report["ets"]
        print(row(f"ets(m={args.ets_season})", e)
              + f"   fit {e['fit_seconds']:.0f}s  failed {e['ets_failed_windows']}  "
              + " ".join(f"{k}x{v}" for k, v in sorted(e["chosen_models"].items())))
    if run_deepar:
        for r in report["deepar_runs"]:
            print(row(f"gluonts_deepar s{r['seed']}", r)
                  + f"   MASE(median) {r['mase_of_median']:.4f}  train {r['train_seconds']:.0f}s")
        m = report["deepar_mean"]
        print(row("gluonts_deepar mean", m)
              + f"   MASE(median) {m['mase_of_median']:.4f}  train {m['train_seconds']:.0f}s")


if __name__ == "__main__":
    main()
