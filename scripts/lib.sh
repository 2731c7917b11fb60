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
  # KAFKA_EXEC=1 replaces the calling (background) subshell with the JVM, so
  # that $! is the broker's own pid (the bench reads its CPU time there).
  ${KAFKA_EXEC:+exec} java "${opts[@]}" -cp "$KAFKA_LIBS/*" \
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
  KAFKA_EXEC=1 kafka_java kafka.Kafka "$dir/server.properties" >"$dir/stdout.log" 2>&1 &
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
  (cd "$ROOT" && cargo build --quiet --profile wasm --target "$WASM_TARGET" -p sql -p invoice_by_store -p fault_injector -p router)
  mkdir -p "$ROOT/target/transforms"
  for name in sql invoice_by_store fault_injector router; do
    cp "$ROOT/target/$WASM_TARGET/wasm/$name.wasm" "$ROOT/target/transforms/$name.wasm"
  done
  build_language_ports
}

# The toolchains of the other SDKs (guest-sdk/<lang>/), each into .tools/: zig
# (which also compiles C, as `zig cc`) and componentize-py from PyPI,
# AssemblyScript and componentize-js from npm; Go is the machine's own,
# 1.24 or newer (`//go:wasmexport`).
ZIG_WHEEL="ziglang==0.17.0"
ASC_PACKAGE="assemblyscript@0.28.20"
COMPONENTIZE_PY_WHEEL="componentize-py==0.25.1"
COMPONENTIZE_JS_PACKAGES=("@bytecodealliance/componentize-js@0.23.0" "@bytecodealliance/preview2-shim@0.25.0")
export ZIG="${ZIG:-$TOOLS/zig/ziglang/zig}"
export ASC="${ASC:-$TOOLS/assemblyscript/node_modules/.bin/asc}"
COMPONENTIZE_PY_DIR="$TOOLS/componentize-py"
export COMPONENTIZE_JS="${COMPONENTIZE_JS:-$TOOLS/componentize-js/node_modules/.bin/componentize-js}"
ensure_zig() {
  if [ -x "$ZIG" ]; then return; fi
  log "installing zig ($ZIG_WHEEL) into $TOOLS/zig"
  python3 -m pip install --quiet --disable-pip-version-check --no-deps --target "$TOOLS/zig" "$ZIG_WHEEL"
  chmod +x "$ZIG"
}
ensure_asc() {
  if [ -x "$ASC" ]; then return; fi
  log "installing AssemblyScript ($ASC_PACKAGE) into $TOOLS/assemblyscript"
  mkdir -p "$TOOLS/assemblyscript"
  npm install --silent --no-audit --no-fund --prefix "$TOOLS/assemblyscript" "$ASC_PACKAGE"
}
ensure_componentize_py() {
  if [ -f "$COMPONENTIZE_PY_DIR/componentize_py/__init__.py" ]; then return; fi
  log "installing componentize-py ($COMPONENTIZE_PY_WHEEL) into $COMPONENTIZE_PY_DIR"
  python3 -m pip install --quiet --disable-pip-version-check --no-deps --target "$COMPONENTIZE_PY_DIR" "$COMPONENTIZE_PY_WHEEL"
}
# The wheel's own `bin/componentize-py` names the Python that installed it;
# run its entry point with whichever python3 is on PATH instead.
componentize_py() {
  PYTHONPATH="$COMPONENTIZE_PY_DIR" python3 -c \
    'import sys; from componentize_py import script; sys.argv[0] = "componentize-py"; sys.exit(script())' "$@"
}
ensure_componentize_js() {
  if [ -x "$COMPONENTIZE_JS" ]; then return; fi
  log "installing componentize-js (${COMPONENTIZE_JS_PACKAGES[*]}) into $TOOLS/componentize-js"
  mkdir -p "$TOOLS/componentize-js"
  npm install --silent --no-audit --no-fund --prefix "$TOOLS/componentize-js" "${COMPONENTIZE_JS_PACKAGES[@]}"
}
ensure_go() {
  local v
  v="$(go env GOVERSION 2>/dev/null || true)"
  case "$v" in
    go1.2[4-9]* | go1.[3-9][0-9]* | go[2-9]*) ;;
    *) echo "Go 1.24 or newer is needed for guest-sdk/go (found: ${v:-none})" >&2; return 1 ;;
  esac
}

# Builds transforms/invoice_by_store_<lang>/ to target/transforms/invoice_by_store_<lang>.wasm.
build_language_ports() {
  ensure_zig
  local out="$ROOT/target/transforms"
  log "building the C and Zig ports"
  "$ZIG" cc -target wasm32-freestanding -O2 -nostdlib -s -Wl,--no-entry -I "$ROOT/guest-sdk/c" \
    "$ROOT/guest-sdk/c/sluice.c" "$ROOT/transforms/invoice_by_store_c/invoice_by_store.c" -o "$out/invoice_by_store_c.wasm"
  "$ZIG" cc -target wasm32-freestanding -O2 -nostdlib -s -Wl,--no-entry -I "$ROOT/guest-sdk/c" \
    "$ROOT/guest-sdk/c/sluice.c" "$ROOT/guest-sdk/c/examples/fan_out.c" -o "$out/fan_out_c.wasm"
  "$ZIG" build-exe -target wasm32-freestanding -O ReleaseSmall -fno-entry -rdynamic --cache-dir "$ROOT/target/zig-cache" \
    --dep sluice -Mroot="$ROOT/transforms/invoice_by_store_zig/invoice_by_store.zig" -Msluice="$ROOT/guest-sdk/zig/sluice.zig" \
    -femit-bin="$out/invoice_by_store_zig.wasm"
  "$ZIG" build-exe -target wasm32-freestanding -O ReleaseSmall -fno-entry -rdynamic --cache-dir "$ROOT/target/zig-cache" \
    --dep sluice -Mroot="$ROOT/guest-sdk/zig/examples/fan_out.zig" -Msluice="$ROOT/guest-sdk/zig/sluice.zig" \
    -femit-bin="$out/fan_out_zig.wasm"
  ensure_asc
  log "building the AssemblyScript port"
  (cd "$ROOT" && "$ASC" transforms/invoice_by_store_as/invoice_by_store.ts --runtime stub \
    --use abort=guest-sdk/assemblyscript/sluice/abort -O3 --noAssert -o "$out/invoice_by_store_as.wasm")
  (cd "$ROOT" && "$ASC" guest-sdk/assemblyscript/examples/fan_out.ts --runtime stub \
    --use abort=guest-sdk/assemblyscript/sluice/abort -O3 --noAssert -o "$out/fan_out_as.wasm")
  ensure_go
  log "building the Go port"
  (cd "$ROOT/transforms/invoice_by_store_go" &&
    GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -ldflags=-s -o "$out/invoice_by_store_go.wasm" .)
  (cd "$ROOT/guest-sdk/go" &&
    GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -ldflags=-s -o "$out/fan_out_go.wasm" ./examples/fan_out)
  build_component_ports
}

# Whether component $1 is missing or older than a file under the dirs after it.
stale() {
  local out="$1"
  shift
  [ ! -f "$out" ] || [ -n "$(find "$@" "$ROOT/guest-sdk/wit" -newer "$out" -type f -not -path "*/__pycache__/*" -not -name "*.md" -print -quit)" ]
}

# The Python and JavaScript ports, components of guest-sdk/wit/sluice.wit
# (guest-sdk/COMPONENTS.md) with no WASI imports: componentize-py's
# --stub-wasi and componentize-js's --disable of every WASI feature. Each
# takes tens of seconds, so it is rebuilt only when its sources changed.
build_component_ports() {
  local out="$ROOT/target/transforms" wit="$ROOT/guest-sdk/wit" py="$ROOT/guest-sdk/python" js="$ROOT/guest-sdk/javascript"
  ensure_componentize_py
  log "building the Python port"
  local app dir name
  for app in "invoice_by_store:$ROOT/transforms/invoice_by_store_py:invoice_by_store_py" \
    "fan_out:$py/examples:fan_out_py"; do
    IFS=: read -r app dir name <<<"$app"
    if stale "$out/$name.wasm" "$dir" "$py/sluice"; then
      componentize_py -d "$wit" -w transform componentize --stub-wasi -p "$py" -p "$dir" "$app" \
        -o "$out/$name.wasm" >/dev/null
    fi
  done
  ensure_componentize_js
  log "building the JavaScript port"
  for app in "transforms/invoice_by_store_js/invoice_by_store.js:invoice_by_store_js" \
    "guest-sdk/javascript/examples/fan_out.js:fan_out_js"; do
    IFS=: read -r app name <<<"$app"
    # componentize-js resolves a module's imports from the directory it runs in.
    if stale "$out/$name.wasm" "$ROOT/$(dirname "$app")" "$js"; then
      (cd "$ROOT" && "$COMPONENTIZE_JS" "$app" --wit "$wit" --world-name transform \
        --disable stdio random clocks http fetch-event -o "$out/$name.wasm" >/dev/null)
    fi
  done
}

# Builds the host and the helper tools the demo, tests and bench use.
build_host() {
  log "building sluice (release)"
  (cd "$ROOT" && cargo build --quiet --release -p sluice -p sluice-tests --bins)
}

# Compiles the large modules (the Python and JavaScript components take tens
# of CPU-seconds each) into sluice's module cache once, so that the tests'
# start-up waits measure starting from the cache rather than the compiler.
warm_module_cache() {
  log "compiling the component ports into the module cache"
  local name
  for name in invoice_by_store_py invoice_by_store_js sql; do
    "$ROOT/target/release/sluice" check --transform "$ROOT/target/transforms/$name.wasm" \
      $([ "$name" = sql ] || echo --transform-config store_id=STR7188) >/dev/null
  done
}

# cargo-fuzz, for the fuzz targets in fuzz/ (scripts/fuzz): installed once
# into ~/.cargo/bin. It builds with libFuzzer and sanitizer flags that need a
# nightly compiler: the `nightly` toolchain when rustup has it, else stable
# with RUSTC_BOOTSTRAP=1 (see scripts/fuzz).
CARGO_FUZZ_VERSION=0.13.1
ensure_cargo_fuzz() {
  if cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then return; fi
  log "installing cargo-fuzz $CARGO_FUZZ_VERSION into ~/.cargo/bin"
  cargo install --quiet --locked --version "$CARGO_FUZZ_VERSION" cargo-fuzz
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

# Headless Chromium (Debian's package) and playwright-core from npm in
# .tools/playwright, for the status-page test (tests/browser/). The test
# finds them through SLUICE_CHROMIUM and SLUICE_PLAYWRIGHT_DIR.
PLAYWRIGHT_PACKAGE="playwright-core@1.65.1"
export SLUICE_CHROMIUM="${SLUICE_CHROMIUM:-/usr/bin/chromium}"
export SLUICE_PLAYWRIGHT_DIR="${SLUICE_PLAYWRIGHT_DIR:-$TOOLS/playwright}"
ensure_chromium() {
  if [ -x "$SLUICE_CHROMIUM" ]; then return; fi
  log "installing Chromium (Debian's chromium) for the status-page test"
  apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null
}
ensure_playwright() {
  local stamp="$SLUICE_PLAYWRIGHT_DIR/.installed"
  if [ "$(cat "$stamp" 2>/dev/null)" = "$PLAYWRIGHT_PACKAGE" ]; then return; fi
  log "installing $PLAYWRIGHT_PACKAGE into $SLUICE_PLAYWRIGHT_DIR"
  mkdir -p "$SLUICE_PLAYWRIGHT_DIR"
  # Only the driver: the browser is Debian's, so no download of Playwright's own.
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --silent --no-audit --no-fund \
    --prefix "$SLUICE_PLAYWRIGHT_DIR" "$PLAYWRIGHT_PACKAGE"
  echo "$PLAYWRIGHT_PACKAGE" >"$stamp"
}
