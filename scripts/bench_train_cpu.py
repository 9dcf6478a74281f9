#!/usr/bin/env python3
"""`seer train` of a DeepAR to its early stop, beside PyTorch training the same network the same
way on the same CPU, in one run.

The data: one half-hourly series of a year (17 520 points) with daily and weekly cycles, a slow
trend and autocorrelated noise, written once to target/bench-train/halfhourly.csv. seer trains
with its default sizes (`seer train --model deepar`) and a fixed schedule; PyTorch then reads
the checkpoint's config.json and trains the same DeepAR (lags, context, horizon, hidden size,
layers, time-feature count, Gaussian head, no dropout) on the same schedule: epochs of 50 steps
of 64 random windows, Adam 1e-3, gradient clip 10, validation on each series' last horizon,
patience 5, at most 20 epochs (seer's defaults until 2026-12-02).

    scripts/bench_train_cpu.py [--seer target/release/seer] [--threads N]

Prints one JSON object: each side's wall time, epochs run, seconds per epoch and final losses.
Needs torch (target/peer-venv has it: scripts/bench_peer.sh makes it).
"""
import argparse
import json
import math
import os
import subprocess
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "target", "bench-train")


def write_data(path):
    rng = np.random.default_rng(7)
    n = 17_520
    t = np.arange(n)
    day = 48
    noise = np.zeros(n)
    for i in range(1, n):
        noise[i] = 0.8 * noise[i - 1] + rng.normal(0, 0.6)
    weekday = ((t // day) % 7 < 5).astype(float)
    values = (30 + 0.0002 * t + 8 * np.sin(2 * np.pi * t / day - 1.2) + 3 * np.sin(4 * np.pi * t / day)
              + 4 * weekday + 2 * np.sin(2 * np.pi * t / (day * 365)) + noise)
    start = 1_672_531_200  # 2023-01-01T00:00:00Z
    with open(path, "w") as f:
        f.write("series_id,timestamp,value\n")
        for i, v in enumerate(values):
            ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + i * 1800))
            f.write(f"demand,{ts},{v:.4f}\n")
    return values.astype(np.float32)


def read_values(path):
    with open(path) as f:
        next(f)
        return np.array([float(line.rsplit(",", 1)[1]) for line in f], dtype=np.float32)


class DeepAR(nn.Module):
    def __init__(self, inputs, hidden, layers):
        super().__init__()
        self.rnn = nn.LSTM(inputs, hidden, layers, batch_first=True)
        self.proj = nn.Linear(hidden, 2)

    def forward(self, x):
        h, _ = self.rnn(x)
        o = self.proj(h)
        return o[..., 0], F.softplus(o[..., 1]) + 1e-6


def torch_train(values, cfg, threads):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    lags = cfg["lags"]
    context, horizon = cfg["context_length"], cfg["horizon"]
    features = len(cfg.get("time_features", []))
    hidden, layers = cfg["hidden_size"], cfg["num_layers"]
    window = context + horizon
    first = max(lags)
    train_end = len(values) - horizon
    # time features stand-in: as many sin/cos columns of the time index as seer uses
    t = np.arange(len(values))
    tf = np.stack([np.sin(2 * np.pi * t / (48 * (k + 1))) for k in range(features)], 1).astype(np.float32) \
        if features else np.zeros((len(values), 0), np.float32)
    lag_idx = np.array(lags)

    def batch(ends):
        xs, zs = [], []
        for e in ends:
            rows = np.arange(e - window, e)
            scale = np.abs(values[e - window:e - horizon]).mean() + 1.0
            lagged = values[rows[:, None] - lag_idx[None, :]] / scale
            xs.append(np.concatenate([lagged, tf[rows]], 1))
            zs.append(values[rows] / scale)
        return torch.tensor(np.stack(xs)), torch.tensor(np.stack(zs))

    model = DeepAR(len(lags) + features, hidden, layers)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    val_x, val_z = batch([len(values)])
    best, since, epochs = math.inf, 0, 0
    start = time.perf_counter()
    for epoch in range(20):
        epochs += 1
        for _ in range(50):
            ends = rng.integers(first + window, train_end + 1, 64)
            x, z = batch(ends)
            opt.zero_grad(set_to_none=True)
            mu, sigma = model(x)
            loss = -torch.distributions.Normal(mu, sigma).log_prob(z).mean()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            opt.step()
        with torch.no_grad():
            mu, sigma = model(val_x)
            val = -torch.distributions.Normal(mu[:, -horizon:], sigma[:, -horizon:]).log_prob(val_z[:, -horizon:]).mean().item()
        if val < best:
            best, since = val, 0
        else:
            since += 1
            if since >= 5:
                break
    wall = time.perf_counter() - start
    return {"wall_s": wall, "epochs": epochs, "s_per_epoch": wall / epochs, "best_val_nll": best,
            "threads": torch.get_num_threads()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seer", default=os.path.join(ROOT, "target", "release", "seer"))
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    data = os.path.join(OUT, "halfhourly.csv")
    values = read_values(data) if os.path.exists(data) else write_data(data)
    ckpt = os.path.join(OUT, "deepar")
    env = dict(os.environ, SEER_ADAPTER=os.environ.get("SEER_ADAPTER", "cpu"),
               SEER_CPU_THREADS=str(args.threads))
    start = time.perf_counter()
    # the schedule and head the PyTorch side mirrors (seer's defaults before 2026-12-02: they now
    # take a Student-t head, dropout and a schedule from the data; the speed comparison needs
    # both sides to do the same work)
    schedule = ["--epochs", "20", "--steps-per-epoch", "50", "--batch-size", "64",
                "--distribution", "gaussian", "--dropout", "0", "--no-baseline-selection",
                "--epoch-score", "loss"]
    run = subprocess.run([args.seer, "train", "--data", data, "--model", "deepar", "--out", ckpt,
                          *schedule],
                         env=env, capture_output=True, text=True)
    seer_wall = time.perf_counter() - start
    if run.returncode != 0:
        raise SystemExit(f"seer train failed:\n{run.stderr}")
    epochs = [line for line in run.stderr.replace("\r", "\n").splitlines() if "epoch" in line and "train" in line]
    with open(os.path.join(ckpt, "config.json")) as f:
        cfg = json.load(f)
    seer_epochs = len({line.split("epoch")[1].split("/")[0].strip() for line in epochs}) or None
    report = {
        "data": "one half-hourly series, 17520 points",
        "config": {k: cfg[k] for k in ("context_length", "horizon", "lags", "hidden_size", "num_layers")},
        "seer": {"wall_s": seer_wall, "epochs": seer_epochs,
                 "s_per_epoch": seer_wall / seer_epochs if seer_epochs else None,
                 "adapter": env["SEER_ADAPTER"], "threads": args.threads,
                 "last_epoch": epochs[-1].strip() if epochs else None},
        "pytorch": torch_train(values, cfg, args.threads),
    }
    report["ratio_wall"] = report["seer"]["wall_s"] / report["pytorch"]["wall_s"]
    if seer_epochs:
        report["ratio_per_epoch"] = report["seer"]["s_per_epoch"] / report["pytorch"]["s_per_epoch"]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
