# Shared by scripts/dev, scripts/test and scripts/bench: install whatever is
# missing (idempotent, fast when everything is there), and run the catalog
# locally on workerd with scripts/serve.mjs (Miniflare, configured from
# wrangler.toml by wrangler itself). Source it; don't run it.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Where `cargo install` puts binaries; tools are looked up here only, so a
# stale copy elsewhere on PATH is never mistaken for the pinned one.
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
export PATH="$CARGO_BIN:$ROOT/node_modules/.bin:$PATH"
export WRANGLER_SEND_METRICS=false
WORKER_BUILD_VERSION=0.8.7

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# The wasm-bindgen version Cargo.lock pins (the CLI must match it exactly).
wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock"
}

# The first version number a tool prints (`0.8.7`, `wasm-bindgen 0.2.130`).
tool_version() {
  "$1" --version 2>/dev/null | grep -o '[0-9]\+\.[0-9]\+\.[0-9]\+' | head -n 1
}

ensure_toolchain() {
  cd "$ROOT"
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
  local wbg_version pids=()
  wbg_version="$(wasm_bindgen_version)"
  # Build tools, run for seconds per build: compiling them fast (opt-level 1,
  # no LTO, parallel codegen) saves more than it costs (~1.5 of ~7 minutes
  # cold on 2 cores). Only for these installs: the worker's own release
  # profile (Cargo.toml) must stay as it is.
  local fast=(env CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_PROFILE_RELEASE_LTO=false
    CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_DEBUG=false)
  # The two cargo installs are independent: run them side by side.
  if [ "$(tool_version "$CARGO_BIN/worker-build")" != "$WORKER_BUILD_VERSION" ]; then
    say "installing worker-build $WORKER_BUILD_VERSION (a few minutes, once)"
    "${fast[@]}" cargo install worker-build --version "$WORKER_BUILD_VERSION" --force >"${TMPDIR:-/tmp}/install-worker-build.log" 2>&1 &
    pids+=($!)
  fi
  if [ "$(tool_version "$CARGO_BIN/wasm-bindgen")" != "$wbg_version" ]; then
    say "installing wasm-bindgen-cli $wbg_version (a few minutes, once)"
    # No --locked: the registry index here lacks one of its locked deps.
    "${fast[@]}" cargo install wasm-bindgen-cli --version "$wbg_version" --force >"${TMPDIR:-/tmp}/install-wasm-bindgen.log" 2>&1 &
    pids+=($!)
  fi
  if [ ! -x node_modules/.bin/wrangler ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    say "installing npm packages (wrangler, binaryen, tus-js-client)"
    npm ci --no-audit --no-fund --loglevel=error
  fi
  local pid failed=0
  for pid in "${pids[@]}"; do
    wait "$pid" || failed=1
  done
  if [ "$failed" = 1 ]; then
    tail -n 30 "${TMPDIR:-/tmp}"/install-*.log >&2
    echo "toolchain installation failed" >&2
    return 1
  fi
}

# ensure_venv VENV REQUIREMENTS WHAT: a virtual environment at VENV with
# REQUIREMENTS installed from PyPI; pip runs again only when that file
# changes (its sha256 is stamped in the venv). WHAT names it for messages.
ensure_venv() {
  local venv=$1 requirements=$2 what=$3
  local stamp="$venv/.requirements.sha256" wanted
  wanted="$(sha256sum "$requirements" | cut -d' ' -f1)"
  if [ ! -x "$venv/bin/python" ]; then
    say "creating the Python virtual environment for $what"
    python3 -m venv "$venv"
  fi
  if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    say "installing $what from PyPI"
    "$venv/bin/pip" install --quiet -r "$requirements"
    echo "$wanted" >"$stamp"
  fi
}

# The compatibility suite's virtual environment (.venv) with the real
# OpenStack clients pinned in tests/compat/requirements.txt, and tuspy for
# the resumable-upload suite (tests/tus).
ensure_python_clients() {
  ensure_venv "$ROOT/.venv" "$ROOT/tests/compat/requirements.txt" \
    "the OpenStack clients (python-glanceclient, openstacksdk, python-openstackclient) and tuspy"
}

# A free TCP port on 127.0.0.1.
free_port() {
  # Never CATALOG_FIXTURE_PORT: it is reserved for the tests' own HTTP
  # server, which listens only while they run (a server started meanwhile
  # could otherwise be given it).
  local port
  while :; do
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
    [ "$port" != "${CATALOG_FIXTURE_PORT:-}" ] && break
  done
  echo "$port"
}

# fixture_port: a free TCP port on 127.0.0.1 below the kernel's ephemeral
# range (ip_local_port_range), for CATALOG_FIXTURE_PORT. The tests' own
# HTTP server listens on it only while they run; in between, a port of the
# ephemeral range can be taken by any outbound connection as its local port
# (one of the many Tempest makes meanwhile took it once, failing four
# import tests with "Address already in use"). Neither free_port nor the
# kernel ever hands out a port below that range.
fixture_port() {
  python3 - <<'PY'
import random
import socket

try:
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        low = int(f.read().split()[0])
except (OSError, ValueError, IndexError):
    low = 32768
for _ in range(500):
    port = random.randint(min(10000, low - 1000), low - 1)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    break
else:
    raise SystemExit(f"no free port on 127.0.0.1 below the ephemeral range ({low})")
PY
}

# apply_migrations STATE_DIR: create/upgrade the local D1 database.
apply_migrations() {
  (cd "$ROOT" && wrangler d1 migrations apply DB --local --persist-to "$1" >/dev/null)
}

# wait_for_worker NAME PID PORT LOG: wait until the local server with
# process id PID answers /healthcheck on PORT; show its log if it dies.
wait_for_worker() {
  local name=$1 pid=$2 port=$3 log=$4 i
  # Up to 10 minutes: the first start builds the worker (a cold release
  # build of the wasm takes minutes on a loaded 2-core machine); a server
  # that exits fails at once.
  for i in $(seq 1 1200); do
    if curl -s -o /dev/null "http://127.0.0.1:$port/healthcheck"; then
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 40 "$log" >&2
      echo "the local server ($name) exited" >&2
      return 1
    fi
    sleep 0.5
  done
  tail -n 40 "$log" >&2
  echo "the local server ($name) did not answer on port $port" >&2
  return 1
}

# start_catalog PORT STATE_DIR LOG [SERVE_ARGS...]: build the worker and
# serve it with scripts/serve.mjs in its own process group (extra arguments,
# such as `--var NAME:VALUE`, are passed on); sets CATALOG_PID. Waits until
# the catalog answers. Not `wrangler dev`: its proxy in front of the worker
# turns an upload the client cuts off into a cleanly ended body (see
# scripts/serve.mjs), which takes the wrangler dev flags used here.
start_catalog() {
  local port=$1 state=$2 log=$3
  shift 3
  apply_migrations "$state"
  # --test-scheduled: tests fire the cron trigger with GET /__scheduled.
  (cd "$ROOT" && exec setsid node scripts/serve.mjs --ip 127.0.0.1 --port "$port" --persist-to "$state" \
      --test-scheduled "$@" >"$log" 2>&1) &
  CATALOG_PID=$!
  wait_for_worker catalog "$CATALOG_PID" "$port" "$log"
}

# stop_group PID: stop a local server started in its own process group
# (node and its workerd).
stop_group() {
  [ -n "$1" ] || return 0
  kill -- "-$1" 2>/dev/null || kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# stop_catalog: stop the catalog's server and its workerd.
stop_catalog() {
  stop_group "${CATALOG_PID:-}"
  CATALOG_PID=
}

# ensure_wrk: the HTTP load generator scripts/bench uses (Debian's wrk).
ensure_wrk() {
  command -v wrk >/dev/null 2>&1 && return 0
  say "installing wrk (Debian package)"
  local sudo=
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get install -y wrk >/dev/null 2>&1 \
    || { $sudo apt-get update >/dev/null 2>&1 && $sudo apt-get install -y wrk >/dev/null 2>&1; } \
    || true
  command -v wrk >/dev/null 2>&1
}

# ensure_format_tools: the image tools tests/formats.rs makes real images
# with (Debian's qemu-utils, genisoimage, parted and gdisk for sgdisk).
# Missing ones are installed; the test itself fails naming any still missing.
ensure_format_tools() {
  local tool pkgs=()
  for tool in qemu-img:qemu-utils genisoimage:genisoimage parted:parted sgdisk:gdisk; do
    command -v "${tool%%:*}" >/dev/null 2>&1 || pkgs+=("${tool#*:}")
  done
  [ "${#pkgs[@]}" = 0 ] && return 0
  say "installing ${pkgs[*]} (Debian packages)"
  local sudo=
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get install -y "${pkgs[@]}" >/dev/null 2>&1 \
    || { $sudo apt-get update >/dev/null 2>&1 && $sudo apt-get install -y "${pkgs[@]}" >/dev/null 2>&1; } \
    || { echo "installing ${pkgs[*]} failed" >&2; return 1; }
}

# fuzz_formats SECONDS: the format parsers' fuzz targets (fuzz/, cargo-fuzz),
# each for SECONDS, when the machine has a nightly toolchain (no toolchain
# can be fetched here; cargo-fuzz itself is installed from crates.io when
# missing); libFuzzer stops on a panic, on an allocation over 64 MiB
# (-malloc_limit_mb: the inspector never needs more than a few MiB) and on
# 2 GiB of memory. New inputs go to a scratch directory, so the committed
# corpus (fuzz/corpus/) stays as it is. Without nightly it says so: the
# corpus is then only replayed on stable (tests/fuzz_corpus.rs, which runs
# either way). Non-zero if a target failed.
fuzz_formats() {
  local seconds=$1 target scratch status=0
  if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    say "no nightly toolchain on this machine: the fuzz corpus is replayed on stable only (tests/fuzz_corpus.rs)"
    return 0
  fi
  if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    say "installing cargo-fuzz 0.13.2 (crates.io)"
    cargo +nightly install --locked cargo-fuzz --version 0.13.2 >/dev/null 2>&1 \
      || { echo "installing cargo-fuzz failed" >&2; return 1; }
  fi
  scratch="$(mktemp -d "${TMPDIR:-/tmp}/edge-glance-fuzz.XXXXXX")"
  say "fuzzing the format parsers, ${seconds} s per target (cargo-fuzz on nightly)"
  (cd "$ROOT/fuzz" && cargo +nightly fuzz build -O >/dev/null 2>&1) || {
    echo "building the fuzz targets failed" >&2
    rm -rf "$scratch"
    return 1
  }
  for target in $(cd "$ROOT/fuzz" && cargo +nightly fuzz list); do
    local corpus=("$ROOT/fuzz/corpus/$target")
    [ "$target" != inspect_bytes ] || corpus=("$ROOT"/fuzz/corpus/*)
    mkdir -p "$scratch/$target"
    # A failing input is kept in fuzz/artifacts/<target>/ (ignored by git).
    if (cd "$ROOT/fuzz" && cargo +nightly fuzz run -O "$target" "$scratch/$target" "${corpus[@]}" -- \
        -max_total_time="$seconds" -malloc_limit_mb=64 -rss_limit_mb=2048 >"$scratch/$target.log" 2>&1); then
      echo "  $target: $(grep -o 'Done [0-9]* runs' "$scratch/$target.log" | tail -1 || echo done), no failure"
    else
      echo "  $target FAILED:" >&2
      tail -n 40 "$scratch/$target.log" >&2
      status=1
    fi
  done
  rm -rf "$scratch"
  return "$status"
}

# start_ceiling PORT STATE_DIR LOG: start scripts/bench's ceiling worker
# (scripts/bench.d/ceiling.js, an R2 bucket bound as BUCKET and a D1
# database bound as DB, see ceiling_migrate) with scripts/serve.mjs like the
# catalog (same runtime, no proxy in front), in its own process group; sets
# CEILING_PID. It runs from a copy in a directory next to LOG so nothing it
# writes lands in the work tree. Waits until it answers.
start_ceiling() {
  local port=$1 state=$2 log=$3
  local dir
  dir="$(dirname "$log")/ceiling-worker"
  mkdir -p "$dir"
  cp "$ROOT/scripts/bench.d/ceiling.js" "$ROOT/scripts/bench.d/ceiling.wrangler.toml" "$dir/"
  (cd "$dir" && exec setsid node "$ROOT/scripts/serve.mjs" --config ceiling.wrangler.toml --ip 127.0.0.1 \
      --port "$port" --persist-to "$state" >"$log" 2>&1) &
  CEILING_PID=$!
  wait_for_worker "ceiling worker" "$CEILING_PID" "$port" "$log"
}

# ceiling_migrate STATE_DIR LOG: give the ceiling worker's local D1 database
# (bound as DB) the catalog's schema, before start_ceiling with the same
# STATE_DIR and LOG: copies the worker and the repository's migrations/ into
# the directory start_ceiling runs it from, and applies them to STATE_DIR.
ceiling_migrate() {
  local state=$1 log=$2
  local dir
  dir="$(dirname "$log")/ceiling-worker"
  mkdir -p "$dir"
  cp "$ROOT/scripts/bench.d/ceiling.js" "$ROOT/scripts/bench.d/ceiling.wrangler.toml" "$dir/"
  rm -rf "$dir/migrations"
  cp -R "$ROOT/migrations" "$dir/migrations"
  (cd "$dir" && wrangler d1 migrations apply DB --local --config ceiling.wrangler.toml \
      --persist-to "$state" >/dev/null)
}

# stop_ceiling: stop the ceiling worker's server and its workerd.
stop_ceiling() {
  stop_group "${CEILING_PID:-}"
  CEILING_PID=
}
