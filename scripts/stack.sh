#!/usr/bin/env bash
# The local single-node stack: Apache Kafka (KRaft), Apicurio Registry (Confluent API, H2 file
# storage), FerretDB v1 (SQLite) and Redis, all on 127.0.0.1, without Docker.
#
#   scripts/stack.sh up       install what is missing, start what is not reachable, wait, write .stack/env
#   scripts/stack.sh down     stop what this script started
#   scripts/stack.sh status   each service with its version and URL
#   scripts/stack.sh restart <service>   stop and start one service, keeping its data
#
# Downloads and builds are cached outside the clone (Maven's ~/.m2, Go's caches and
# $PROFILES_STACK_CACHE), so a fresh clone on a warm machine only starts services.
# Data, logs and pid files live under the git-ignored .stack/ of the clone.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STACK_DIR=${STACK_DIR:-$ROOT/.stack}
CACHE=${PROFILES_STACK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/customer-profiles-stack}

KAFKA_VERSION=4.4.0
APICURIO_VERSION=3.3.3
FERRETDB_VERSION=v1.24.2
FERRETDB_PATCH=-p13 # part of the build cache key: bump it when scripts/stack/ferretdb-*.patch changes

KAFKA_BROKERS=${KAFKA_BROKERS:-127.0.0.1:9092}
SCHEMA_REGISTRY_URL=${SCHEMA_REGISTRY_URL:-http://127.0.0.1:8081/apis/ccompat/v7}
MONGODB_URI=${MONGODB_URI:-mongodb://127.0.0.1:27017/profiles}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}

KAFKA_HEAP=${KAFKA_HEAP:-512m}
REGISTRY_HEAP=${REGISTRY_HEAP:-384m}

log() { printf '[stack] %s\n' "$*" >&2; }
fail() { printf '[stack] FAILED: %s\n' "$*" >&2; exit 1; }

# a URL as it may be printed: credentials replaced by *** (SPEC §7)
shown() { sed -E 's#(://[^/@:]*):[^/@]*@#\1:***@#; s#://([^/@:]*)@#://***@#' <<<"$1"; }

# host and port of the first entry of a URL or host:port list
host_of() { local s=${1#*://}; s=${s##*@}; s=${s%%/*}; s=${s%%,*}; echo "${s%:*}"; }
port_of() { local s=${1#*://}; s=${s##*@}; s=${s%%/*}; s=${s%%,*}; echo "${s##*:}"; }

node_bin() {
  if [ -x "$ROOT/node_modules/.bin/node" ]; then echo "$ROOT/node_modules/.bin/node"; else command -v node; fi
}

# Asks the service itself (through its protocol, not just an open port); prints its version.
probe() { "$(node_bin)" "$ROOT/scripts/stackProbe.ts" "$@" 2>/dev/null; }

# wait_for <name> <seconds> <pidfile> <probe args...>
wait_for() {
  local name=$1 timeout=$2 pidfile=$3; shift 3
  local deadline=$((SECONDS + timeout))
  until probe "$@" >/dev/null; do
    if [ -n "$pidfile" ] && ! kill -0 "$(cat "$pidfile" 2>/dev/null)" 2>/dev/null; then
      tail -n 30 "$STACK_DIR/logs/$name.log" >&2 || true
      fail "$name exited during start-up (log: $STACK_DIR/logs/$name.log)"
    fi
    [ "$SECONDS" -lt "$deadline" ] || fail "$name did not answer within ${timeout}s (log: $STACK_DIR/logs/$name.log)"
    sleep 0.3
  done
}

# start_bg <name> <command...>: detached, own session, pid in .stack/run/<name>.pid
start_bg() {
  local name=$1; shift
  mkdir -p "$STACK_DIR/run" "$STACK_DIR/logs"
  setsid "$@" >"$STACK_DIR/logs/$name.log" 2>&1 < /dev/null &
  echo $! >"$STACK_DIR/run/$name.pid"
}

running() { local f="$STACK_DIR/run/$1.pid"; [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null; }

java_major() { "$1" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1; }

# A Java runtime of at least the given major version: $JAVA_HOME, PATH, then /usr/lib/jvm.
find_java() {
  local want=$1 candidate
  for candidate in ${JAVA_HOME:+$JAVA_HOME/bin/java} "$(command -v java || true)" /usr/lib/jvm/*/bin/java; do
    [ -n "$candidate" ] && [ -x "$candidate" ] || continue
    [ "$(java_major "$candidate")" -ge "$want" ] 2>/dev/null && { echo "$candidate"; return 0; }
  done
  return 1
}

require() { command -v "$1" >/dev/null || fail "$1 is required ($2)"; }

# Maven, quiet; its output is shown only when it fails.
maven() {
  local out
  out=$(mktemp)
  if mvn -B -q -Dstyle.color=never "$@" >"$out" 2>&1; then rm -f "$out"; return 0; fi
  grep -E 'ERROR|Could not' "$out" | head -n 20 >&2
  rm -f "$out"
  return 1
}

# ---------------------------------------------------------------- Kafka
install_kafka() {
  local dir="$CACHE/kafka-$KAFKA_VERSION"
  [ -f "$dir/.done" ] && return 0
  require mvn "to resolve org.apache.kafka:kafka_2.13:$KAFKA_VERSION from Maven Central"
  log "installing Apache Kafka $KAFKA_VERSION from Maven Central"
  rm -rf "$dir" && mkdir -p "$dir"
  maven -f "$ROOT/scripts/stack/kafka-pom.xml" -Dkafka.version="$KAFKA_VERSION" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$dir/lib" ||
    fail "could not resolve org.apache.kafka:kafka_2.13:$KAFKA_VERSION (and log4j2) with Maven"
  touch "$dir/.done"
}

start_kafka() {
  local host port java dir="$CACHE/kafka-$KAFKA_VERSION" conf="$STACK_DIR/kafka"
  host=$(host_of "$KAFKA_BROKERS"); port=$(port_of "$KAFKA_BROKERS")
  if probe kafka "$KAFKA_BROKERS" >/dev/null; then log "kafka: already answering at $KAFKA_BROKERS"; return 0; fi
  install_kafka
  java=$(find_java 17) || fail "kafka needs Java >= 17 (apt-get install openjdk-17-jre-headless)"
  mkdir -p "$conf" "$STACK_DIR/data/kafka"
  sed -e "s#@HOST@#$host#g" -e "s#@PORT@#$port#g" -e "s#@CONTROLLER_PORT@#$((port + 1))#g" \
    -e "s#@DATA@#$STACK_DIR/data/kafka#g" "$ROOT/scripts/stack/kafka.properties" >"$conf/server.properties"
  if [ ! -f "$STACK_DIR/data/kafka/meta.properties" ]; then
    local cluster_id
    cluster_id=$("$java" -cp "$dir/lib/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1)
    "$java" -cp "$dir/lib/*" kafka.tools.StorageTool format -t "$cluster_id" \
      -c "$conf/server.properties" --ignore-formatted >"$STACK_DIR/logs/kafka-format.log" 2>&1 ||
      fail "kafka storage format (see $STACK_DIR/logs/kafka-format.log)"
  fi
  log "kafka: starting on $host:$port"
  start_bg kafka "$java" -Xms128m -Xmx"$KAFKA_HEAP" -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -Dlog4j2.configurationFile="$ROOT/scripts/stack/kafka-log4j2.properties" \
    -cp "$dir/lib/*" kafka.Kafka "$conf/server.properties"
  wait_for kafka 90 "$STACK_DIR/run/kafka.pid" kafka "$KAFKA_BROKERS"
}

# ---------------------------------------------------------------- Schema registry
install_registry() {
  local dir="$CACHE/apicurio-$APICURIO_VERSION"
  [ -f "$dir/.done" ] && return 0
  require mvn "to resolve io.apicurio:apicurio-registry-app:$APICURIO_VERSION from Maven Central"
  log "installing Apicurio Registry $APICURIO_VERSION from Maven Central"
  maven dependency:get -Dartifact="io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all" \
    -Dtransitive=false || fail "could not resolve io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all"
  local archive="$HOME/.m2/repository/io/apicurio/apicurio-registry-app/$APICURIO_VERSION/apicurio-registry-app-$APICURIO_VERSION-all.tar.gz"
  rm -rf "$dir" && mkdir -p "$dir"
  tar -xzf "$archive" -C "$dir" || fail "could not unpack $archive"
  touch "$dir/.done"
}

start_registry() {
  local host port java dir="$CACHE/apicurio-$APICURIO_VERSION"
  host=$(host_of "$SCHEMA_REGISTRY_URL"); port=$(port_of "$SCHEMA_REGISTRY_URL")
  if probe registry "$SCHEMA_REGISTRY_URL" >/dev/null; then log "registry: already answering at $(shown "$SCHEMA_REGISTRY_URL")"; return 0; fi
  install_registry
  java=$(find_java 21) || fail "Apicurio Registry $APICURIO_VERSION needs Java >= 21; none found in JAVA_HOME, PATH or /usr/lib/jvm"
  mkdir -p "$STACK_DIR/data/registry"
  log "registry: starting Apicurio on $host:$port (H2 file storage)"
  start_bg registry "$java" -Xms64m -Xmx"$REGISTRY_HEAP" -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -Dquarkus.http.host="$host" -Dquarkus.http.port="$port" \
    -Dquarkus.management.host=127.0.0.1 -Dquarkus.management.port=$((port + 10)) \
    -Dquarkus.log.level=WARN -Dquarkus.http.access-log.enabled=false \
    -Dapicurio.storage.kind=sql -Dapicurio.storage.sql.kind=h2 \
    -Dapicurio.datasource.url="jdbc:h2:file:$STACK_DIR/data/registry/registry" \
    -Dapicurio.datasource.username=sa -Dapicurio.datasource.password=sa \
    -Dapicurio.rules.global.compatibility=BACKWARD \
    -jar "$dir/quarkus-run.jar"
  wait_for registry 120 "$STACK_DIR/run/registry.pid" registry "$SCHEMA_REGISTRY_URL"
}

# ---------------------------------------------------------------- FerretDB
install_ferretdb() {
  local dir="$CACHE/ferretdb-$FERRETDB_VERSION$FERRETDB_PATCH"
  [ -x "$dir/ferretdb" ] && return 0
  require go "to build github.com/FerretDB/FerretDB $FERRETDB_VERSION from the Go module proxy"
  require patch "to apply scripts/stack/ferretdb-$FERRETDB_VERSION-sqlite.patch"
  log "building FerretDB $FERRETDB_VERSION from the Go module proxy (about a minute)"
  local work="$dir/build"
  rm -rf "$dir" && mkdir -p "$work"
  # The checksum database is not reachable here; the module proxy is.
  export GOSUMDB=off GOFLAGS=-mod=mod
  local src
  src=$(cd "$work" && go mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p') || true
  [ -n "$src" ] && [ -d "$src" ] || fail "go mod download github.com/FerretDB/FerretDB@$FERRETDB_VERSION"
  # The module zip lacks the generated build/version/version.txt, without which FerretDB panics.
  cp -r "$src" "$work/src" && chmod -R u+w "$work/src"
  echo "$FERRETDB_VERSION" >"$work/src/build/version/version.txt"
  # Fixes to v1's SQLite backend (see the patch and docs/local-stack.md): it never used its own
  # _id index (every lookup, update and delete scanned the table); `_id: {$in: [...]}` is pushed
  # down to that index and matched from a set; a bulk update no longer holds a pooled connection
  # per statement; an update or delete command runs in one transaction (one commit per bulk
  # instead of per statement, and with _txlock=immediate a version-guarded replace is atomic:
  # two connections could both win it before); no leak-tracking call stacks outside debug builds;
  # filters on other fields pushed down to SQLite; stored documents decoded in one pass.
  patch -s -p1 -d "$work/src" <"$ROOT/scripts/stack/ferretdb-$FERRETDB_VERSION-sqlite.patch" ||
    fail "patching FerretDB $FERRETDB_VERSION with scripts/stack/ferretdb-$FERRETDB_VERSION-sqlite.patch"
  cat >"$work/go.mod" <<EOF
module ferretdb-build

go 1.24

require github.com/FerretDB/FerretDB $FERRETDB_VERSION

replace github.com/FerretDB/FerretDB => ./src
EOF
  printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/FerretDB/FerretDB/cmd/ferretdb"\n' >"$work/tools.go"
  (cd "$work" && go mod tidy >&2 && go build -o "$dir/ferretdb" github.com/FerretDB/FerretDB/cmd/ferretdb >&2) ||
    fail "go build github.com/FerretDB/FerretDB/cmd/ferretdb@$FERRETDB_VERSION"
  rm -rf "$work"
}

start_ferretdb() {
  local host port dir="$CACHE/ferretdb-$FERRETDB_VERSION$FERRETDB_PATCH"
  host=$(host_of "$MONGODB_URI"); port=$(port_of "$MONGODB_URI")
  if probe mongodb "$MONGODB_URI" >/dev/null; then log "mongodb: already answering at $(shown "$MONGODB_URI")"; return 0; fi
  install_ferretdb
  mkdir -p "$STACK_DIR/data/ferretdb" "$STACK_DIR/run/ferretdb-state"
  log "mongodb: starting FerretDB on $host:$port (SQLite)"
  start_bg mongodb "$dir/ferretdb" --handler=sqlite --sqlite-url="file:$STACK_DIR/data/ferretdb/?_pragma=synchronous(normal)&_txlock=immediate" \
    --listen-addr="$host:$port" --state-dir="$STACK_DIR/run/ferretdb-state" --debug-addr=127.0.0.1:0 \
    --telemetry=disable --log-level=warn
  wait_for mongodb 60 "$STACK_DIR/run/mongodb.pid" mongodb "$MONGODB_URI"
}

# ---------------------------------------------------------------- Redis
start_redis() {
  local host port
  host=$(host_of "$REDIS_URL"); port=$(port_of "$REDIS_URL")
  if probe redis "$REDIS_URL" >/dev/null; then log "redis: already answering at $(shown "$REDIS_URL")"; return 0; fi
  if ! command -v redis-server >/dev/null; then
    log "installing redis-server from Debian"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; } >&2 ||
      fail "apt-get install redis-server"
  fi
  mkdir -p "$STACK_DIR/data/redis"
  log "redis: starting on $host:$port"
  # noeviction because BullMQ must never lose keys silently; no persistence for a throwaway stack.
  start_bg redis redis-server --bind "$host" --port "$port" --save '' --appendonly no \
    --maxmemory-policy noeviction --dir "$STACK_DIR/data/redis" --daemonize no
  wait_for redis 30 "$STACK_DIR/run/redis.pid" redis "$REDIS_URL"
}

# The local stack's CLAIM_KEY_SECRET (the key of the claim hashes): generated once and kept with
# the stack's data, since claims written with one secret are not found with another.
claim_key_secret() {
  local file="$STACK_DIR/claim-key-secret"
  if [ ! -s "$file" ]; then
    (umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$file.tmp") && mv "$file.tmp" "$file"
    log "generated the local claim key secret in $file"
  fi
  cat "$file"
}

write_env() {
  local secret
  secret=$(claim_key_secret)
  (umask 077 && cat >"$STACK_DIR/env" <<EOF
KAFKA_BROKERS=$KAFKA_BROKERS
SCHEMA_REGISTRY_URL=$SCHEMA_REGISTRY_URL
MONGODB_URI=$MONGODB_URI
REDIS_URL=$REDIS_URL
CLAIM_KEY_SECRET=$secret
EOF
  )
}

up() {
  mkdir -p "$STACK_DIR" "$CACHE"
  local started=$SECONDS
  # Redis and FerretDB first: they start in well under a second and leave the cores to the JVMs.
  start_redis
  start_ferretdb
  start_kafka
  start_registry
  write_env
  log "up in $((SECONDS - started))s; URLs in $STACK_DIR/env"
}

stop_service() {
  local name=$1 pid
  [ -f "$STACK_DIR/run/$name.pid" ] || return 0
  pid=$(cat "$STACK_DIR/run/$name.pid")
  if kill -0 "$pid" 2>/dev/null; then
    log "stopping $name (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$STACK_DIR/run/$name.pid"
}

down() {
  local name
  for name in registry kafka mongodb redis; do stop_service "$name"; done
}


status() {
  local rc=0 name url version owner
  while read -r name url; do
    owner=external
    running "$name" && owner="local, pid $(cat "$STACK_DIR/run/$name.pid")"
    if version=$(probe "$name" "$url"); then
      # The Kafka protocol does not carry the broker's release; ours is the one we installed.
      [ "$name" = kafka ] && [ "$owner" != external ] && version="Apache Kafka $KAFKA_VERSION (KRaft)${version#Apache Kafka}"
      printf '%-9s %-4s %-40s %s\n          %s\n' "$name" up "$(shown "$url")" "$owner" "$version"
    else
      printf '%-9s %-4s %-40s %s\n' "$name" down "$(shown "$url")" "not answering"; rc=1
    fi
  done <<EOF
kafka $KAFKA_BROKERS
registry $SCHEMA_REGISTRY_URL
mongodb $MONGODB_URI
redis $REDIS_URL
EOF
  return $rc
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  # restart <service>: stop one service this script started and bring the stack up again
  # (fault-injection tests and operators; data is kept).
  restart)
    case "${2:-}" in kafka | registry | mongodb | redis) stop_service "$2"; up ;;
      *) echo "usage: $0 restart kafka|registry|mongodb|redis" >&2; exit 2 ;; esac ;;
  *) echo "usage: $0 up|down|status|restart <service>" >&2; exit 2 ;;
esac
