#!/usr/bin/env bash
# seer's DeepAR on vic_elec (half-hourly Victorian demand) with its defaults, choosing the epoch
# and each series' baseline on one held-out day (--validation-windows 1, the default) against a
# held-out week (--validation-windows 7): BENCHMARKS.md, "Held-out horizons". Protocols P1 and P2 of "DeepAR
# beside GluonTS": train on the points before the first test window, then 14 (P1, 18–31
# December) or 28 (P2, 17 November – 14 December) rolling one-day windows scored by `seer eval`.
#   scripts/validation_windows_vic_elec.sh   (SEER=target/release/seer, SEEDS="0 1 2 3 4",
#                                             VARIANTS="1 7", OUT=target/validation)
set -euo pipefail
cd "$(dirname "$0")/.."
SEER=${SEER:-target/release/seer}
SEEDS=${SEEDS:-"0 1 2 3 4"}
VARIANTS=${VARIANTS:-"1 7"}
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
OUT=${OUT:-target/validation}
mkdir -p "$OUT"
python3 - "$OUT" <<'PY'
import sys
out = sys.argv[1]
rows = open("tests/data/vic_elec_2014.csv").read().strip().split("\n")
head, body = rows[0], rows[1:]
cuts = {"p1-train": "2014-12-18T00:00:00Z", "p1-full": "2015-01-01T00:00:00Z",
        "p2-train": "2014-11-17T00:00:00Z", "p2-full": "2014-12-15T00:00:00Z"}
for name, end in cuts.items():
    keep = [r for r in body if r.split(",")[1] < end]
    open(f"{out}/{name}.csv", "w").write("\n".join([head] + keep) + "\n")
PY
for protocol in p1 p2; do
    windows=$([ "$protocol" = p1 ] && echo 14 || echo 28)
    for seed in $SEEDS; do
        for variant in $VARIANTS; do
            flags=(--validation-windows "$variant")
            ck="$OUT/$protocol-$variant-$seed"
            "$SEER" train --data "$OUT/$protocol-train.csv" --model deepar --out "$ck" \
                --seed "$seed" "${flags[@]}" > "$ck.log" 2>&1
            "$SEER" eval --checkpoint "$ck" --data "$OUT/$protocol-full.csv" --horizon 48 \
                --windows "$windows" --seed "$seed" --json > "$ck.json" 2>> "$ck.log"
        done
    done
done
python3 - "$OUT" "$VARIANTS" $SEEDS <<'PY'
import json, sys
out, variants, seeds = sys.argv[1], sys.argv[2].split(), sys.argv[3:]
def row(protocol, variant, seed):
    r = json.load(open(f"{out}/{protocol}-{variant}-{seed}.json"))
    by = {x["model"]: x for x in r["results"]}
    s = r["series"][0]
    served = by.get("served", by["deepar"])
    return (by["deepar"]["mase"], s["mean_quantile_loss"], by["deepar"]["coverage_80"],
            served["mase"], served.get("mean_quantile_loss", s["mean_quantile_loss"]),
            by["seasonal_naive"]["mase"], s["seasonal_naive_mean_quantile_loss"])
print("protocol variant  seed  MASE    wQL     cov80  served MASE  naive MASE  naive wQL")
for protocol in ["p1", "p2"]:
    for variant in variants:
        rows = [row(protocol, variant, s) for s in seeds]
        for s, r in zip(seeds, rows):
            print(f"{protocol:8s} {variant:8s} {s:4s}  {r[0]:.3f}   {r[1]:.4f}  {r[2]:.2f}   {r[3]:.3f}        {r[5]:.3f}       {r[6]:.4f}")
        mean = [sum(r[i] for r in rows) / len(rows) for i in range(7)]
        print(f"{protocol:8s} {variant:8s} mean  {mean[0]:.3f}   {mean[1]:.4f}  {mean[2]:.2f}   {mean[3]:.3f}        {mean[5]:.3f}       {mean[6]:.4f}")
PY
