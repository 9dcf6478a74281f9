#!/usr/bin/env bash
# seer's native CPU backend beside PyTorch on the CPU, on the same machine and thread count, in
# one run: `seer bench kernels` and `seer bench train` against scripts/bench_pytorch.py on the
# reduced shapes (LSTM forward, TCN forward, DeepAR sampling of 100 paths × 24 steps, a DeepAR
# training step), alternating the two ROUNDS times so that a noisy machine slows both alike.
# Prints a table of medians and seer/PyTorch ratios; writes target/bench-cpu/*.json.
#
#   scripts/bench_cpu.sh                 ROUNDS=3, threads = the CPUs this process may use
#   THREADS=1 ROUNDS=5 scripts/bench_cpu.sh
#
# Needs torch: target/peer-venv (made by scripts/bench_peer.sh) or BENCH_PYTHON.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
ROUNDS="${ROUNDS:-3}"
THREADS="${THREADS:-$(nproc)}"
PY="${BENCH_PYTHON:-$ROOT/target/peer-venv/bin/python}"
SEER="${SEER_BIN:-$ROOT/target/release/seer}"
OUT="$ROOT/target/bench-cpu"
[ -x "$SEER" ] || cargo build --release -p seer
"$PY" -c 'import torch' 2>/dev/null || { echo "bench_cpu.sh: no torch in $PY (run scripts/bench_peer.sh once, or set BENCH_PYTHON)" >&2; exit 1; }
mkdir -p "$OUT"
rm -f "$OUT"/*.json
export SEER_ADAPTER=cpu SEER_CPU_THREADS="$THREADS"
for r in $(seq 1 "$ROUNDS"); do
    "$SEER" bench kernels --reps 7 --json --out "$OUT/seer-kernels-$r.json" >/dev/null
    "$SEER" bench train --steps 20 --json --out "$OUT/seer-train-$r.json" >/dev/null
    "$PY" scripts/bench_pytorch.py --reduced --reps 7 --threads "$THREADS" >"$OUT/torch-$r.json"
done
"$PY" - "$OUT" "$ROUNDS" <<'EOF'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])


def key(name, shape):
    # "…, B=64, H=40" → "64/40" for the LSTM rows, "64" for the others
    b = shape.split("B=")[-1].split(",")[0].split(" ")[0]
    return b + ("/" + shape.split("H=")[-1] if name == "lstm_forward" else "")


seer, torch = {}, {}
for r in range(1, rounds + 1):
    for row in json.load(open(f"{out}/seer-kernels-{r}.json"))["results"]:
        seer.setdefault((row["name"], key(row["name"], row["shape"])), []).append(row["wall_ms"])
    t = json.load(open(f"{out}/seer-train-{r}.json"))
    seer.setdefault(("deepar_train_step", key("", t["shape"])), []).append(t["ms_per_step"])
    for row in json.load(open(f"{out}/torch-{r}.json"))["results"]:
        torch.setdefault((row["name"], key(row["name"], row["shape"])), []).append(row["ms"])
print(f"{'kernel':<18} {'B[/H]':<8} {'seer ms':>9} {'torch ms':>9} {'seer/torch':>10}")
for k, v in seer.items():
    if k in torch:
        s, p = statistics.median(v), statistics.median(torch[k])
        print(f"{k[0]:<18} {k[1]:<8} {s:9.2f} {p:9.2f} {s / p:10.2f}")
EOF
