# Shared set-up for Sluice's scripts. Source it; every step is idempotent.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
WASM_TARGET=wasm32-unknown-unknown

log() { printf '==> %s\n' "$*" >&2; }

# The bare wasm target the transforms are built for.
ensure_wasm_target() {
  if ! rustup target list --installed | grep -qx "$WASM_TARGET"; then
    log "installing the rustup target $WASM_TARGET"
    rustup target add "$WASM_TARGET"
  fi
}

# Apache Kafka, the suite's, the demo's and the bench's broker: the
# org.apache.kafka:kafka_2.13 jar and its runtime dependencies, resolved by
# Maven from scripts/kafka/pom.xml into .tools/kafka/libs. A stamp holding
# the pom's hash makes a second call instant and a changed pom re-resolve.
# Kafka 4.x brokers need Java 17 or newer.
KAFKA_HOME="$TOOLS/kafka"
export KAFKA_LIBS="${KAFKA_LIBS:-$KAFKA_HOME/libs}"
ensure_kafka() {
  local stamp="$KAFKA_LIBS/.resolved" want
  want="$(sha256sum "$ROOT/scripts/kafka/pom.xml" | cut -d' ' -f1)"
  if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then return; fi
  command -v java >/dev/null || { log "error: java (17 or newer) is not installed"; return 1; }
  command -v mvn >/dev/null || { log "error: mvn (Maven) is not installed"; return 1; }
  log "resolving Apache Kafka with Maven into $KAFKA_LIBS"
  rm -rf "$KAFKA_LIBS.tmp"
  mvn -q -B -Dstyle.color=never -f "$ROOT/scripts/kafka/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$KAFKA_LIBS.tmp"
  rm -rf "$KAFKA_LIBS"
  mv "$KAFKA_LIBS.tmp" "$KAFKA_LIBS"
  echo "$want" >"$stamp"
}

# Runs a Kafka main class ($1) from .tools/kafka/libs with the small heap
# of scripts/kafka/jvm.options, logging to $KAFKA_LOG_DIR/server.log.
kafka_java() {
  local opts
  mapfile -t opts <"$ROOT/scripts/kafka/jvm.options"
  java "${opts[@]}" -cp "$KAFKA_LIBS/*" \
    -Dlog4j2.configurationFile="$ROOT/scripts/kafka/log4j2.xml" \
    -Dkafka.logs.dir="${KAFKA_LOG_DIR:?}" "$@"
}

# Starts a single-node KRaft broker (broker and controller in one JVM) with
# its data and logs in DIR ($1) on free loopback ports, and waits until it
# answers metadata (needs target/release/sluice-kafka: call build_host
# first). Sets KAFKA_BOOTSTRAP and KAFKA_PID; stop it with stop_kafka.
start_kafka() {
  local dir="$1" port cport started
  port="$(free_port)" cport="$(free_port)"
  mkdir -p "$dir"
  {
    cat "$ROOT/scripts/kafka/server.properties"
    echo "node.id=1"
    echo "listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport"
    echo "advertised.listeners=PLAINTEXT://127.0.0.1:$port"
    echo "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
    echo "controller.quorum.bootstrap.servers=127.0.0.1:$cport"
    echo "log.dirs=$dir/data"
  } >"$dir/server.properties"
  export KAFKA_LOG_DIR="$dir"
  KAFKA_BOOTSTRAP="127.0.0.1:$port"
  log "starting Apache Kafka on $KAFKA_BOOTSTRAP (log: $dir/server.log)"
  started="$(date +%s%3N)"
  kafka_java kafka.tools.StorageTool format --standalone --ignore-formatted \
    --cluster-id "$(kafka_cluster_id)" --config "$dir/server.properties" >"$dir/format.log" 2>&1 ||
    { cat "$dir/format.log" >&2; return 1; }
  kafka_java kafka.Kafka "$dir/server.properties" >"$dir/stdout.log" 2>&1 &
  KAFKA_PID=$!
  if ! "$ROOT/target/release/sluice-kafka" wait-ready "$KAFKA_BOOTSTRAP" 120; then
    tail -n 20 "$dir/server.log" "$dir/stdout.log" >&2
    stop_kafka
    return 1
  fi
  log "Kafka is ready after $(($(date +%s%3N) - started)) ms"
}

# A KRaft cluster id: 16 random bytes, base64url without padding.
kafka_cluster_id() {
  python3 -c 'import base64,os; print(base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("="))'
}

# Stops the broker start_kafka started: SIGTERM, then SIGKILL after 30 s.
stop_kafka() {
  [ -n "${KAFKA_PID:-}" ] || return 0
  kill -TERM "$KAFKA_PID" 2>/dev/null || true
  local i
  for i in $(seq 1 300); do
    kill -0 "$KAFKA_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$KAFKA_PID" 2>/dev/null || true
  wait "$KAFKA_PID" 2>/dev/null || true
  KAFKA_PID=""
}

# Builds the transform modules to target/transforms/<name>.wasm.
build_transforms() {
  ensure_wasm_target
  log "building transforms to target/transforms/"
  (cd "$ROOT" && cargo build --quiet --profile wasm --target "$WASM_TARGET" -p sql -p invoice_by_store -p fault_injector)
  mkdir -p "$ROOT/target/transforms"
  for name in sql invoice_by_store fault_injector; do
    cp "$ROOT/target/$WASM_TARGET/wasm/$name.wasm" "$ROOT/target/transforms/$name.wasm"
  done
}

# Builds the host and the helper tools the demo, tests and bench use.
build_host() {
  log "building sluice (release)"
  (cd "$ROOT" && cargo build --quiet --release -p sluice -p sluice-tests --bins)
}

# A free TCP port on the loopback interface.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# pyspark from PyPI, for the differential suite against real Spark
# (tests/spark/), in a venv under .tools/; it runs on the machine's Java 17.
PYSPARK_VERSION=4.3.0
export SLUICE_PYSPARK_PYTHON="${SLUICE_PYSPARK_PYTHON:-$TOOLS/pyspark/bin/python}"
ensure_pyspark() {
  if ! command -v java >/dev/null; then
    log "installing Java 17 (Debian's openjdk-17-jre-headless) for pyspark"
    apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless >/dev/null
  fi
  if "$SLUICE_PYSPARK_PYTHON" -c "import sys, pyspark; sys.exit(pyspark.__version__ != '$PYSPARK_VERSION')" 2>/dev/null; then
    return
  fi
  log "installing pyspark $PYSPARK_VERSION into $TOOLS/pyspark"
  python3 -m venv "$TOOLS/pyspark"
  "$TOOLS/pyspark/bin/python" -m pip install --quiet --disable-pip-version-check "pyspark==$PYSPARK_VERSION"
}
