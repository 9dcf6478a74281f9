#!/usr/bin/env bash
# End-to-end test of seer against a REAL Kafka-protocol broker (tansu), not the embedded mock:
#
#   tansu broker  ←  seer replay (CSV of SERIES × POINTS hourly points) + a few poison messages
#        │
#   seer ingest  ──gRPC──▶  seer engine (seasonal naive, or SEER_E2E_MODEL=lstm|tcn|…)
#        │
#   seer.forecasts, seer.dlq, and the ingest group's committed offsets
#
# then checks, with a current librdkafka client (Python confluent-kafka):
#   1. every series got a forecast of its last point (Forecast.latest_observation = its last
#      timestamp; first step one hour later; with the seasonal naive, the exact values: the last
#      24 points repeated);
#   2. every poison message is in seer.dlq once, with the expected `seer-reason` header and a
#      `seer-source` header, and nothing else is there;
#   3. the ingest group's committed offsets reach the end of every observations partition.
# Prints PASS or FAIL (and the logs on failure); exits non-zero on failure. Every background
# process it starts is stopped on exit.
#
# Usage: scripts/e2e_real_broker.sh
# Settings (environment):
#   SEER_E2E_PORT=9092          broker port (must be free: the script starts its own broker)
#   SEER_E2E_ENGINE_PORT=50151  engine gRPC port; metrics on SEER_E2E_METRICS_PORT (9564) and +1
#   SEER_E2E_SERIES=50 SEER_E2E_POINTS=100   the generated data
#   SEER_E2E_MODEL=             empty: seasonal naive; else a `seer model init --type` to serve
#   SEER_E2E_TIMEOUT=180        seconds the checks wait for the pipeline
#   SEER_BIN=target/release/seer  the default one is built (`cargo build --release -p seer`) when
#                                 missing or older than a source file; SEER_E2E_BUILD=1 forces it
#   SEER_E2E_KEEP=1             keep the work directory (data, logs) after a pass
# Needs: tansu (`cargo install tansu --features dynostore`, installed here when missing: about
# 16 minutes of compiling on 2 idle cores, 32 beside another build), python3 with confluent-kafka
# (pip-installed when missing).
# Debian's kcat (librdkafka 2.0) cannot talk to tansu: that is why the clients here are
# librdkafka 2.1x ones (seer's own and confluent-kafka).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

PORT="${SEER_E2E_PORT:-9092}"
ENGINE_PORT="${SEER_E2E_ENGINE_PORT:-50151}"
METRICS_PORT="${SEER_E2E_METRICS_PORT:-9564}"
SERIES="${SEER_E2E_SERIES:-50}"
POINTS="${SEER_E2E_POINTS:-100}"
MODEL="${SEER_E2E_MODEL:-}"
TIMEOUT="${SEER_E2E_TIMEOUT:-180}"
SEER="${SEER_BIN:-$ROOT/target/release/seer}"
BROKER="127.0.0.1:$PORT"
GROUP="seer-e2e-$$"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}" # lavapipe complains without it
export SEER_ADAPTER="${SEER_ADAPTER:-auto}"

WORK="$(mktemp -d /tmp/seer-e2e.XXXXXX)"
PIDS=()
RESULT=FAIL

log() { echo "[e2e $(date +%T)] $*" >&2; }

cleanup() {
    local rc=$?
    # reverse start order: the ingest first (it commits its offsets on SIGTERM), the broker last
    local i pid
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        pid="${PIDS[$i]}"
        kill -0 "$pid" 2>/dev/null || continue
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ "$RESULT" != PASS ]; then
        for f in "$WORK"/*.log; do
            [ -s "$f" ] || continue
            echo "----- last lines of $f -----" >&2
            tail -n 25 "$f" >&2
        done
        echo "FAIL (work directory kept: $WORK)"
        [ "$rc" -eq 0 ] && rc=1
    elif [ "${SEER_E2E_KEEP:-0}" = 1 ]; then
        echo "work directory kept: $WORK"
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_port PORT PID NAME SECONDS: until something listens on PORT, while PID lives
wait_port() {
    local deadline=$((SECONDS + $4))
    until port_open "$1"; do
        kill -0 "$2" 2>/dev/null || { log "$3 exited early"; return 1; }
        [ "$SECONDS" -lt "$deadline" ] || { log "$3 not listening on port $1 after $4 s"; return 1; }
        sleep 0.2
    done
}

# ---- prerequisites ---------------------------------------------------------------------------
TANSU="$(command -v tansu || true)"
[ -n "$TANSU" ] || { [ -x "$HOME/.cargo/bin/tansu" ] && TANSU="$HOME/.cargo/bin/tansu"; } || true
if [ -z "$TANSU" ]; then
    log "tansu not found: cargo install tansu --features dynostore (takes long: ~16 min on 2 idle cores, longer beside other builds)"
    cargo install tansu --features dynostore
    TANSU="$HOME/.cargo/bin/tansu"
fi
TANSU_VERSION="$("$TANSU" --version 2>&1 | head -n1)"
log "broker: $TANSU_VERSION ($TANSU)"

if ! python3 -c 'import confluent_kafka' 2>/dev/null; then
    log "python confluent-kafka missing: pip install confluent-kafka"
    python3 -m pip install --quiet confluent-kafka >"$WORK/pip.log" 2>&1 ||
        { log "could not install confluent-kafka (see $WORK/pip.log): the checks need it"; exit 1; }
fi
log "client: confluent-kafka $(python3 -c 'import confluent_kafka as c; print(c.version(), "librdkafka", c.libversion()[0])')"

# the binary is built when missing, when a source is newer than it (SEER_BIN unset), or on request
stale=""
if [ -z "${SEER_BIN:-}" ] && [ -x "$SEER" ]; then
    stale="$(find services crates proto Cargo.toml Cargo.lock -newer "$SEER" -type f -print -quit 2>/dev/null)"
fi
if [ ! -x "$SEER" ] || [ -n "$stale" ] || [ "${SEER_E2E_BUILD:-0}" = 1 ]; then
    log "building $SEER (cargo build --release -p seer)${stale:+: $stale is newer}"
    cargo build --release -p seer
    SEER="$ROOT/target/release/seer"
fi

for p in "$PORT" "$ENGINE_PORT" "$METRICS_PORT" "$((METRICS_PORT + 1))"; do
    if port_open "$p"; then
        log "port $p is in use: pick free ones with SEER_E2E_PORT / SEER_E2E_ENGINE_PORT / SEER_E2E_METRICS_PORT"
        exit 1
    fi
done

# ---- the checker (Python, confluent-kafka) ---------------------------------------------------
cat >"$WORK/e2e.py" <<'PY'
"""Poison producer and checks of scripts/e2e_real_broker.sh (confluent-kafka + a tiny protobuf
reader for seer.v1.Forecast, so no protoc or generated code is needed)."""
import csv, json, os, struct, sys, time
from confluent_kafka import Consumer, Producer, TopicPartition, OFFSET_BEGINNING

BROKER = os.environ.get("E2E_BROKER", "")
OBS, FC, DLQ = "seer.observations", "seer.forecasts", "seer.dlq"
HOUR = 3600


def read_csv(path):
    series = {}
    with open(path) as f:
        for row in csv.DictReader(f):
            series.setdefault(row["series_id"], []).append((int(row["timestamp"]), float(row["value"])))
    for pts in series.values():
        pts.sort()
    return series


def poison(series):
    """(key, payload, expected seer-reason) of each poison message."""
    ids = sorted(series)
    first_ts = series[ids[0]][0][0]
    last_ts = series[ids[1]][-1][0]
    obs = lambda sid, ts, v=1.0: json.dumps({"series_id": sid, "timestamp": ts, "value": v}).encode()
    return [
        (b"poison-undecodable", b"\xff\xff\xff\xff not protobuf", "undecodable"),
        (b"poison-missing", json.dumps({"series_id": "poison-missing", "value": 1.0}).encode(), "missing_field"),
        (b"poison-nan", obs("poison-nan", first_ts, "NaN"), "non_finite_value"),
        (ids[2].encode(), obs("not-" + ids[2], first_ts), "key_mismatch"),
        (b"poison-future", obs("poison-future", 4102444800), "future_timestamp"),  # 2100-01-01
        (ids[0].encode(), obs(ids[0], first_ts - 1000 * HOUR), "late"),
        (ids[1].encode(), obs(ids[1], last_ts + HOUR // 2), "off_grid"),
    ]


def produce_poison(path):
    p = Producer({"bootstrap.servers": BROKER, "enable.idempotence": True})
    errors = []
    cb = lambda err, msg: errors.append(err) if err else None
    for key, payload, _ in poison(read_csv(path)):
        p.produce(OBS, key=key, value=payload, on_delivery=cb)
    left = p.flush(30)
    if left or errors:
        sys.exit(f"poison not delivered: {left} pending, errors {errors}")
    print(f"produced {len(poison(read_csv(path)))} poison messages", file=sys.stderr)


# --- protobuf wire format, just enough for seer.v1.Forecast ---
def varint(b, i):
    r = s = 0
    while True:
        x = b[i]
        i += 1
        r |= (x & 0x7F) << s
        s += 7
        if x < 0x80:
            return r, i


def fields(b):
    i = 0
    while i < len(b):
        key, i = varint(b, i)
        f, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(b, i)
        elif wt == 1:
            v, i = b[i : i + 8], i + 8
        elif wt == 2:
            n, i = varint(b, i)
            v, i = b[i : i + n], i + n
        elif wt == 5:
            v, i = b[i : i + 4], i + 4
        else:
            raise ValueError(f"unsupported wire type {wt}")
        yield f, wt, v


def timestamp(b):
    secs = 0
    for f, wt, v in fields(b):
        if f == 1 and wt == 0:
            secs = v - (1 << 64) if v >= 1 << 63 else v
    return secs


def decode_forecast(b):
    out = {"series_id": "", "model": "", "timestamps": [], "mean": [], "latest": None,
           "partial": False, "observed": 0}
    for f, wt, v in fields(b):
        if f == 1:
            out["series_id"] = bytes(v).decode()
        elif f == 3:
            out["model"] = bytes(v).decode()
        elif f == 5:
            out["timestamps"].append(timestamp(v))
        elif f == 6:
            out["mean"].extend(struct.unpack(f"<{len(v) // 8}d", v) if wt == 2 else struct.unpack("<d", v))
        elif f == 9:
            out["latest"] = timestamp(v)
        elif f == 10:
            out["partial"] = bool(v)
        elif f == 11:
            out["observed"] = v
    return out


def metrics(url):
    """Prometheus text → {name{labels}: value}."""
    import urllib.request
    out = {}
    for line in urllib.request.urlopen(url, timeout=5).read().decode().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def wait_assigned(url, want, seconds):
    """Until the ingest holds `want` partitions (so the replay streams into a live consumer)."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            m = metrics(url)
            held = m.get('seer_ingest_rebalances_total{kind="assigned"}', 0) - m.get(
                'seer_ingest_rebalances_total{kind="revoked"}', 0)
            if held >= want:
                return 0
        except OSError:
            pass
        time.sleep(0.2)
    print(f"the ingest was not assigned {want} partitions within {seconds} s", file=sys.stderr)
    return 1


def consumer():
    return Consumer({"bootstrap.servers": BROKER, "group.id": f"seer-e2e-check-{os.getpid()}",
                     "enable.auto.commit": False, "enable.partition.eof": False,
                     "auto.offset.reset": "earliest"})


def assign_all(c, topic):
    md = c.list_topics(topic, timeout=10).topics[topic]
    if md.error:
        raise RuntimeError(f"{topic}: {md.error}")
    parts = sorted(md.partitions)
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
    return parts


def check(path):
    series = read_csv(path)
    expect_model = os.environ.get("E2E_MODEL") or "seasonal_naive"
    start_ms = int(os.environ["E2E_REPLAY_START_MS"])
    deadline = time.time() + float(os.environ.get("E2E_TIMEOUT", "180"))
    failures = []

    # 1. a forecast of every series' last point
    last = {sid: pts[-1][0] for sid, pts in series.items()}
    final, count, decode_errors = {}, 0, 0
    c = consumer()
    assign_all(c, FC)
    linger = None  # once every series is in, read on a little to count the forecasts
    while time.time() < deadline and (linger is None or time.time() < linger):
        if linger is None and len(final) == len(series):
            linger = time.time() + 2
        m = c.poll(0.5)
        if m is None or m.error():
            continue
        count += 1
        try:
            f = decode_forecast(m.value())
        except Exception as e:  # noqa: BLE001
            decode_errors += 1
            print(f"undecodable forecast at {m.partition()}/{m.offset()}: {e}", file=sys.stderr)
            continue
        if m.key() != f["series_id"].encode():
            failures.append(f"forecast key {m.key()!r} != series_id {f['series_id']!r}")
        if f["series_id"] in last and f["latest"] == last[f["series_id"]]:
            final[f["series_id"]] = (f, m.timestamp()[1])
    c.close()
    missing = sorted(set(series) - set(final))
    if missing:
        failures.append(f"{len(missing)} of {len(series)} series have no forecast of their last point "
                        f"(e.g. {missing[:5]}); {count} forecasts read")
    if decode_errors:
        failures.append(f"{decode_errors} forecasts could not be decoded")
    naive_checked = 0
    for sid, (f, _) in final.items():
        h = len(f["mean"])
        if h == 0 or len(f["timestamps"]) != h:
            failures.append(f"{sid}: {h} means, {len(f['timestamps'])} timestamps")
            continue
        if f["timestamps"] != [last[sid] + HOUR * (k + 1) for k in range(h)]:
            failures.append(f"{sid}: forecast steps {f['timestamps'][:3]}... do not follow {last[sid]} hourly")
        if f["model"] != expect_model:
            failures.append(f"{sid}: forecast by {f['model']!r}, expected {expect_model!r}")
        if f["model"] == "seasonal_naive":
            values = [v for _, v in series[sid]]
            want = [values[len(values) - 24 + k % 24] for k in range(h)]
            # windows hold single precision: within f32's rounding of each value
            if any(abs(a - b) > 1e-6 * max(1.0, abs(b)) for a, b in zip(f["mean"], want)):
                failures.append(f"{sid}: seasonal naive {f['mean'][:4]}... != last season {want[:4]}...")
            else:
                naive_checked += 1
    partial = sum(1 for f, _ in final.values() if f["partial"])
    if final:
        e2e = (max(t for _, t in final.values()) - start_ms) / 1000
        n_obs = sum(len(p) for p in series.values())
        print(f"forecasts: {len(final)}/{len(series)} series forecast from their last point "
              f"({count} forecast messages read; horizon {len(next(iter(final.values()))[0]['mean'])}; "
              f"{naive_checked} seasonal-naive value checks; {partial} flagged partial_window)")
        print(f"timing: replay start -> last final forecast produced: {e2e:.2f} s "
              f"({n_obs} observations, {n_obs / e2e:.0f} obs/s end to end)")

    # 2. the poison in the dead-letter topic, with its reason
    expected = {(k, v): r for k, v, r in poison(series)}
    got = {}
    c = consumer()
    assign_all(c, DLQ)
    linger = None
    while time.time() < deadline and (linger is None or time.time() < linger):
        m = c.poll(0.5)
        if len(got) >= len(expected) and linger is None:
            linger = time.time() + 3  # catch dead letters that should not be there
        if m is None or m.error():
            continue
        h = {k: (v or b"").decode() for k, v in (m.headers() or [])}
        got.setdefault((m.key(), m.value()), []).append(h)
    c.close()
    for (k, v), reason in expected.items():
        hs = got.get((k, v), [])
        if len(hs) != 1:
            failures.append(f"poison {reason} (key {k!r}): {len(hs)} copies in {DLQ}")
        elif hs[0].get("seer-reason") != reason or not hs[0].get("seer-source", "").startswith(OBS + "/"):
            failures.append(f"poison {reason} (key {k!r}): headers {hs[0]}")
    extra = {kv: hs for kv, hs in got.items() if kv not in expected}
    if extra:
        failures.append(f"{sum(map(len, extra.values()))} unexpected dead letters, e.g. "
                        f"{[(k, hs[0]) for (k, _), hs in list(extra.items())[:3]]}")
    print(f"dead letters: {sum(map(len, got.values()))} in {DLQ}, reasons "
          f"{sorted(h.get('seer-reason', '?') for hs in got.values() for h in hs)}")

    # 3. the ingest group's committed offsets reach the end of every partition. The end is found
    # by reading the partition: tansu 0.6 answers ListOffsets(latest) with the base offset of the
    # partition's last batch + 1, not its last offset + 1, so the watermark cannot be trusted.
    total = sum(len(p) for p in series.values()) + len(expected)
    c = consumer()
    parts = assign_all(c, OBS)
    end, read = {p: 0 for p in parts}, 0
    until = max(deadline, time.time() + 20)  # even when the waits above used up the timeout
    while read < total and time.time() < until:
        m = c.poll(0.5)
        if m is None or m.error():
            continue
        read += 1
        end[m.partition()] = max(end[m.partition()], m.offset() + 1)
    watermark = {p: c.get_watermark_offsets(TopicPartition(OBS, p), timeout=10)[1] for p in parts}
    c.close()
    if read != total:
        failures.append(f"{OBS} holds {read} messages, {total} were produced")
    if watermark != end:
        print(f"note: the broker reports high watermarks {watermark}, the partitions end at {end} "
              f"(tansu 0.6 ListOffsets reports the last batch's base offset + 1)")
    c = Consumer({"bootstrap.servers": BROKER, "group.id": os.environ["E2E_GROUP"],
                  "enable.auto.commit": False})
    tps = [TopicPartition(OBS, p) for p in parts]
    committed = {}
    while True:
        try:
            committed = {tp.partition: tp.offset for tp in c.committed(tps, timeout=10)}
        except Exception as e:  # noqa: BLE001
            print(f"committed offsets: {e}", file=sys.stderr)
        if all(committed.get(p) == end[p] for p in parts) or time.time() >= deadline:
            break
        time.sleep(0.5)
    c.close()
    print("offsets: partition committed/end " +
          " ".join(f"{p}:{committed.get(p)}/{end[p]}" for p in parts) +
          f" (checked {time.time() - start_ms / 1000:.2f} s after replay start)")
    if any(committed.get(p) != end[p] for p in parts):
        failures.append(f"group {os.environ['E2E_GROUP']} committed offsets do not reach the end")

    try:
        m = metrics(os.environ["E2E_INGEST_METRICS"])
        dl = {k.split('"')[1]: int(v) for k, v in m.items() if k.startswith("seer_ingest_dead_letters_total")}
        print(f"ingest metrics: {int(m.get('seer_ingest_observations_total', -1))} observations placed, "
              f"{int(m.get('seer_ingest_forecasts_published_total', -1))} forecasts published, "
              f"{int(m.get('seer_ingest_forecast_latency_seconds_count', -1))} latencies observed, "
              f"dead letters {dl}")
    except (OSError, KeyError, IndexError, ValueError) as e:
        print(f"ingest metrics unavailable: {e}")

    for f in failures:
        print(f"check failed: {f}")
    return 1 if failures else 0


if __name__ == "__main__":
    cmd, path = sys.argv[1], sys.argv[2]
    if cmd == "poison":
        produce_poison(path)
    elif cmd == "wait-assigned":
        sys.exit(wait_assigned(path, int(sys.argv[3]), float(sys.argv[4])))
    elif cmd == "check":
        sys.exit(check(path))
    else:
        sys.exit(f"unknown command {cmd}")
PY

# ---- broker and topics -----------------------------------------------------------------------
log "starting tansu on $BROKER (memory storage)"
"$TANSU" broker \
    --listener-url "tcp://$BROKER" \
    --advertised-listener-url "tcp://$BROKER" \
    --storage-engine memory://tansu/ >"$WORK/tansu.log" 2>&1 &
PIDS+=($!)
wait_port "$PORT" "${PIDS[-1]}" tansu 60
for t in seer.observations:3 seer.forecasts:3 seer.dlq:1; do
    "$TANSU" topic create "${t%%:*}" --partitions "${t##*:}" --broker "tcp://$BROKER" \
        >>"$WORK/topics.log" 2>&1 || { log "creating topic ${t%%:*} failed"; exit 1; }
done
log "topics created: seer.observations (3), seer.forecasts (3), seer.dlq (1)"

# ---- engine and ingest -----------------------------------------------------------------------
engine_args=(--listen "127.0.0.1:$ENGINE_PORT" --metrics-listen "127.0.0.1:$METRICS_PORT")
if [ -n "$MODEL" ]; then
    "$SEER" model init --type "$MODEL" --seed 1 --out "$WORK/models/$MODEL" >"$WORK/model-init.log" 2>&1
    engine_args+=(--models "$WORK/models")
fi
log "starting seer engine (${MODEL:-seasonal naive}) on 127.0.0.1:$ENGINE_PORT"
"$SEER" engine "${engine_args[@]}" >"$WORK/engine.log" 2>&1 &
PIDS+=($!)
wait_port "$ENGINE_PORT" "${PIDS[-1]}" "seer engine" 120

log "starting seer ingest (group $GROUP)"
"$SEER" ingest --brokers "$BROKER" --engine "http://127.0.0.1:$ENGINE_PORT" --group "$GROUP" \
    --metrics-listen "127.0.0.1:$((METRICS_PORT + 1))" >"$WORK/ingest.log" 2>&1 &
PIDS+=($!)
wait_port "$((METRICS_PORT + 1))" "${PIDS[-1]}" "seer ingest" 60

# ---- data: SERIES × POINTS hourly points from 2025-01-01, a daily cycle plus a per-series level
awk -v n="$SERIES" -v pts="$POINTS" 'BEGIN {
    print "series_id,timestamp,value"
    for (s = 0; s < n; s++)
        for (t = 0; t < pts; t++)
            printf "s%03d,%d,%.3f\n", s, 1735689600 + 3600 * t, \
                10 * (s + 1) + 5 * sin(6.283185307 * t / 24 + s) + ((t * 7 + s * 13) % 11) / 10
}' >"$WORK/series.csv"
log "data: $SERIES series × $POINTS hourly points ($WORK/series.csv)"

INGEST_METRICS="http://127.0.0.1:$((METRICS_PORT + 1))/metrics"
python3 "$WORK/e2e.py" wait-assigned "$INGEST_METRICS" 3 60 ||
    { log "the ingest did not join its group"; exit 1; }
log "the ingest holds the 3 observations partitions; replaying"

REPLAY_START_MS="$(date +%s%3N)"
"$SEER" replay --data "$WORK/series.csv" --brokers "$BROKER" --rate 0 2>&1 | tee "$WORK/replay.log" >&2
E2E_BROKER="$BROKER" python3 "$WORK/e2e.py" poison "$WORK/series.csv"

# ---- checks ----------------------------------------------------------------------------------
log "checking (up to ${TIMEOUT}s)"
for i in "${!PIDS[@]}"; do
    kill -0 "${PIDS[$i]}" 2>/dev/null || { log "a background process (pid ${PIDS[$i]}) has exited"; exit 1; }
done
# in the background so that a SIGTERM to this script stops it at once (the trap waits for
# foreground commands)
E2E_BROKER="$BROKER" E2E_GROUP="$GROUP" E2E_MODEL="$MODEL" E2E_TIMEOUT="$TIMEOUT" \
    E2E_INGEST_METRICS="$INGEST_METRICS" E2E_REPLAY_START_MS="$REPLAY_START_MS" \
    python3 "$WORK/e2e.py" check "$WORK/series.csv" >"$WORK/result.txt" 2>&1 &
PIDS+=($!)
status=0
wait "${PIDS[-1]}" || status=$?
cat "$WORK/result.txt"
if [ "$status" -eq 0 ]; then
    RESULT=PASS
    echo "PASS: seer end to end on $TANSU_VERSION ($SERIES series × $POINTS points, ${MODEL:-seasonal naive})"
fi
exit "$status"
