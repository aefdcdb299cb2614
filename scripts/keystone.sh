# A real OpenStack Keystone on loopback for the identity tests. Source it
# after scripts/lib.sh (it uses ROOT, say, ensure_venv and stop_group);
# don't run it.

KEYSTONE_VENV="$ROOT/.venv-keystone"

# ensure_keystone: Keystone and uWSGI in their own virtual environment
# (.venv-keystone), pinned in tests/identity/keystone-requirements.txt; pip
# runs again only when that file changes. The first install builds uWSGI
# from source (a minute or two).
ensure_keystone() {
  ensure_venv "$KEYSTONE_VENV" "$ROOT/tests/identity/keystone-requirements.txt" \
    "Keystone and uWSGI (uWSGI builds from source: a minute or two, once)"
}

# start_keystone PORT DATA_DIR LOG: set up Keystone's database and keys in
# DATA_DIR (reusing what is there), serve it under uWSGI in its own process
# group (sets KEYSTONE_PID), wait until it answers, and make sure the
# catalog's service identity exists. Exports KEYSTONE_URL, the admin's and
# the service user's credentials.
start_keystone() {
  local port=$1 data=$2 log=$3
  local bin="$KEYSTONE_VENV/bin" i
  mkdir -p "$data"
  data="$(cd "$data" && pwd)" # keystone.conf needs absolute paths
  export KEYSTONE_URL="http://127.0.0.1:$port"
  export KEYSTONE_ADMIN_PASSWORD="${KEYSTONE_ADMIN_PASSWORD:-admin-secret}"
  export KEYSTONE_SERVICE_USER=edge-glance
  export KEYSTONE_SERVICE_PASSWORD="${KEYSTONE_SERVICE_PASSWORD:-service-secret}"
  export KEYSTONE_SERVICE_PROJECT=service
  # Else a server already there would answer for ours, which then dies.
  if curl -s -o /dev/null "$KEYSTONE_URL"; then
    echo "port $port is already in use" >&2
    return 1
  fi

  # Logs go to stderr, i.e. into LOG with uWSGI's own. Four bcrypt rounds
  # instead of twelve: password checks cost ~1 ms instead of ~250 ms; and
  # bcrypt's own length limit, else every check logs a truncation warning.
  # Keystone's own cache, in memory: one process (below), so it is as
  # coherent as a shared one; Keystone is CPU-bound here and the cache cuts
  # its time per request from ~120 to ~50 ms (users, projects, roles,
  # tokens made and checked as Tempest does).
  cat >"$data/keystone.conf" <<EOF
[DEFAULT]
use_stderr = true
[database]
connection = sqlite:///$data/keystone.sqlite?timeout=30
[token]
provider = fernet
expiration = ${KEYSTONE_TOKEN_SECONDS:-3600}
[identity]
password_hash_rounds = 4
max_password_length = 72
[fernet_tokens]
key_repository = $data/fernet-keys
[credential]
key_repository = $data/credential-keys
[cache]
enabled = true
backend = dogpile.cache.memory
EOF
  # One process, one thread: SQLite answers "database is locked" (a 500)
  # to concurrent writers (WAL and a 30 s busy timeout do not prevent it:
  # with two processes, 3 of ~100 requests of four clients making users).
  # `Connection: close`: http-socket drops the connection after each answer
  # anyway, and a client that reuses it gets "connection reset".
  # die-on-term: uWSGI's master reloads on SIGTERM otherwise, and stop_group
  # sends SIGTERM.
  cat >"$data/uwsgi.ini" <<EOF
[uwsgi]
http-socket = 127.0.0.1:$port
module = keystone.wsgi.api:application
env = OS_KEYSTONE_CONFIG_DIR=$data
home = $KEYSTONE_VENV
master = true
processes = 1
threads = 1
single-interpreter = true
add-header = Connection: close
die-on-term = true
need-app = true
buffer-size = 65535
EOF

  local manage=("$bin/keystone-manage" --config-file "$data/keystone.conf")
  local owner=(--keystone-user "$(id -un)" --keystone-group "$(id -gn)") keys
  : >"$log"
  # Each keystone-manage spends ~2.5 s importing Keystone: the key
  # repositories (no database) are made alongside the database.
  { "${manage[@]}" fernet_setup "${owner[@]}" && "${manage[@]}" credential_setup "${owner[@]}"; } >>"$log" 2>&1 &
  keys=$!
  local ok=1
  { "${manage[@]}" db_sync &&
    "$bin/python" -c 'import sqlite3, sys; sqlite3.connect(sys.argv[1]).execute("PRAGMA journal_mode=WAL")' \
      "$data/keystone.sqlite" &&
    "${manage[@]}" bootstrap --bootstrap-password "$KEYSTONE_ADMIN_PASSWORD" \
      --bootstrap-username admin --bootstrap-project-name admin \
      --bootstrap-role-name admin --bootstrap-region-id RegionOne \
      --bootstrap-admin-url "$KEYSTONE_URL/v3" --bootstrap-internal-url "$KEYSTONE_URL/v3" \
      --bootstrap-public-url "$KEYSTONE_URL/v3"; } >>"$log" 2>&1 || ok=0
  wait "$keys" || ok=0
  if [ "$ok" = 0 ]; then
    tail -n 40 "$log" >&2
    echo "keystone-manage failed" >&2
    return 1
  fi

  (exec setsid "$bin/uwsgi" --ini "$data/uwsgi.ini" >>"$log" 2>&1) &
  KEYSTONE_PID=$!
  for i in $(seq 1 240); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$KEYSTONE_URL/v3")" = 200 ] && break
    if ! kill -0 "$KEYSTONE_PID" 2>/dev/null || [ "$i" = 240 ]; then
      tail -n 40 "$log" >&2
      echo "keystone did not answer on port $port" >&2
      stop_keystone
      return 1
    fi
    sleep 0.25
  done

  # The catalog's own identity, which validates users' tokens: Keystone's
  # token policy lets the `service` role (bootstrap makes it) do that. It
  # also reads the unified limits (USE_KEYSTONE_LIMITS) with a
  # system-scoped token, so it is a `reader` on the system, as Glance's
  # `[oslo_limit]` user is; and Glance's four limits are registered for the
  # `image` service (named glance) in RegionOne, unlimited (-1) by default:
  # projects get their own limits from the tests (and from Tempest).
  # Idempotent, so a DATA_DIR can be reused (an existing user keeps its
  # password: changing it would revoke its tokens).
  if ! PYTHONPATH="$ROOT/tests/identity/setup${PYTHONPATH:+:$PYTHONPATH}" "$bin/python" - >>"$log" 2>&1 <<'PY'; then
import os
from keystone_limits import grant_limits_reader, register_image_limits
from keystoneauth1 import session
from keystoneauth1.identity import v3
from keystoneclient.v3 import client

env = os.environ
ks = client.Client(session=session.Session(auth=v3.Password(
    auth_url=env["KEYSTONE_URL"] + "/v3", username="admin",
    password=env["KEYSTONE_ADMIN_PASSWORD"], user_domain_id="default",
    project_name="admin", project_domain_id="default")))

project, user = env["KEYSTONE_SERVICE_PROJECT"], env["KEYSTONE_SERVICE_USER"]
role = (ks.roles.list(name="service") or [ks.roles.create("service")])[0]
project = (ks.projects.list(name=project, domain="default")
           or [ks.projects.create(project, "default")])[0]
user = (ks.users.list(name=user, domain="default")
        or [ks.users.create(user, "default", password=env["KEYSTONE_SERVICE_PASSWORD"])])[0]
ks.roles.grant(role, user=user, project=project)
grant_limits_reader(ks, user)
register_image_limits(ks)
PY
    tail -n 20 "$log" >&2
    echo "creating keystone's service identity failed" >&2
    stop_keystone
    return 1
  fi
}

# stop_keystone: stop uWSGI (master and worker).
stop_keystone() {
  stop_group "${KEYSTONE_PID:-}"
  KEYSTONE_PID=
}
