# OpenStack Tempest's image API v2 suite, and Glance's own RBAC suite
# (glance-tempest-plugin, the `rbac` profile), against the catalog in
# keystone mode. Source it after scripts/lib.sh and scripts/keystone.sh (it uses
# ROOT, say, ensure_venv, free_port, stop_group, KEYSTONE_VENV and what
# start_keystone exports); don't run it. Set-up as in the reference run with
# real Glance (see docs/testing.md): a service user with `service` and
# `admin`, the catalog as the `image` service in Keystone's catalog, a
# loopback HTTP server holding a real qcow2 for web-download and locations.

TEMPEST_VENV="$ROOT/.venv-tempest"
# Tempest's catalog has its own service user: tests/identity revokes every
# token of the other catalog's user (by disabling it for a moment), which
# would fail whatever Tempest runs at that instant.
TEMPEST_SERVICE_USER=edge-glance-tempest
TEMPEST_SERVICE_PASSWORD="${TEMPEST_SERVICE_PASSWORD:-tempest-service-secret}"
# Its own region too: the compatibility suite (keystone mode) points the
# `image` endpoints of RegionOne at its catalog while Tempest runs.
TEMPEST_REGION="${TEMPEST_REGION:-RegionTempest}"

# ensure_tempest: Tempest and glance-tempest-plugin in their own virtual
# environment (.venv-tempest), pinned in tests/tempest/requirements.txt;
# pip runs again only when that file changes.
ensure_tempest() {
  ensure_venv "$TEMPEST_VENV" "$ROOT/tests/tempest/requirements.txt" "Tempest"
}

# make_test_image DIR: DIR/test.qcow2, an empty 1 MiB qcow2 disk: qemu-img's
# when it is installed, else the same layout written by Python.
make_test_image() {
  mkdir -p "$1"
  if command -v qemu-img >/dev/null 2>&1; then
    qemu-img create -q -f qcow2 "$1/test.qcow2" 1M
  else
    python3 "$ROOT/tests/tempest/empty_qcow2.py" "$1/test.qcow2" $((1024 * 1024))
  fi
}

# start_image_server DIR LOG: serve DIR over HTTP on a free loopback port in
# its own process group; sets IMAGE_SERVER_PID, IMAGE_SERVER_PORT and
# IMAGE_SERVER_URL. Waits until it answers.
start_image_server() {
  local dir=$1 log=$2 port i
  port="$(free_port)"
  (exec setsid python3 -m http.server --bind 127.0.0.1 --directory "$dir" "$port" >"$log" 2>&1) &
  IMAGE_SERVER_PID=$!
  IMAGE_SERVER_PORT=$port
  IMAGE_SERVER_URL="http://127.0.0.1:$port"
  for i in $(seq 1 100); do
    curl -sf -o /dev/null "$IMAGE_SERVER_URL/" && return 0
    if ! kill -0 "$IMAGE_SERVER_PID" 2>/dev/null; then
      cat "$log" >&2
      echo "the image server exited" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "the image server did not answer on port $port" >&2
  return 1
}

stop_image_server() {
  stop_group "${IMAGE_SERVER_PID:-}"
  IMAGE_SERVER_PID=
}

# start_tempest_catalog PORT STATE_DIR LOG [SERVE_ARGS...]: the catalog for
# Tempest in keystone mode, with the keystone-mode catalog's variables of
# scripts/test (logging in as TEMPEST_SERVICE_USER), then
# TEMPEST_CATALOG_VARS, then SERVE_ARGS; sets TEMPEST_CATALOG_PID and
# TEMPEST_CATALOG_URL, and TEMPEST_REMOTE_URL: Tempest's `image_remote`
# endpoint, a second data centre of the same deployment (scripts/serve.mjs
# --data-centre: the same worker in the same runtime on the same D1, R2 and
# Queues, named `remote`), as every Cloudflare data centre shares them: any
# endpoint finishes what another started, and each has its own image cache.
# CATALOG_PID is left as it was, so stop_catalog keeps stopping the other
# catalog. Sets Keystone up for Tempest first (its service user must
# exist). After start_keystone and start_image_server.
start_tempest_catalog() {
  local port=$1 state=$2 log=$3 other="${CATALOG_PID:-}" ok=0 remote
  shift 3
  remote="$(free_port)"
  while [ "$remote" = "$port" ]; do remote="$(free_port)"; done
  export TEMPEST_REMOTE_URL="http://127.0.0.1:$remote"
  tempest_keystone "http://127.0.0.1:$port" || return 1
  # What Tempest needs of the catalog beyond keystone mode: web-download,
  # import tasks and locations reach the image server at
  # 127.0.0.1:$IMAGE_SERVER_PORT, which the URI filter refuses by default
  # (as Glance's set-up in ../shared/TEMPEST.md allows loopback and that
  # port), and glance-download reaches the catalog Keystone lists for the
  # region, here this catalog itself on $port; locations shown and managed
  # (the max profile's manage_locations).
  # Quotas from Keystone's unified limits, as Glance's
  # `use_keystone_limits` (registered unlimited in RegionOne by
  # start_keystone; the `limits` profile sets its projects' own).
  # The format match is off, as in Glance's own Tempest jobs: the max
  # profile (image_format_enforcement = false) uploads random bytes declared
  # qcow2, vhd, ...; the safety checks stay on.
  TEMPEST_CATALOG_VARS=(
    --var REQUIRE_IMAGE_FORMAT_MATCH:false
    --var IMPORT_ALLOWED_HOSTS:127.0.0.1
    --var "IMPORT_ALLOWED_PORTS:80,443,$IMAGE_SERVER_PORT,$port"
    --var SHOW_MULTIPLE_LOCATIONS:true
    --var USE_KEYSTONE_LIMITS:true
  )
  local vars=(
    --var AUTH_MODE:keystone --var "KEYSTONE_URL:$KEYSTONE_URL"
    --var "KEYSTONE_SERVICE_USER:$TEMPEST_SERVICE_USER"
    --var "KEYSTONE_SERVICE_PASSWORD:$TEMPEST_SERVICE_PASSWORD"
    --var "KEYSTONE_SERVICE_PROJECT:$KEYSTONE_SERVICE_PROJECT"
    --var "TOKEN_CACHE_SECONDS:${CATALOG_TOKEN_CACHE_SECONDS:-10}"
    ${TEMPEST_CATALOG_VARS[@]+"${TEMPEST_CATALOG_VARS[@]}"}
  )
  start_catalog "$port" "$state" "$log" "${vars[@]}" --data-centre "$remote:remote" "$@" || ok=1
  TEMPEST_CATALOG_PID=$CATALOG_PID
  TEMPEST_CATALOG_URL="http://127.0.0.1:$port"
  CATALOG_PID=$other
  return "$ok"
}

stop_tempest_catalog() {
  stop_group "${TEMPEST_CATALOG_PID:-}"
  TEMPEST_CATALOG_PID=
}

# tempest_keystone CATALOG_URL: what Tempest needs in Keystone (after
# start_keystone): the roles it hands its users (member, reader, admin) and
# `service`; TEMPEST_SERVICE_USER with `service` and `admin` in the service
# project; the catalog as the `image` service (named glance), endpoints
# public/internal/admin in TEMPEST_REGION at CATALOG_URL (no /v2: Tempest
# adds it). Idempotent.
tempest_keystone() {
  local catalog_url=$1 output
  if ! output="$(TEMPEST_CATALOG_URL="$catalog_url" TEMPEST_REGION="$TEMPEST_REGION" \
      TEMPEST_SERVICE_USER="$TEMPEST_SERVICE_USER" TEMPEST_SERVICE_PASSWORD="$TEMPEST_SERVICE_PASSWORD" \
      PYTHONPATH="$ROOT/tests/identity/setup${PYTHONPATH:+:$PYTHONPATH}" "$KEYSTONE_VENV/bin/python" - 2>&1 <<'PY'
import os
from keystone_limits import grant_limits_reader, image_service
from keystoneauth1 import session
from keystoneauth1.identity import v3
from keystoneclient.v3 import client

env = os.environ
ks = client.Client(session=session.Session(auth=v3.Password(
    auth_url=env["KEYSTONE_URL"] + "/v3", username="admin",
    password=env["KEYSTONE_ADMIN_PASSWORD"], user_domain_id="default",
    project_name="admin", project_domain_id="default")))

roles = {name: (ks.roles.list(name=name) or [ks.roles.create(name)])[0]
         for name in ("member", "reader", "admin", "service")}
project = (ks.projects.list(name=env["KEYSTONE_SERVICE_PROJECT"], domain="default")
           or [ks.projects.create(env["KEYSTONE_SERVICE_PROJECT"], "default")])[0]
name = env["TEMPEST_SERVICE_USER"]
user = (ks.users.list(name=name, domain="default")
        or [ks.users.create(name, "default", password=env["TEMPEST_SERVICE_PASSWORD"])])[0]
for role in ("service", "admin"):
    ks.roles.grant(roles[role], user=user, project=project)
grant_limits_reader(ks, user)

region = env["TEMPEST_REGION"]
if region not in [r.id for r in ks.regions.list()]:
    ks.regions.create(id=region)
service = image_service(ks)
# Tempest's alternate endpoint: a second data centre of the catalog.
remote = (ks.services.list(type="image_remote") or [ks.services.create("glance-remote", "image_remote")])[0]
for service, url in ((service, env["TEMPEST_CATALOG_URL"]), (remote, env.get("TEMPEST_REMOTE_URL"))):
    for endpoint in ks.endpoints.list(service=service, region_id=region):
        ks.endpoints.delete(endpoint)
    for interface in ("public", "internal", "admin"):
        if url:
            ks.endpoints.create(service, url, interface=interface, region=region)
PY
  )"; then
    echo "$output" | tail -n 20 >&2
    echo "setting up Keystone for Tempest failed" >&2
    return 1
  fi
}

# The profiles: `default` and `max` run Tempest's image v2 suite, `rbac`
# Glance's RBAC suite (glance-tempest-plugin), `limits` Tempest's image
# quota scenario (unified limits: count, count uploading, size, stage).
TEMPEST_PROFILES="default max rbac limits"

# tempest_regex PROFILE: the tests a profile runs: Tempest's image API v2
# suite, or for `rbac` the plugin's (186 tests: images and metadefs as a
# project admin, member and reader), or for `limits` the four quota tests.
tempest_regex() {
  case "$1" in
    rbac) echo '^glance_tempest_plugin\.' ;;
    limits) echo '^tempest\.scenario\.test_unified_limits\.ImageQuotaTest\.' ;;
    *) echo '^tempest\.api\.image\.v2' ;;
  esac
}

# tempest_conf PROFILE WORKSPACE: Tempest's configuration. The
# `default` profile is the reference one; `max` also turns on the optional
# features a full Glance has (locations, store weights, a second API
# endpoint: `image_remote`) and lets unknown
# formats in, so the most tests run; `rbac` and `limits` are `default`.
# Every profile enforces scope (`[enforce_scope] glance`: the plugin skips
# everything without it, and Tempest reads through a `reader`) and says, as
# Glance 33 does, that there is no system scope (`[glance_api]
# system_scope_supported = false`: the plugin then expects a system-scoped
# admin to be refused: 403 to create and list, 404 for each image).
tempest_conf() {
  local profile=$1 workspace=$2
  local manage_locations=false enforcement=true weights=false alternate=
  case "$profile" in
    default | rbac | limits) ;;
    max) manage_locations=true enforcement=false weights=true alternate=image_remote ;;
    *)
      echo "unknown Tempest profile: $profile ($TEMPEST_PROFILES)" >&2
      return 1
      ;;
  esac
  cat <<EOF
[DEFAULT]
log_dir = $workspace/logs
log_file = tempest.log
[oslo_concurrency]
lock_path = $workspace/tempest_lock
[auth]
use_dynamic_credentials = true
admin_username = admin
admin_password = $KEYSTONE_ADMIN_PASSWORD
admin_project_name = admin
admin_domain_name = Default
create_isolated_networks = false
[identity]
uri_v3 = $KEYSTONE_URL/v3
auth_version = v3
region = RegionOne
[identity-feature-enabled]
api_v2 = false
api_v3 = true
[service_available]
glance = true
nova = false
cinder = false
neutron = false
swift = false
[enforce_scope]
glance = true
[glance_api]
system_scope_supported = false
[image]
catalog_type = image
endpoint_type = public
region = $TEMPEST_REGION
http_image = $IMAGE_SERVER_URL/test.qcow2
http_qcow2_image = $IMAGE_SERVER_URL/test.qcow2
build_timeout = 120
build_interval = 1
image_caching_enabled = true
${alternate:+alternate_image_endpoint = $alternate}
[image-feature-enabled]
api_v2 = true
import_image = true
os_glance_reserved = true
manage_locations = $manage_locations
image_conversion = false
image_format_enforcement = $enforcement
do_secure_hash = true
http_store_enabled = true
store_weight_enabled = $weights
[validation]
run_validation = false
EOF
}

# run_tempest PROFILE CATALOG_URL OUT_DIR [REGEX]: the profile's tests
# (tempest_regex; or those matching REGEX) with PROFILE's configuration
# against the catalog at CATALOG_URL (registered in Keystone first, see
# tempest_keystone), two workers. Keeps the workspace, the subunit stream,
# Tempest's log and the failures' tracebacks in OUT_DIR; prints one line per
# test and the totals. Non-zero if a test failed, the run broke or nothing
# ran, and for `rbac` and `limits` if a test skipped (every test of those
# must run and pass: the quota tests skip themselves when no limit is
# registered). Needs IMAGE_SERVER_URL and start_keystone's exports.
run_tempest() {
  local profile=$1 catalog_url=$2 out=$3 regex=${4:-}
  local workspace start rc=0 strict=()
  [ -n "$regex" ] || regex="$(tempest_regex "$profile")"
  case "$profile" in rbac | limits) strict=(--fail-on-skip) ;; esac
  mkdir -p "$out"
  out="$(cd "$out" && pwd)"
  workspace="$out/workspace"
  rm -rf "$workspace" "$out/workspaces.yaml"
  # Its own workspace registry: nothing is written to ~/.tempest.
  "$TEMPEST_VENV/bin/tempest" init --workspace-path "$out/workspaces.yaml" --name "tempest-$profile-$$" \
    "$workspace" >"$out/init.log" 2>&1 || {
    cat "$out/init.log" >&2
    return 1
  }
  tempest_conf "$profile" "$workspace" >"$workspace/etc/tempest.conf" || return 1
  tempest_keystone "$catalog_url" || return 1
  echo "Tempest ($profile profile) against $catalog_url, tests matching $regex"
  start=$SECONDS
  # The selection, so that a class skipped (or failed) in its set-up counts
  # as its tests, and a test that never reports counts as a failure.
  # Tests of APIs not implemented yet (tests/tempest/not-yet.txt) are left
  # out and reported as NOT RUN with their reason, never as passes or skips.
  local exclude
  exclude="$( (grep -v '^#' "$ROOT/tests/tempest/not-yet.txt" || true) | cut -f1 | paste -sd'|')"
  (cd "$workspace" && "$TEMPEST_VENV/bin/tempest" run --config-file etc/tempest.conf \
      --regex "$regex" --list-tests >"$out/all-tests.txt" 2>"$out/list.stderr") || {
    cat "$out/list.stderr" >&2
    echo "Tempest could not list its tests" >&2
    return 1
  }
  # An empty list leaves nothing out (an empty pattern would match all).
  exclude="${exclude:-^\$NOTHING}"
  grep -E '^(tempest|glance_tempest_plugin)\.' "$out/all-tests.txt" | grep -Ev "$exclude" >"$out/tests.txt" || true
  grep -E '^(tempest|glance_tempest_plugin)\.' "$out/all-tests.txt" | grep -E "$exclude" | while read -r test; do
    while IFS=$'\t' read -r pattern reason; do
      if [[ "$test" =~ $pattern ]]; then
        printf '%s\t%s\n' "$test" "$reason"
        break
      fi
    done < <(grep -v '^#' "$ROOT/tests/tempest/not-yet.txt")
  done >"$out/not-run.txt" || true
  (cd "$workspace" && "$TEMPEST_VENV/bin/tempest" run --config-file etc/tempest.conf \
      --regex "$regex" --exclude-regex "$exclude" --concurrency 2 --subunit \
      >"$out/run.subunit" 2>"$out/run.stderr") || rc=$?
  echo "Tempest ($profile) ran in $((SECONDS - start)) s (tempest run exit status $rc)"
  if ! "$TEMPEST_VENV/bin/python" "$ROOT/tests/tempest/report.py" "$profile" "$out/run.subunit" "$out" \
      --log "$workspace/logs/tempest.log" --list "$out/tests.txt" --not-run "$out/not-run.txt" \
      --catalog "$catalog_url" ${TEMPEST_REMOTE_URL:+--catalog "$TEMPEST_REMOTE_URL"} ${strict[@]+"${strict[@]}"}; then
    rc=1
  fi
  if [ "$rc" != 0 ] && [ ! -s "$out/failures.txt" ]; then
    # No test failed yet the run did: show why (discovery, configuration).
    echo "tempest run's own output (last 40 lines):"
    tail -n 40 "$out/run.stderr"
  fi
  return "$rc"
}

# start_tempest_job LOG OUT_DIR PROFILE...: run_tempest for each PROFILE,
# one after the other (one catalog: the cache tests clear its whole cache;
# at once they would only queue on Keystone),
# against TEMPEST_CATALOG_URL, results in OUT_DIR/PROFILE, in the
# background and in a session of its own, so stop_tempest_job stops Tempest
# and its workers too; its output goes to LOG. Sets TEMPEST_JOB_PID. After
# start_image_server and start_tempest_catalog.
start_tempest_job() {
  local log=$1 out=$2
  shift 2
  (
    export IMAGE_SERVER_URL TEMPEST_CATALOG_URL TEMPEST_REMOTE_URL
    exec setsid bash -c 'set -euo pipefail
      source "$1/scripts/lib.sh"
      source "$1/scripts/keystone.sh"
      source "$1/scripts/tempest.sh"
      out=$2 status=0
      shift 2
      for profile in "$@"; do
        run_tempest "$profile" "$TEMPEST_CATALOG_URL" "$out/$profile" || status=1
      done
      exit "$status"' tempest-job "$ROOT" "$out" "$@"
  ) >"$log" 2>&1 &
  TEMPEST_JOB_PID=$!
}

# wait_tempest_job: wait for start_tempest_job's Tempest; its status.
wait_tempest_job() {
  local pid="${TEMPEST_JOB_PID:-}" rc=0
  [ -n "$pid" ] || return 0
  wait "$pid" || rc=$?
  TEMPEST_JOB_PID=
  return "$rc"
}

stop_tempest_job() {
  stop_group "${TEMPEST_JOB_PID:-}"
  TEMPEST_JOB_PID=
}
