#!/usr/bin/env bash
# Single-node KRaft Kafka on loopback, assembled from Maven Central jars.
# Usage: kafka.sh {install|start|stop}
set -euo pipefail
SVC=kafka
source "$(dirname "$0")/lib.sh"

KAFKA_VERSION=${KAFKA_VERSION:-4.1.2}
LOG4J_VERSION=${LOG4J_VERSION:-2.24.3}
KAFKA_PORT=${KAFKA_PORT:-19092}
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-19093}
LIB="$INFRA_CACHE/kafka-$KAFKA_VERSION/lib"
DIR="$INFRA_STATE/kafka"
PIDF="$DIR/kafka.pid"
LOGS="$DIR/server.log $DIR/stdout.log"

install() {
  [ -f "$LIB/.complete" ] && { log "kafka $KAFKA_VERSION already installed"; return; }
  command -v mvn >/dev/null || die "mvn not found"
  log "resolving kafka_2.13:$KAFKA_VERSION + deps from Maven Central"
  local build="$INFRA_CACHE/kafka-$KAFKA_VERSION/pom"
  mkdir -p "$build"
  # kafka_2.13 depends on slf4j-api 1.7.x, so the matching log4j2 binding is log4j-slf4j-impl (not slf4j2-impl).
  cat >"$build/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.chat</groupId><artifactId>kafka-runtime</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>$LOG4J_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>$LOG4J_VERSION</version></dependency>
  </dependencies>
</project>
POM
  rm -rf "$LIB"
  logged "$build/mvn.log" timeout 600 mvn -B -Dstyle.color=never -f "$build/pom.xml" \
    -Dmaven.repo.local="$INFRA_CACHE/m2" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$LIB"
  touch "$LIB/.complete"
  log "installed $(find "$LIB" -name "*.jar" | wc -l) jars into $LIB"
}

ready() { grep -q 'Kafka Server started' "$DIR/server.log" && port_open "$KAFKA_PORT"; }

start() {
  if pid_alive "$PIDF"; then log "already running (pid $(cat "$PIDF"))"; return; fi
  [ -f "$LIB/.complete" ] || with_lock kafka install
  ensure_port_free "$KAFKA_PORT"
  ensure_port_free "$KAFKA_CONTROLLER_PORT"
  mkdir -p "$DIR/data"
  # Static voter list (not --standalone/bootstrap.servers): the controller port isn't baked into
  # the metadata log, so a restart with another KAFKA_CONTROLLER_PORT still works.
  cat >"$DIR/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$DIR/data
num.partitions=4
auto.create.topics.enable=false
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
min.insync.replicas=1
group.initial.rebalance.delay.ms=0
# Threads for one broker on a small machine (defaults 3 / 8 / 10): on 2 cores, 40 teams x 1,000 msg/s,
# Kafka's CPU 44 -> 39 % and delivery p99 64-75 -> 52-60 ms (bench/README.md).
num.network.threads=1
num.io.threads=2
background.threads=2
PROPS
  cat >"$DIR/log4j2.properties" <<L4J
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = $DIR/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.kafka.name = kafka
logger.kafka.level = WARN
logger.apache.name = org.apache.kafka
logger.apache.level = WARN
logger.server.name = kafka.server.KafkaRaftServer
logger.server.level = INFO
L4J
  # C1-only JIT: faster start-up on a 2-core box; throughput is irrelevant for tests.
  local java=(java -Xms256m -Xmx512m -XX:+UseG1GC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true
              "-Dlog4j2.configurationFile=$DIR/log4j2.properties" -cp "$LIB/*")
  if [ ! -f "$DIR/data/meta.properties" ]; then
    # 16 random bytes, base64url without padding == Kafka's Uuid string form; saves a JVM start.
    # (A leading "-" would be parsed as an option, so draw again.)
    local cluster_id=-
    while [[ $cluster_id == -* ]]; do cluster_id=$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '='); done
    log "formatting storage (cluster id $cluster_id)"
    "${java[@]}" kafka.tools.StorageTool format -t "$cluster_id" -c "$DIR/server.properties" \
      >>"$DIR/stdout.log" 2>&1 || { tail -n 20 "$DIR/stdout.log" >&2; die "storage format failed"; }
  fi
  log "starting on 127.0.0.1:$KAFKA_PORT"
  : >"$DIR/server.log"
  start_bg "$PIDF" "$DIR/stdout.log" "${java[@]}" kafka.Kafka "$DIR/server.properties"
  # The port opens before the broker is unfenced; "Kafka Server started" is logged only after that.
  wait_for "${KAFKA_START_TIMEOUT:-90}" "$PIDF" "$LOGS" ready || die "start failed (logs: $DIR)"
  log "ready (pid $(cat "$PIDF"))"
}

case "${1:-}" in
  install) with_lock kafka install ;;
  start) start ;;
  stop) stop_pid "$PIDF" 30 ;;
  *) echo "usage: $0 {install|start|stop}" >&2; exit 2 ;;
esac
