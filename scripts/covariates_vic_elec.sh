#!/usr/bin/env bash
# seer's DeepAR on vic_elec (half-hourly Victorian demand) with and without the temperature and
# holiday columns as known-future covariates, beside the seasonal naive: BENCHMARKS.md,
# "Covariates on vic_elec". Protocol P2 of "DeepAR beside GluonTS": train on the points before
# 2014-11-17, then 28 rolling one-day windows (17 November … 14 December) scored by `seer eval`.
# The covariates' values over each window are the recorded ones (an ex-post forecast: a perfect
# temperature forecast).
#   scripts/covariates_vic_elec.sh   (SEER=target/release/seer, SEEDS="0 1 2 3 4",
#                                     COVARIATES=temperature,holiday, OUT=target/covariates)
set -euo pipefail
cd "$(dirname "$0")/.."
SEER=${SEER:-target/release/seer}
SEEDS=${SEEDS:-"0 1 2 3 4"}
COVARIATES=${COVARIATES:-temperature,holiday}
# lavapipe's loader complains on every start without it; the native CPU backend runs the model
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
OUT=${OUT:-target/covariates}
mkdir -p "$OUT"
python3 - "$OUT" <<'EOF'
import sys
out = sys.argv[1]
rows = open("tests/data/vic_elec_2014.csv").read().strip().split("\n")
head, body = rows[0], rows[1:]
for name, end in [("train", "2014-11-17T00:00:00Z"), ("full", "2014-12-15T00:00:00Z")]:
    keep = [r for r in body if r.split(",")[1] < end]
    open(f"{out}/{name}.csv", "w").write("\n".join([head] + keep) + "\n")
EOF
for seed in $SEEDS; do
    for variant in none covariates; do
        flags=()
        [ "$variant" = covariates ] && flags=(--covariates "$COVARIATES")
        ck="$OUT/$variant-$seed"
        start=$(date +%s.%N)
        "$SEER" train --data "$OUT/train.csv" --model deepar --out "$ck" --seed "$seed" \
            "${flags[@]}" > "$ck.log" 2>&1
        end=$(date +%s.%N)
        echo "train_seconds $(echo "$end - $start" | bc)" >> "$ck.log"
        "$SEER" eval --checkpoint "$ck" --data "$OUT/full.csv" --horizon 48 --windows 28 \
            --seed "$seed" --json > "$ck.json" 2>> "$ck.log"
    done
done
python3 - "$OUT" $SEEDS <<'EOF'
import json, sys
out, seeds = sys.argv[1], sys.argv[2:]
def row(variant, seed):
    r = json.load(open(f"{out}/{variant}-{seed}.json"))
    by = {x["model"]: x for x in r["results"]}
    s = r["series"][0]
    served = by.get("served", by["deepar"])
    return (by["deepar"]["mase"], s["mean_quantile_loss"], by["deepar"]["coverage_80"],
            served["mase"], by["seasonal_naive"]["mase"], s["seasonal_naive_mean_quantile_loss"])
print("variant     seed  MASE    wQL     cov80  served MASE  naive MASE  naive wQL")
for variant in ["none", "covariates"]:
    rows = [row(variant, s) for s in seeds]
    for s, r in zip(seeds, rows):
        print(f"{variant:11s} {s:4s}  {r[0]:.3f}   {r[1]:.4f}  {r[2]:.2f}   {r[3]:.3f}        {r[4]:.3f}       {r[5]:.4f}")
    mean = [sum(r[i] for r in rows) / len(rows) for i in range(6)]
    print(f"{variant:11s} mean  {mean[0]:.3f}   {mean[1]:.4f}  {mean[2]:.2f}   {mean[3]:.3f}        {mean[4]:.3f}       {mean[5]:.4f}")
EOF
