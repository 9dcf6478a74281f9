#!/usr/bin/env bash
# A real Apache Kafka 4.x broker (single node, KRaft combined broker + controller) from Maven
# Central jars on the machine's Java 17: no tarball, no container. Every real-broker script uses
# it. Settings are those a one-broker cluster needs for transactions (replication factor 1 for the
# offsets and transaction state topics).
#
#   scripts/kafka.sh start [WORKDIR]     fetch the jars once (cached), format, start, wait until ready
#   scripts/kafka.sh topics NAME:PARTITIONS...   create topics (existing ones are fine)
#   scripts/kafka.sh tool CLASS ARGS...  run a Kafka CLI class (TopicCommand, TransactionsCommand...)
#   scripts/kafka.sh stop                controlled shutdown (SIGTERM), then the work dir stays
#   scripts/kafka.sh status              "running on 127.0.0.1:PORT (pid N)" or exit 1
#
# Environment: KAFKA_VERSION (4.1.1), KAFKA_PORT (19092), KAFKA_CONTROLLER_PORT (19093),
# KAFKA_STATE (where the pid and work dir are remembered; default target/kafka),
# KAFKA_START_TIMEOUT seconds (90). The broker listens on 127.0.0.1:$KAFKA_PORT.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
KAFKA_VERSION="${KAFKA_VERSION:-4.1.1}"
LOG4J2_VERSION="${LOG4J2_VERSION:-2.24.3}"
KAFKA_HOME="${KAFKA_HOME:-$HOME/.cache/seer-kafka/$KAFKA_VERSION}"
KAFKA_PORT="${KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-19093}"
KAFKA_CLUSTER_ID="${KAFKA_CLUSTER_ID:-MkU3OEVBNTcwNTJENDM2Qk}"
KAFKA_STATE="${KAFKA_STATE:-$ROOT/target/kafka}"
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"

fetch() {
    [ -f "$KAFKA_HOME/libs/.complete" ] && return 0
    rm -rf "$KAFKA_HOME/libs" && mkdir -p "$KAFKA_HOME"
    printf '%s\n' 'Configuration:' '  status: warn' '  Appenders:' '    Console:' '      name: STDERR' \
        '      target: SYSTEM_ERR' '      PatternLayout: {pattern: "[%d] %p %m (%c)%n"}' '  Loggers:' \
        '    Root:' '      level: WARN' '      AppenderRef: [{ref: STDERR}]' >"$KAFKA_HOME/tools-log4j2.yaml"
    echo "kafka.sh: fetching Apache Kafka $KAFKA_VERSION from Maven Central (once)" >&2
    mvn -B -q -f "$ROOT/tools/kafka/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
        -Dlog4j2.version="$LOG4J2_VERSION" dependency:copy-dependencies -DincludeScope=runtime \
        -DoutputDirectory="$KAFKA_HOME/libs"
    # not a .jar, so invisible to -cp 'libs/*'
    touch "$KAFKA_HOME/libs/.complete"
}

pid() { cat "$KAFKA_STATE/pid" 2>/dev/null || true; }

running() { local p; p="$(pid)"; [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }

start() {
    if running; then
        echo "kafka.sh: already running on 127.0.0.1:$KAFKA_PORT (pid $(pid))"
        return 0
    fi
    fetch
    local work="${1:-$KAFKA_STATE/work}"
    rm -rf "$work" && mkdir -p "$work/data" "$work/logs" "$KAFKA_STATE"
    cat >"$work/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$work/data
num.partitions=3
default.replication.factor=1
auto.create.topics.enable=false
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
PROPS
    cat >"$work/log4j2.yaml" <<'LOG'
Configuration:
  status: warn
  Appenders:
    File:
      name: ServerLog
      fileName: "${sys:kafka.logs.dir}/server.log"
      PatternLayout: {pattern: "[%d] %p %m (%c)%n"}
  Loggers:
    Root:
      level: INFO
      AppenderRef: [{ref: ServerLog}]
    Logger:
      - {name: kafka.request.logger, level: WARN}
      - {name: state.change.logger, level: WARN}
LOG
    local jopts=(-Dkafka.logs.dir="$work/logs" -Dlog4j2.configurationFile="$work/log4j2.yaml"
        -cp "$KAFKA_HOME/libs/*")
    "$JAVA" -Xmx256m "${jopts[@]}" kafka.tools.StorageTool format --standalone \
        -t "$KAFKA_CLUSTER_ID" -c "$work/server.properties" >"$work/logs/format.out" 2>&1 ||
        { cat "$work/logs/format.out" >&2; return 1; }
    "$JAVA" -Xms256m -Xmx1g -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
        -Djava.awt.headless=true "${jopts[@]}" kafka.Kafka "$work/server.properties" \
        >"$work/logs/kafka.out" 2>&1 &
    echo $! >"$KAFKA_STATE/pid"
    echo "$work" >"$KAFKA_STATE/workdir"
    local started=$SECONDS deadline=$((SECONDS + ${KAFKA_START_TIMEOUT:-90}))
    # the client port opens only once the broker is fully up
    until (exec 3<>"/dev/tcp/127.0.0.1/$KAFKA_PORT") 2>/dev/null; do
        running || { tail -n 40 "$work/logs/server.log" >&2 2>/dev/null; echo "kafka.sh: broker exited" >&2; return 1; }
        [ "$SECONDS" -lt "$deadline" ] || { echo "kafka.sh: not up after ${KAFKA_START_TIMEOUT:-90}s" >&2; return 1; }
        sleep 0.2
    done
    echo "kafka.sh: Apache Kafka $KAFKA_VERSION on 127.0.0.1:$KAFKA_PORT (pid $(pid), ready in $((SECONDS - started)) s, logs $work/logs)"
}

stop() {
    running || { rm -f "$KAFKA_STATE/pid"; return 0; }
    local p; p="$(pid)"
    # SIGTERM: controlled shutdown through the broker's shutdown hook
    kill -TERM "$p" 2>/dev/null || true
    for _ in $(seq 150); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$p" 2>/dev/null || true
    rm -f "$KAFKA_STATE/pid"
    echo "kafka.sh: stopped"
}

tool() {
    fetch
    local class="$1"; shift
    "$JAVA" -Xmx256m -Dlog4j2.configurationFile="$KAFKA_HOME/tools-log4j2.yaml" \
        -cp "$KAFKA_HOME/libs/*" "$class" --bootstrap-server "127.0.0.1:$KAFKA_PORT" "$@"
}

topics() {
    local t
    for t in "$@"; do
        tool org.apache.kafka.tools.TopicCommand --create --if-not-exists \
            --topic "${t%%:*}" --partitions "${t##*:}" --replication-factor 1
    done
}

case "${1:-}" in
    start) shift; start "$@" ;;
    stop) stop ;;
    topics) shift; topics "$@" ;;
    tool) shift; tool "$@" ;;
    status) running && echo "running on 127.0.0.1:$KAFKA_PORT (pid $(pid))" || { echo "not running"; exit 1; } ;;
    *) sed -n '2,17p' "$0"; exit 2 ;;
esac
