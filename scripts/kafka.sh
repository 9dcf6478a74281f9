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
#   scripts/kafka.sh restart             stop, then start on the same log dirs (data kept)
#   scripts/kafka.sh status              "running on 127.0.0.1:PORT (pid N)" or exit 1
#
# Environment: KAFKA_VERSION (4.1.1), KAFKA_PORT (19092), KAFKA_CONTROLLER_PORT (19093),
# KAFKA_SASL_PORT (19094), KAFKA_PROXIED_PORT (19095), KAFKA_PROXY_PORT (19096),
# KAFKA_STATE (where the pid and work dir are remembered; default target/kafka),
# KAFKA_START_TIMEOUT seconds (90), KAFKA_KEEP_DATA=1 (start on the existing log dirs: a restart).
#
# Listeners on 127.0.0.1:
#   $KAFKA_PORT          PLAINTEXT
#   $KAFKA_SASL_PORT     SASL_SSL: SCRAM-SHA-512 or PLAIN, user "seer", password "seer-secret";
#                        the CA to trust is $KAFKA_STATE/tls/ca.pem
#   $KAFKA_PROXIED_PORT  PLAINTEXT, but advertised as $KAFKA_PROXY_PORT: a client bootstrapped
#                        through a proxy on that port keeps every connection on the proxy, so the
#                        fault suite can cut the network between it and the broker
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
KAFKA_VERSION="${KAFKA_VERSION:-4.1.1}"
LOG4J2_VERSION="${LOG4J2_VERSION:-2.24.3}"
KAFKA_HOME="${KAFKA_HOME:-$HOME/.cache/seer-kafka/$KAFKA_VERSION}"
KAFKA_PORT="${KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-19093}"
KAFKA_SASL_PORT="${KAFKA_SASL_PORT:-19094}"
KAFKA_PROXIED_PORT="${KAFKA_PROXIED_PORT:-19095}"
KAFKA_PROXY_PORT="${KAFKA_PROXY_PORT:-19096}"
KAFKA_SASL_USER="${KAFKA_SASL_USER:-seer}"
KAFKA_SASL_PASSWORD="${KAFKA_SASL_PASSWORD:-seer-secret}"
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

# A CA and a broker certificate for 127.0.0.1/localhost (made once per state dir), and the
# broker's PKCS12 keystore.
tls() {
    local d="$KAFKA_STATE/tls"
    [ -f "$d/broker.p12" ] && return 0
    mkdir -p "$d"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=seer test CA" \
        -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
        -keyout "$d/broker.key" -out "$d/broker.csr" 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$d/san.ext"
    openssl x509 -req -in "$d/broker.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
        -days 3650 -extfile "$d/san.ext" -out "$d/broker.pem" 2>/dev/null
    openssl pkcs12 -export -in "$d/broker.pem" -inkey "$d/broker.key" -certfile "$d/ca.pem" \
        -name broker -passout pass:seer-keystore -out "$d/broker.p12"
}

start() {
    if running; then
        echo "kafka.sh: already running on 127.0.0.1:$KAFKA_PORT (pid $(pid))"
        return 0
    fi
    fetch
    local work="${1:-$KAFKA_STATE/work}"
    if [ "${KAFKA_KEEP_DATA:-0}" = 1 ] && [ -f "$work/data/meta.properties" ]; then
        # a restart: same log dirs, so topics, offsets and transactions survive
        "$JAVA" -Dkafka.logs.dir="$work/logs" -Dlog4j2.configurationFile="$work/log4j2.yaml" \
            -Xms256m -Xmx1g -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
            -cp "$KAFKA_HOME/libs/*" kafka.Kafka "$work/server.properties" >>"$work/logs/kafka.out" 2>&1 &
        echo $! >"$KAFKA_STATE/pid"
        wait_ready "$work"
        return
    fi
    rm -rf "$work" && mkdir -p "$work/data" "$work/logs" "$KAFKA_STATE"
    tls
    cat >"$work/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT,SASL_SSL://127.0.0.1:$KAFKA_SASL_PORT,PROXIED://127.0.0.1:$KAFKA_PROXIED_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT,SASL_SSL://127.0.0.1:$KAFKA_SASL_PORT,PROXIED://127.0.0.1:$KAFKA_PROXY_PORT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,PROXIED:PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$KAFKA_SASL_USER="$KAFKA_SASL_PASSWORD";
ssl.keystore.type=PKCS12
ssl.keystore.location=$KAFKA_STATE/tls/broker.p12
ssl.keystore.password=seer-keystore
ssl.key.password=seer-keystore
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
        -t "$KAFKA_CLUSTER_ID" -c "$work/server.properties" \
        --add-scram "SCRAM-SHA-512=[name=$KAFKA_SASL_USER,password=\"$KAFKA_SASL_PASSWORD\"]" \
        >"$work/logs/format.out" 2>&1 ||
        { cat "$work/logs/format.out" >&2; return 1; }
    "$JAVA" -Xms256m -Xmx1g -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
        -Djava.awt.headless=true "${jopts[@]}" kafka.Kafka "$work/server.properties" \
        >"$work/logs/kafka.out" 2>&1 &
    echo $! >"$KAFKA_STATE/pid"
    echo "$work" >"$KAFKA_STATE/workdir"
    wait_ready "$work"
}

wait_ready() {
    local work="$1"
    local started=$SECONDS deadline=$((SECONDS + ${KAFKA_START_TIMEOUT:-90}))
    # the client port opens only once the broker is fully up
    until (exec 3<>"/dev/tcp/127.0.0.1/$KAFKA_PORT") 2>/dev/null; do
        running || { tail -n 40 "$work/logs/server.log" >&2 2>/dev/null; echo "kafka.sh: broker exited" >&2; return 1; }
        [ "$SECONDS" -lt "$deadline" ] || { echo "kafka.sh: not up after ${KAFKA_START_TIMEOUT:-90}s" >&2; return 1; }
        sleep 0.2
    done
    echo "kafka.sh: Apache Kafka $KAFKA_VERSION on 127.0.0.1:$KAFKA_PORT (SASL_SSL $KAFKA_SASL_PORT, proxied $KAFKA_PROXIED_PORT as $KAFKA_PROXY_PORT; pid $(pid), ready in $((SECONDS - started)) s, logs $work/logs)"
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
    restart) stop; KAFKA_KEEP_DATA=1 start ;;
    topics) shift; topics "$@" ;;
    tool) shift; tool "$@" ;;
    status) running && echo "running on 127.0.0.1:$KAFKA_PORT (pid $(pid))" || { echo "not running"; exit 1; } ;;
    *) sed -n '2,28p' "$0"; exit 2 ;;
esac
