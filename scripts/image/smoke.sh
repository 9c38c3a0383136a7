#!/bin/sh
# Builds the suite's image from the Dockerfile, unchanged, with podman and runs it against the local
# stack: the process runs as uid 1000, /healthz 200, /readyz 200 within 60 s, /metrics serves, the
# HEALTHCHECK reports healthy, a CreateProfile sent with the `profiles` CLI from the host is
# ACCEPTED, and SIGTERM (podman stop) exits 0 within 10 s. Exits non-zero on the first failure.
# Its own PROFILES_ENV (topics) and MongoDB database (dropped at the end); the topics are left.
#   sh scripts/image/local-base.sh     # once: the base image, when no registry is reachable
#   sh scripts/image/smoke.sh
# Needs: podman, runc, the local stack running (.stack/env; STACK_ENV to point elsewhere), the
# dev dependencies (node_modules). Workarounds for a VM without cgroup v2 / with restricted limits:
# the runc runtime (crun: "cgroups in hybrid mode not supported") and containers.conf
# `default_ulimits = []` (else "setrlimit RLIMIT_NOFILE: Operation not permitted"); RUNTIME and
# CONTAINERS_CONF override them. Environment: IMAGE (default customer-profiles:local), OPS_PORT
# (default 3987), SKIP_BUILD=1 (use the existing image), BUILD_CA_FILE (see the build step).
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
image=${IMAGE:-customer-profiles:local}
runtime=${RUNTIME:-runc}
port=${OPS_PORT:-3987}
stack_env=${STACK_ENV:-$root/.stack/env}
[ -f "$stack_env" ] || stack_env=/work/main/.stack/env
[ -f "$stack_env" ] || { echo "smoke: no stack env ($stack_env); start the local stack first" >&2; exit 1; }

if [ -z "${CONTAINERS_CONF:-}" ]; then
  CONTAINERS_CONF=$(mktemp)
  printf '[containers]\ndefault_ulimits = []\n' > "$CONTAINERS_CONF"
fi
export CONTAINERS_CONF
pm() { podman --runtime "$runtime" "$@"; }
node="$root/node_modules/.bin/node"   # the project's Node 24 (the host's may be older)
[ -x "$node" ] || node=node

t0=$(date +%s)
step() { echo "smoke [$(($(date +%s) - t0))s] $*"; }
fail() { echo "smoke FAILED: $*" >&2; exit 1; }

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  step "build $image"
  # --format docker: the OCI format has no HEALTHCHECK. --network host: npm ci reaches the registry.
  # Behind a TLS-intercepting egress proxy (the host trusts its CA through NODE_EXTRA_CA_CERTS, or
  # BUILD_CA_FILE) `npm ci` fails with SELF_SIGNED_CERT_IN_CHAIN: the bundle and a global npmrc
  # naming it are mounted for the build's RUN steps only, so nothing of it ends up in the image.
  ca=${BUILD_CA_FILE:-${NODE_EXTRA_CA_CERTS:-}}
  set --
  if [ -n "$ca" ] && [ -f "$ca" ]; then
    npmrc=$(mktemp)
    echo 'cafile=/usr/local/share/build-ca.crt' > "$npmrc"
    set -- -v "$ca:/usr/local/share/build-ca.crt:ro" -v "$npmrc:/usr/local/etc/npmrc:ro"
  fi
  pm build --format docker --network host "$@" -t "$image" . || fail "podman build"
fi

set -a
. "$stack_env"
set +a
suffix=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
export PROFILES_ENV="img$suffix"
db="img$suffix"
MONGODB_URI=$("$node" -e 'const u = new URL(process.argv[1]); u.pathname = "/" + process.argv[2]; console.log(u.href)' "$MONGODB_URI" "$db")
export MONGODB_URI
name="profiles-smoke-$suffix"

cleanup() {
  pm rm -f "$name" >/dev/null 2>&1 || true
  "$node" --input-type=module -e '
    import { MongoClient } from "mongodb";
    const c = new MongoClient(process.env.MONGODB_URI, { serverSelectionTimeoutMS: 5000 });
    await c.db().dropDatabase(); await c.close();' >/dev/null 2>&1 || echo "smoke: could not drop $db" >&2
}
trap cleanup EXIT

step "run $name (PROFILES_ENV=$PROFILES_ENV, database $db, OPS_PORT=$port)"
pm run -d --name "$name" --network host \
  -e KAFKA_BROKERS -e SCHEMA_REGISTRY_URL -e MONGODB_URI -e REDIS_URL -e CLAIM_KEY_SECRET -e PROFILES_ENV \
  -e OPS_PORT="$port" -e BOARD_USER=admin -e BOARD_PASSWORD=smoke-password-1 \
  "$image" >/dev/null || fail "podman run"

code() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port$1" || true; }
i=0
until [ "$(code /readyz)" = 200 ]; do
  i=$((i + 1))
  if [ "$i" -gt 60 ] || [ "$(pm inspect --format '{{.State.Running}}' "$name")" != true ]; then
    pm logs --tail 30 "$name" >&2 || true
    fail "/readyz not 200 within 60 s (last: $(code /readyz))"
  fi
  sleep 1
done
step "/readyz 200 after ${i}s"
[ "$(code /healthz)" = 200 ] || fail "/healthz $(code /healthz)"
step "/healthz 200"
metrics=$(curl -sf "http://127.0.0.1:$port/metrics") || fail "/metrics"
echo "$metrics" | grep -q '^# HELP ' || fail "/metrics: no Prometheus text"
step "/metrics: $(echo "$metrics" | grep -c '^# HELP ') metrics"

uid=$(pm exec "$name" id) || fail "podman exec id"
step "id: $uid"
case $uid in "uid=1000(node) gid=1000(node)"*) ;; *) fail "not uid 1000: $uid" ;; esac
pm top "$name" user pid args || true

pm healthcheck run "$name" || fail "healthcheck: $(pm inspect --format '{{.State.Health.Status}}' "$name")"
step "healthcheck: $(pm inspect --format '{{.State.Health.Status}}' "$name")"

cmd='{"commandId":"smoke-'$suffix'","type":"CreateProfile","organisationId":1,"payload":{"createdBy":"smoke","createdByChannel":"web","firstName":"Kari","surname":"Nordmann"}}'
step "profiles send CreateProfile"
result=$("$root/bin/profiles" send --timeout 30000 "$cmd") || { echo "$result" >&2; pm logs --tail 30 "$name" >&2; fail "profiles send"; }
echo "$result"
echo "$result" | grep -q ACCEPTED || fail "result not ACCEPTED"

step "podman stop (SIGTERM)"
s=$(date +%s)
pm stop -t 10 "$name" >/dev/null
took=$(($(date +%s) - s))
exit_code=$(pm inspect --format '{{.State.ExitCode}}' "$name")
step "exit code $exit_code after ${took}s"
pm logs --tail 5 "$name" || true
[ "$exit_code" = 0 ] || fail "exit code $exit_code"
[ "$took" -lt 10 ] || fail "stop took ${took}s"
step "OK"
