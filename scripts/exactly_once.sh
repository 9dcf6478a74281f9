#!/usr/bin/env bash
# Exactly-once on a real Apache Kafka: starts scripts/kafka.sh, then runs
# services/seer/tests/exactly_once.rs (SIGKILL of a transactional ingest mid-replay, restart,
# read_committed check: nothing lost, nothing doubled, each dead letter once).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
export KAFKA_PORT="${KAFKA_PORT:-19092}" KAFKA_STATE="$ROOT/target/kafka-eos"
scripts/kafka.sh start
trap 'scripts/kafka.sh stop' EXIT
SEER_TEST_KAFKA="127.0.0.1:$KAFKA_PORT" SEER_ADAPTER="${SEER_ADAPTER:-auto}" \
    XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}" \
    cargo test -p seer --test exactly_once -- --ignored --nocapture
