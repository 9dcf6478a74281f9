#!/usr/bin/env bash
# seer beside the Python glue pipeline users run today (../shared/bench/peer_pipeline.py:
# confluent-kafka, per-series dict windows, micro-batches through a PyTorch LSTM 1x32 on the CPU),
# on one broker in one run, on the same shapes of data: the raw consume rate, the peer, seer with
# the seasonal naive and seer with its LSTM 1x32, at 1000 x 100 and 10 000 x 100 (series x
# points). Reports events/s and forecasts per event for each (a pipeline that forecasts less
# often is not faster).
#
#   scripts/bench_peer.sh                    Apache Kafka 4.1.1 from scripts/kafka.sh
#   BENCH_BROKER=HOST:PORT scripts/bench_peer.sh   a broker that is already running (e.g. tansu)
#
# Environment: BENCH_SIZES ("1000:100 10000:100"), BENCH_PEER (the peer script's path),
# SEER_BIN (default: target/release/seer, built if missing), BENCH_SEER_ARGS (extra flags for
# `seer bench pipeline`, e.g. "--max-batch 256 --max-delay-ms 5" to forecast more often),
# BENCH_SEER_MODEL (both | naive | lstm), BENCH_SEER_FLOOR (seer's ingest.max_points_per_forecast;
# default: the largest N at which seer, forecasting every series at least every N points, forecasts
# at least as often per event as the peer just did; 0 when the peer failed). The peer's Python (torch, numpy,
# confluent-kafka) lives in target/peer-venv, made on first use (PyPI; torch is ~5 GB).
# Writes target/bench-peer/report.jsonl and target/bench-peer/table.md.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
PEER="${BENCH_PEER:-$ROOT/../shared/bench/peer_pipeline.py}"
SIZES="${BENCH_SIZES:-1000:100 10000:100}"
SEER="${SEER_BIN:-$ROOT/target/release/seer}"
OUT="$ROOT/target/bench-peer"
export SEER_ADAPTER="${SEER_ADAPTER:-auto}" XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
[ -f "$PEER" ] || { echo "bench_peer.sh: no peer script at $PEER" >&2; exit 1; }
if [ ! -x target/peer-venv/bin/python ] ||
    ! target/peer-venv/bin/python -c 'import torch, numpy, confluent_kafka' 2>/dev/null; then
    python3 -m venv target/peer-venv
    target/peer-venv/bin/pip install -q torch numpy confluent-kafka
fi
[ -x "$SEER" ] || cargo build --release -p seer
if [ -z "${BENCH_BROKER:-}" ]; then
    export KAFKA_STATE="$ROOT/target/kafka-bench"
    scripts/kafka.sh start
    trap 'scripts/kafka.sh stop' EXIT
    BENCH_BROKER="127.0.0.1:${KAFKA_PORT:-19092}"
fi
mkdir -p "$OUT"
rm -f "$OUT/report.jsonl"
for size in $SIZES; do
    series="${size%%:*}" points="${size##*:}"
    echo "bench_peer.sh: $series series x $points points: the Python peer" >&2
    # the peer's producer overflows librdkafka's queue at 10 000 series (it polls only past
    # 100 000 queued messages, the queue's own limit): record that and go on with seer
    peer=$(target/peer-venv/bin/python "$PEER" "$BENCH_BROKER" "$series" "$points" | tail -n 1) ||
        peer='{"failed": "the peer script exited with an error (see its output above)"}'
    [ -n "$peer" ] || peer='{"failed": "the peer script printed nothing"}'
    # like for like: seer forecasts at least as often per event as the peer (a cadence floor of
    # N points gives at least one forecast per N events)
    floor="${BENCH_SEER_FLOOR:-$(python3 -c 'import json, sys
p = json.loads(sys.argv[1]); f = p.get("forecasts", 0) / max(p.get("events", 1), 1)
print(max(1, int(1 / f)) if f > 0 else 0)' "$peer")}"
    echo "bench_peer.sh: $series series x $points points: seer (seasonal naive, LSTM 1x32), cadence floor $floor" >&2
    "$SEER" bench pipeline --brokers "$BENCH_BROKER" --events $((series * points)) \
        --series "$series" --model "${BENCH_SEER_MODEL:-both}" --reps 1 --latency-secs 2 \
        --max-points-per-forecast "$floor" ${BENCH_SEER_ARGS:-} \
        --json --out "$OUT/seer.json" >/dev/null
    python3 - "$peer" "$OUT/seer.json" >>"$OUT/report.jsonl" <<'PY'
import json, sys
peer, seer = json.loads(sys.argv[1]), json.load(open(sys.argv[2]))
print(json.dumps({"series": seer["series"], "points": seer["points_per_series"], "broker": seer["broker"],
                  "adapter": seer["adapter"], "loadavg": seer["loadavg_before"], "peer": peer, "seer": seer}))
PY
done
python3 - "$OUT/report.jsonl" >"$OUT/table.md" <<'PY'
import json, sys, datetime, subprocess
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
cores = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
print(f"{datetime.date.today()}, {cpu}, {cores} cores; broker: {rows[0]['broker']}; seer adapter: {rows[0]['adapter']}.\n")
print("| data (series × points) | pipeline | events/s | forecasts | forecasts per event | × peer events/s | × raw consume |")
print("|---|---|---:|---:|---:|---:|---:|")
for r in rows:
    p, s, n = r["peer"], r["seer"], r["series"] * r["points"]
    peer_eps = p.get("pipeline_events_per_s")
    data = f"{r['series']} × {r['points']}"
    raw = s["raw_consume"]["base_consumer_events_per_second"]
    print(f"| {data} | raw consume (seer's librdkafka BaseConsumer) | {raw:,.0f} | – | – | – | 1 |")
    if peer_eps is None:
        print(f"| {data} | Python peer | failed: {p.get('failed', '?')} | – | – | – | – |")
    else:
        print(f"| {data} | raw consume (peer, confluent-kafka) | {p['raw_consume_events_per_s']:,} | – | – | – | – |")
        print(f"| {data} | Python peer, torch LSTM 1×32 (CPU) | {peer_eps:,} | {p['forecasts']:,} | {p['forecasts'] / n:.3f} | 1 | {peer_eps / raw:.2f} |")
    for pl in s["pipelines"]:
        name = {"seasonal_naive": "seer, seasonal naive"}.get(pl["model"], f"seer, {pl['model']} (LSTM 1×32)")
        floor = s.get("ingest_config", {}).get("max_points_per_forecast", 0)
        name += f", floor {floor}" if floor else ", no floor"
        eps = pl["events_per_second"]
        vs = f"{eps / peer_eps:.2f}" if peer_eps else "–"
        print(f"| {data} | {name} | {eps:,.0f} | {pl['forecasts_read']:,} | {pl['forecasts_read'] / n:.3f} | {vs} | {eps / raw:.2f} |")
PY
cat "$OUT/table.md"
