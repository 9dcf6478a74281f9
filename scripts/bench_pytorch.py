#!/usr/bin/env python3
"""PyTorch's time on the shapes `seer bench kernels` uses, for a ratio measured on one machine.

Run beside `seer bench kernels --json` in the same call on the same GPU (see scripts/gpu_bench.sh).
Prints JSON: {"device", "torch", "results": [{"name", "shape", "ms"}]}; medians of --reps runs
after warm-up, timed with CUDA events (or wall clock on CPU).
"""
import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def timed(fn, reps, device):
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end))
        else:
            t = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    return times[len(times) // 2]


class Block(nn.Module):
    def __init__(self, c_in, c_out, k, d):
        super().__init__()
        self.pad = (k - 1) * d
        self.conv1 = nn.Conv1d(c_in, c_out, k, dilation=d)
        self.conv2 = nn.Conv1d(c_out, c_out, k, dilation=d)
        self.downsample = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else None

    def forward(self, x):
        y = F.relu(self.conv1(F.pad(x, (self.pad, 0))))
        y = F.relu(self.conv2(F.pad(y, (self.pad, 0))))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--reduced", action="store_true", help="the software-adapter shape set")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cudnn.benchmark = True
    results = []
    lstm_shapes = [(64, 40), (64, 64)] if args.reduced else [(1024, 40), (4096, 64), (16384, 64)]
    with torch.no_grad():
        for b, h in lstm_shapes:
            lstm = nn.LSTM(4, h, 1, batch_first=True).to(device)
            x = torch.randn(b, 168, 4, device=device)
            ms = timed(lambda: lstm(x), args.reps, device)
            results.append({"name": "lstm_forward", "shape": f"1 layer, input 4, T=168, B={b}, H={h}", "ms": ms})
        b = 64 if args.reduced else 4096
        tcn = nn.Sequential(Block(1, 32, 3, 1), Block(32, 32, 3, 2), Block(32, 32, 3, 4), Block(32, 32, 3, 8)).to(device)
        x = torch.randn(b, 1, 168, device=device)
        ms = timed(lambda: tcn(x), args.reps, device)
        results.append({"name": "tcn_forward", "shape": f"4 blocks C=32 k=3 dilations 1,2,4,8, B={b}, T=168", "ms": ms})
    # DeepAR ancestral sampling as a Python model server runs it: the context teacher-forced
    # once, the state repeated per path, then one LSTM step, head and draw per forecast step
    b = 8 if args.reduced else 4096
    paths, horizon = 100, 24
    rnn_s = nn.LSTM(6 + 2, 40, 2, batch_first=True).to(device)
    proj_s = nn.Linear(40, 2).to(device)
    ctx_x = torch.randn(b, 168, 8, device=device)
    feats = torch.randn(b * paths, horizon, 2, device=device)

    def sample():
        _, (h, c) = rnn_s(ctx_x)
        h = h.repeat_interleave(paths, dim=1)
        c = c.repeat_interleave(paths, dim=1)
        lags = torch.zeros(b * paths, 6, device=device)
        out = []
        for t in range(horizon):
            x = torch.cat([lags, feats[:, t]], dim=1).unsqueeze(1)
            o, (h, c) = rnn_s(x, (h, c))
            p = proj_s(o[:, 0])
            z = p[:, 0] + (F.softplus(p[:, 1]) + 1e-6) * torch.randn(b * paths, device=device)
            out.append(z)
            lags = torch.cat([z.unsqueeze(1), lags[:, :-1]], dim=1)
        return torch.stack(out, dim=1)

    with torch.no_grad():
        ms = timed(sample, max(1, min(args.reps, 5)), device)
    results.append({"name": "deepar_sample", "shape": f"2x40 gaussian, {paths} paths x {horizon} steps, context 168, B={b}", "ms": ms})
    # DeepAR-shaped training step: 2×40 LSTM over 168 steps, Gaussian NLL, backward, clip, Adam
    b = 16 if args.reduced else 4096
    rnn = nn.LSTM(6 + 2, 40, 2, batch_first=True).to(device)
    proj = nn.Linear(40, 2).to(device)
    params = list(rnn.parameters()) + list(proj.parameters())
    opt = torch.optim.Adam(params, lr=1e-3)
    x = torch.randn(b, 168, 8, device=device)
    z = torch.randn(b, 168, device=device)

    def step():
        opt.zero_grad(set_to_none=True)
        h, _ = rnn(x)
        o = proj(h)
        mu, sigma = o[..., 0], F.softplus(o[..., 1]) + 1e-6
        loss = -torch.distributions.Normal(mu, sigma).log_prob(z).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 10.0)
        opt.step()
        return loss.item()

    ms = timed(step, args.reps, device)
    results.append({"name": "deepar_train_step", "shape": f"2x40 LSTM, gaussian, T=168, B={b}", "ms": ms,
                    "windows_per_second": b / ms * 1e3})
    print(json.dumps({"device": str(torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu"),
                      "torch": torch.__version__, "threads": torch.get_num_threads(),
                      "results": results}, indent=2))


if __name__ == "__main__":
    main()
