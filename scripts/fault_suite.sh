#!/usr/bin/env bash
# The fault suite (services/seer/tests/faults.rs and the security case) on a real Apache Kafka
# from scripts/kafka.sh: kills, restarts, network cuts, rebalances, SIGTERMs and a gateway flood,
# each over a fixed stream (1000 series x 100 points), audited from the output topics alone.
# Writes one JSON line per case to target/faults/report.jsonl and the table for
# docs/reliability.md to target/faults/table.md.
#
#   scripts/fault_suite.sh                 every case (about 15 minutes here)
#   scripts/fault_suite.sh broker_restart  only the named tests (names as in faults.rs)
#
# Environment: SEER_FAULT_SERIES (1000), SEER_FAULT_POINTS (100), SEER_FAULT_CUT_SECONDS (30),
# and the ports of scripts/kafka.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
export KAFKA_STATE="${KAFKA_STATE:-$ROOT/target/kafka-faults}"
export KAFKA_PORT="${KAFKA_PORT:-19092}" KAFKA_PROXIED_PORT="${KAFKA_PROXIED_PORT:-19095}" \
    KAFKA_PROXY_PORT="${KAFKA_PROXY_PORT:-19096}" KAFKA_SASL_PORT="${KAFKA_SASL_PORT:-19094}"
export SEER_ADAPTER="${SEER_ADAPTER:-auto}" XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
cargo build -q -p seer --tests
scripts/kafka.sh start
trap 'scripts/kafka.sh stop' EXIT
export SEER_TEST_KAFKA="127.0.0.1:$KAFKA_PORT"
export SEER_TEST_KAFKA_PROXIED="127.0.0.1:$KAFKA_PROXIED_PORT"
export SEER_TEST_KAFKA_PROXY="127.0.0.1:$KAFKA_PROXY_PORT"
export SEER_TEST_KAFKA_SASL="127.0.0.1:$KAFKA_SASL_PORT" SEER_TEST_KAFKA_CA="$KAFKA_STATE/tls/ca.pem"
mkdir -p target/faults
export SEER_FAULT_REPORT="$ROOT/target/faults/report.jsonl"
rm -f "$SEER_FAULT_REPORT"
started=$SECONDS
cargo test -q --no-fail-fast -p seer --test faults --test security -- --ignored --test-threads=1 --nocapture "$@"
python3 - "$SEER_FAULT_REPORT" "$((SECONDS - started))" "$*" >target/faults/table.md <<'PY'
import json, platform, subprocess, sys, datetime
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"Machine: {cpu}, {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} cores; "
      f"Apache Kafka 4.1.1 (scripts/kafka.sh), debug build. Date: {datetime.date.today()}. "
      f"Command: `scripts/fault_suite.sh {sys.argv[3]}`".rstrip() + f" ({sys.argv[2]} s).\n")
print("| case | guarantee | runs | inputs (series) | forecasts | lost | gaps | duplicates | worst recovery | what |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
for r in rows:
    rec = f"{r['recovery_max_s']:.2f} s" if r.get("recovery_max_s") is not None else "-"
    inputs, out = (f"{r['inputs']} ({r['series']})", r['forecasts'])
    if r['case'] == "gateway-flood":
        inputs, out = (f"{r['inputs']} requests", f"{r['forecasts']} served")
    print(f"| {r['case']} | {r['guarantee']} | {r['runs']} | {inputs} | {out} "
          f"| {r['lost']} | {r['gaps']} | {r['duplicates']} | {rec} | {r['note']} |")
PY
cat target/faults/table.md
