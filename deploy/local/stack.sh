#!/usr/bin/env bash
# The local stack: real PostgreSQL (logical replication on), the real Apache Kafka broker (4.x,
# KRaft, single node; with KAFKA_NODES=3 also a 3-broker cluster, see "Kafka cluster") and a real Confluent-compatible schema registry (Apicurio Registry 3.x),
# all on 127.0.0.1, no Docker.
#
#   deploy/local/stack.sh up      install what is missing, start what is not running, wait until
#                                 every part answers, create the topics, print the env lines
#   deploy/local/stack.sh down    stop exactly what `up` started (pid files under .stack/)
#   deploy/local/stack.sh env     print the connection settings as env lines
#   deploy/local/stack.sh status  say what runs
#
# Where things come from:
#   PostgreSQL  Debian's `postgresql` package (apt-get install when missing), a private cluster
#               in $STACK_DIR/postgres, port $PG_PORT (default 54329).
#   Kafka       jars from Maven Central through deploy/local/pom.xml, run with the machine's Java
#               17+; broker 127.0.0.1:9092, controller 127.0.0.1:9093; auto topic creation off.
#   Registry    io.apicurio:apicurio-registry-app:<v>:tar.gz:all from Maven Central (Quarkus fast
#               jar), needs Java 21+; Confluent API at /apis/ccompat/v7. Storage: the `registry`
#               database of the same Postgres, so schema ids survive a restart (records in Kafka
#               keep pointing at ids the registry still knows).
#   Topics      deploy/topics.csv, the one topic list.
#   TLS         openssl makes a local CA, a server certificate (localhost, 127.0.0.1) and a client
#               certificate under $STACK_DIR/tls (kept across runs). Postgres runs with ssl=on:
#               plaintext still works for the `pipeline` role, members of `tls_only` (e.g.
#               `pipeline_tls`) must use TLS, `pipeline_cert` logs in with the client certificate.
#               Kafka has two more listeners: SASL_SSL with SCRAM-SHA-512 (user `pipeline`) on
#               $KAFKA_SASL_SSL_PORT and SSL with required client certificates (mTLS) on
#               $KAFKA_SSL_PORT. Passwords are random per stack and printed with the env lines.
#
# Every wait polls with a deadline; on failure the log file's path and its tail are printed.
set -euo pipefail

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STACK_DIR="${STACK_DIR:-$REPO_DIR/.stack}"
# The broker JVM's GC settings: Kafka's own defaults (KAFKA_JVM_PERFORMANCE_OPTS in its
# bin/kafka-run-class.sh). G1's default pause target is 200 ms; Kafka asks for 20 ms and starts
# concurrent marking early, which keeps the broker's pauses (and so produce latency tails) short.
# The heap is fixed (-Xms = -Xmx) so it is never resized by a GC.
KAFKA_JVM_PERFORMANCE_OPTS=${KAFKA_JVM_PERFORMANCE_OPTS:-"-XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15 -Djava.awt.headless=true"}
PG_PORT="${PG_PORT:-54329}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
KAFKA_SASL_SSL_PORT="${KAFKA_SASL_SSL_PORT:-9094}"
KAFKA_SSL_PORT="${KAFKA_SSL_PORT:-9095}"
KAFKA_NODES="${KAFKA_NODES:-1}"  # 3: also start the 3-broker cluster (below)
KAFKA_CLUSTER_PORT="${KAFKA_CLUSTER_PORT:-19092}"
KAFKA_CLUSTER_CONTROLLER_PORT="${KAFKA_CLUSTER_CONTROLLER_PORT:-19099}"
REGISTRY_PORT="${REGISTRY_PORT:-8081}"
REGISTRY_MANAGEMENT_PORT="${REGISTRY_MANAGEMENT_PORT:-9181}"
APP_DB_USER="pipeline"
APP_DB_PASSWORD="pipeline"  # local stack only; real deployments take it from a secret
ADMIN_DB_PASSWORD="postgres" # local stack only
TOPICS_FILE="$REPO_DIR/deploy/topics.csv"
LOG_DIR="$STACK_DIR/logs"
TLS_DIR="$STACK_DIR/tls"
KAFKA_SCRAM_USER="pipeline"

say() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] ERROR: %s\n' "$*" >&2; exit 1; }

# fail_with_log NAME LOGFILE MESSAGE
fail_with_log() {
  printf '[stack] ERROR: %s did not come up: %s\n[stack] log: %s\n' "$1" "$3" "$2" >&2
  if [ -f "$2" ]; then tail -n 40 "$2" >&2 || true; fi
  exit 1
}

# wait_until DEADLINE_SECONDS COMMAND...: poll COMMAND until it succeeds or the deadline passes.
wait_until() {
  local deadline=$(( $(date +%s) + $1 )); shift
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.5
  done
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

apt_install() {
  [ "$(id -u)" = 0 ] || die "need root to install $* (apt-get install -y $*)"
  if [ ! -f "$STACK_DIR/.apt-updated" ]; then
    say "apt-get update"
    apt-get update -qq >"$LOG_DIR/apt.log" 2>&1 || fail_with_log apt "$LOG_DIR/apt.log" "apt-get update failed"
    touch "$STACK_DIR/.apt-updated"
  fi
  say "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" \
    >>"$LOG_DIR/apt.log" 2>&1 || fail_with_log apt "$LOG_DIR/apt.log" "apt-get install $* failed"
}

# ---------------------------------------------------------------- TLS material
# tls_sign NAME SUBJECT EXTENSIONS: a key and a certificate signed by the local CA.
tls_sign() {
  openssl req -new -nodes -newkey rsa:2048 -keyout "$TLS_DIR/$1.key" -out "$TLS_DIR/$1.csr" \
    -subj "$2" >>"$LOG_DIR/tls.log" 2>&1 || fail_with_log tls "$LOG_DIR/tls.log" "key for $1"
  openssl x509 -req -in "$TLS_DIR/$1.csr" -CA "$TLS_DIR/ca.crt" -CAkey "$TLS_DIR/ca.key" \
    -CAcreateserial -out "$TLS_DIR/$1.crt" -days 825 -sha256 -extfile <(printf '%b' "$3") \
    >>"$LOG_DIR/tls.log" 2>&1 || fail_with_log tls "$LOG_DIR/tls.log" "certificate for $1"
  rm -f "$TLS_DIR/$1.csr"
}

tls_up() {
  command -v openssl >/dev/null 2>&1 || apt_install openssl
  mkdir -p "$TLS_DIR"
  if [ ! -f "$TLS_DIR/complete" ]; then
    say "making the local CA and certificates in $TLS_DIR"
    openssl req -x509 -new -nodes -newkey rsa:2048 -keyout "$TLS_DIR/ca.key" -out "$TLS_DIR/ca.crt" \
      -days 3650 -sha256 -subj "/CN=order-pipeline local CA" >>"$LOG_DIR/tls.log" 2>&1 \
      || fail_with_log tls "$LOG_DIR/tls.log" "local CA"
    # A CA that signs nothing we serve: the tests show that trusting it instead fails.
    openssl req -x509 -new -nodes -newkey rsa:2048 -keyout "$TLS_DIR/untrusted-ca.key" \
      -out "$TLS_DIR/untrusted-ca.crt" -days 3650 -sha256 -subj "/CN=order-pipeline untrusted CA" \
      >>"$LOG_DIR/tls.log" 2>&1 || fail_with_log tls "$LOG_DIR/tls.log" "untrusted CA"
    tls_sign server "/CN=localhost" \
      'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment'
    # CN = the Postgres role it logs in as (`cert` authentication) and the Kafka principal.
    tls_sign client "/CN=pipeline_cert" \
      'extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature,keyEncipherment'
    # Kafka reads key and chain from one PEM file.
    cat "$TLS_DIR/server.key" "$TLS_DIR/server.crt" >"$TLS_DIR/server-keystore.pem"
    openssl rand -hex 16 >"$TLS_DIR/kafka-scram-password"
    openssl rand -hex 16 >"$TLS_DIR/postgres-tls-password"
    chmod 600 "$TLS_DIR"/*.key "$TLS_DIR"/*-password "$TLS_DIR/server-keystore.pem"
    touch "$TLS_DIR/complete"
  fi
}

# ---------------------------------------------------------------- PostgreSQL
pg_bin_dir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

ensure_postgres_installed() {
  if [ -z "$(pg_bin_dir)" ] || [ ! -x "$(pg_bin_dir)/initdb" ]; then
    apt_install postgresql postgresql-contrib
  fi
  [ -x "$(pg_bin_dir)/initdb" ] || die "PostgreSQL server binaries not found under /usr/lib/postgresql"
}

# Postgres refuses to run as root: as root we run it as the `postgres` OS user the package made.
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_home() {
  # The cluster lives in .stack/postgres unless the postgres OS user cannot reach that folder
  # (a checkout under a private home directory); then in a folder of its own keyed by the repo.
  local dir="$STACK_DIR/postgres"
  if [ "$(id -u)" = 0 ]; then
    mkdir -p "$dir"; chown postgres:postgres "$dir"
    if ! runuser -u postgres -- test -w "$dir"; then
      dir="/var/lib/postgresql/order-pipeline-$(printf '%s' "$REPO_DIR" | md5sum | cut -c1-8)"
      mkdir -p "$dir"; chown postgres:postgres "$dir"
    fi
  else
    mkdir -p "$dir"
  fi
  printf '%s' "$dir"
}

pg_up() {
  ensure_postgres_installed
  local bin home data log
  bin="$(pg_bin_dir)"; home="$(pg_home)"; data="$home/data"
  # The server writes its log itself, so the log lives where the postgres user can write.
  log="$home/postgres.log"
  touch "$log"; [ "$(id -u)" = 0 ] && chown postgres:postgres "$log"
  [ "$log" -ef "$LOG_DIR/postgres.log" ] || ln -sfn "$log" "$LOG_DIR/postgres.log"
  printf '%s' "$home" >"$STACK_DIR/postgres.home"
  if [ ! -f "$data/PG_VERSION" ]; then
    say "initdb $data"
    local pwfile="$home/.pwfile"
    printf '%s\n' "$ADMIN_DB_PASSWORD" >"$pwfile"; [ "$(id -u)" = 0 ] && chown postgres:postgres "$pwfile"
    as_pg "$bin/initdb" -D "$data" -U postgres --pwfile="$pwfile" --auth-local=trust \
      --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >>"$log" 2>&1 \
      || fail_with_log postgres "$log" "initdb failed"
    rm -f "$pwfile"
    mkdir -p "$home/run"; [ "$(id -u)" = 0 ] && chown postgres:postgres "$home/run"
    cat >>"$data/postgresql.conf" <<EOF

# --- order-pipeline local stack ---
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$home/run'
wal_level = logical
max_replication_slots = 32
max_wal_senders = 32
max_connections = 200
shared_buffers = 256MB
wal_sender_timeout = 30s
log_min_messages = warning
EOF
  fi
  pg_tls_config "$home" "$data"
  if as_pg "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    say "postgres already running on 127.0.0.1:$PG_PORT"
  else
    port_open "$PG_PORT" && die "port $PG_PORT is taken by another process (set PG_PORT)"
    say "starting postgres on 127.0.0.1:$PG_PORT"
    as_pg "$bin/pg_ctl" -D "$data" -l "$log" -w -t 60 start >/dev/null \
      || fail_with_log postgres "$log" "pg_ctl start failed"
  fi
  wait_until 60 as_pg "$bin/pg_isready" -h "$home/run" -p "$PG_PORT" \
    || fail_with_log postgres "$log" "pg_isready failed"
  local psql=(as_pg "$bin/psql" -h "$home/run" -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 -qtA)
  "${psql[@]}" -d postgres >>"$log" 2>&1 <<SQL || fail_with_log postgres "$log" "role/database setup failed"
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$APP_DB_USER') THEN
    CREATE ROLE $APP_DB_USER LOGIN REPLICATION CREATEDB PASSWORD '$APP_DB_PASSWORD';
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tls_only') THEN
    CREATE ROLE tls_only NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pipeline_tls') THEN
    CREATE ROLE pipeline_tls LOGIN REPLICATION CREATEDB IN ROLE tls_only;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pipeline_cert') THEN
    CREATE ROLE pipeline_cert LOGIN REPLICATION CREATEDB IN ROLE tls_only;
  END IF;
END \$\$;
-- The TLS roles act on the same databases as the app role (membership: its privileges, and
-- ownership rights on its tables, which CREATE PUBLICATION needs).
GRANT $APP_DB_USER TO pipeline_tls, pipeline_cert;
-- ...and act as it (SET ROLE at login), so what they create belongs to the app role and a
-- plaintext \`pipeline\` session (tests, tools) can read it.
ALTER ROLE pipeline_tls SET role = '$APP_DB_USER';
ALTER ROLE pipeline_cert SET role = '$APP_DB_USER';
ALTER ROLE pipeline_tls PASSWORD '$(cat "$TLS_DIR/postgres-tls-password")';
SQL
  for db in orders payments gateway registry; do
    if [ "$("${psql[@]}" -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" != 1 ]; then
      "${psql[@]}" -d postgres -c "CREATE DATABASE $db OWNER $APP_DB_USER" >>"$log" 2>&1 \
        || fail_with_log postgres "$log" "CREATE DATABASE $db failed"
    fi
  done
}

# pg_tls_config HOME DATA: the server certificate, ssl=on and the access rules (rewritten on every
# `up`, so an older cluster gains them; a running server reloads).
pg_tls_config() {
  local home="$1" data="$2"
  mkdir -p "$home/tls"
  cp "$TLS_DIR/server.crt" "$TLS_DIR/server.key" "$TLS_DIR/ca.crt" "$home/tls/"
  chmod 600 "$home/tls/server.key"
  [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$home/tls"
  cat >"$data/tls.conf" <<EOF
ssl = on
ssl_cert_file = '$home/tls/server.crt'
ssl_key_file = '$home/tls/server.key'
ssl_ca_file = '$home/tls/ca.crt'
EOF
  grep -q "^include_if_exists = 'tls.conf'" "$data/postgresql.conf" \
    || printf "\ninclude_if_exists = 'tls.conf'\n" >>"$data/postgresql.conf"
  # First match wins: members of tls_only never get in without TLS; pipeline_cert proves itself
  # with the client certificate (CN = role); everyone else uses a SCRAM password, with or
  # without TLS.
  cat >"$data/pg_hba.conf" <<EOF
local all all trust
hostnossl all +tls_only 127.0.0.1/32 reject
hostnossl replication +tls_only 127.0.0.1/32 reject
hostssl all pipeline_cert 127.0.0.1/32 cert
hostssl replication pipeline_cert 127.0.0.1/32 cert
host all all 127.0.0.1/32 scram-sha-256
host replication all 127.0.0.1/32 scram-sha-256
EOF
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$data/tls.conf" "$data/pg_hba.conf"
  if as_pg "$(pg_bin_dir)/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    as_pg "$(pg_bin_dir)/pg_ctl" -D "$data" reload >/dev/null
  fi
}

pg_down() {
  local bin home
  bin="$(pg_bin_dir)"
  [ -f "$STACK_DIR/postgres.home" ] || return 0
  home="$(cat "$STACK_DIR/postgres.home")"
  [ -n "$bin" ] && [ -f "$home/data/PG_VERSION" ] || return 0
  if as_pg "$bin/pg_ctl" -D "$home/data" status >/dev/null 2>&1; then
    say "stopping postgres"
    as_pg "$bin/pg_ctl" -D "$home/data" -m fast -w -t 60 stop >/dev/null
  fi
}

# ---------------------------------------------------------------- Java, Maven and the jars
java_major() { "$1" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1; }

# find_java MIN_MAJOR: print a java binary of at least that major version.
find_java() {
  local candidate major
  for candidate in "${JAVA_HOME:-}/bin/java" "$(command -v java || true)" /usr/lib/jvm/*/bin/java; do
    [ -x "$candidate" ] || continue
    major="$(java_major "$candidate")"
    if [ -n "$major" ] && [ "$major" -ge "$1" ]; then printf '%s' "$candidate"; return 0; fi
  done
  return 1
}

ensure_jars() {
  local kafka_libs="$STACK_DIR/kafka/libs" registry="$STACK_DIR/apicurio"
  if ls "$kafka_libs"/kafka_2.13-*.jar >/dev/null 2>&1 && [ -f "$registry/quarkus-run.jar" ]; then
    return 0
  fi
  command -v mvn >/dev/null 2>&1 || apt_install maven
  find_java 17 >/dev/null || apt_install openjdk-17-jre-headless
  say "fetching Kafka and Apicurio Registry from Maven Central (deploy/local/pom.xml)"
  mvn -B -q -f "$REPO_DIR/deploy/local/pom.xml" -Dstack.dir="$STACK_DIR" \
    dependency:copy-dependencies dependency:unpack >"$LOG_DIR/maven.log" 2>&1 \
    || fail_with_log maven "$LOG_DIR/maven.log" "mvn dependency:copy-dependencies failed"
  ls "$kafka_libs"/kafka_2.13-*.jar >/dev/null 2>&1 \
    || fail_with_log maven "$LOG_DIR/maven.log" "no Kafka jars in $kafka_libs after mvn"
  [ -f "$registry/quarkus-run.jar" ] \
    || fail_with_log maven "$LOG_DIR/maven.log" "no Apicurio quarkus-run.jar in $registry after mvn"
}

# ---------------------------------------------------------------- Kafka (KRaft)
kafka_java() { find_java 17 || die "Kafka 4 needs Java 17+ (apt-get install openjdk-17-jre-headless)"; }

kafka_up() {
  local dir="$STACK_DIR/kafka" log="$LOG_DIR/kafka.log" java
  java="$(kafka_java)"
  mkdir -p "$dir/data"
  if pid_alive "$dir/pid"; then
    say "kafka already running on 127.0.0.1:$KAFKA_PORT"
  else
    port_open "$KAFKA_PORT" && die "port $KAFKA_PORT is taken by another process (set KAFKA_PORT)"
    cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT,SASL_SSL://127.0.0.1:$KAFKA_SASL_SSL_PORT,SSL://127.0.0.1:$KAFKA_SSL_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,SASL_SSL://127.0.0.1:$KAFKA_SASL_SSL_PORT,SSL://127.0.0.1:$KAFKA_SSL_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PEM
ssl.keystore.location=$TLS_DIR/server-keystore.pem
ssl.truststore.type=PEM
ssl.truststore.location=$TLS_DIR/ca.crt
listener.name.ssl.ssl.client.auth=required
log.dirs=$dir/data
auto.create.topics.enable=false
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.hours=168
EOF
    cat >"$dir/log4j2.properties" <<'EOF'
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = WARN
logger.apache.name = org.apache.kafka
logger.apache.level = WARN
logger.server.name = kafka.server.KafkaServer
logger.server.level = INFO
EOF
    if [ ! -f "$dir/data/meta.properties" ]; then
      local cluster_id
      cluster_id="$("$java" -cp "$dir/libs/*" kafka.tools.StorageTool random-uuid 2>>"$log" | tail -n 1)"
      say "formatting KRaft storage (cluster $cluster_id)"
      "$java" -Dlog4j2.configurationFile="$dir/log4j2.properties" -cp "$dir/libs/*" \
        kafka.tools.StorageTool format -t "$cluster_id" -c "$dir/server.properties" \
        >>"$log" 2>&1 || fail_with_log kafka "$log" "kafka-storage format failed"
    fi
    say "starting kafka on 127.0.0.1:$KAFKA_PORT"
    # shellcheck disable=SC2086
    setsid nohup "$java" -Xms768m -Xmx768m $KAFKA_JVM_PERFORMANCE_OPTS \
      -Dlog4j2.configurationFile="$dir/log4j2.properties" -cp "$dir/libs/*" \
      kafka.Kafka "$dir/server.properties" >>"$log" 2>&1 </dev/null &
    echo $! >"$dir/pid"
  fi
  wait_until 90 port_open "$KAFKA_PORT" || fail_with_log kafka "$log" "port $KAFKA_PORT not open"
}

topics_admin() {
  "$(kafka_java)" -Xmx256m -Dlog4j2.configurationFile="$STACK_DIR/kafka/log4j2.properties" \
    -cp "$STACK_DIR/kafka/libs/*" org.apache.kafka.tools.TopicCommand \
    --bootstrap-server "127.0.0.1:$KAFKA_PORT" "$@"
}

# The SCRAM user of the SASL_SSL listener (idempotent: the password is set again on every `up`).
kafka_scram_up() {
  local log="$LOG_DIR/kafka-scram.log"
  "$(kafka_java)" -Xmx256m -Dlog4j2.configurationFile="$STACK_DIR/kafka/log4j2.properties" \
    -cp "$STACK_DIR/kafka/libs/*" kafka.admin.ConfigCommand \
    --bootstrap-server "127.0.0.1:$KAFKA_PORT" --alter --entity-type users \
    --entity-name "$KAFKA_SCRAM_USER" \
    --add-config "SCRAM-SHA-512=[iterations=8192,password=$(cat "$TLS_DIR/kafka-scram-password")]" \
    >"$log" 2>&1 || fail_with_log kafka "$log" "creating the SCRAM user $KAFKA_SCRAM_USER failed"
}

# topics_up [cluster]: the single broker gets every topic with replication factor 1, the cluster
# with replication factor 3 and min.insync.replicas=2 (as deploy/k8s/overlays/prod). Missing
# topics are created and a topic list edit that adds partitions reaches a running stack too
# (Kafka can only grow a topic's partition count; a shrink needs `make down`, a wipe of .stack/,
# `make up`) — all in one JVM (deploy/local/EnsureTopics.java).
topics_up() {
  local target="${1:-broker}" bootstrap="127.0.0.1:$KAFKA_PORT" replication=1 min_isr=1
  local log="$LOG_DIR/topics.log" line
  if [ "$target" = cluster ]; then bootstrap="$(cluster_bootstrap)" replication=3 min_isr=2; fi
  "$(kafka_java)" -Xmx256m -Dlog4j2.configurationFile="$STACK_DIR/kafka/log4j2.properties" \
    -cp "$STACK_DIR/kafka/libs/*" "$REPO_DIR/deploy/local/EnsureTopics.java" \
    "$bootstrap" "$TOPICS_FILE" "$replication" "$min_isr" >"$log.out" 2>>"$log" \
    || fail_with_log kafka "$log" "creating the topics of $TOPICS_FILE on the $target failed"
  while IFS= read -r line; do say "$line (on the $target)"; done <"$log.out"
}

# ---------------------------------------------------------------- Kafka cluster (3 brokers)
# `KAFKA_NODES=3 stack.sh up` (or `make up KAFKA_NODES=3`; `make test` always does) also starts a
# second, independent Kafka: three brokers (node ids 1-3, 127.0.0.1:$KAFKA_CLUSTER_PORT + 0/100/200)
# and one dedicated KRaft controller (node id 100, 127.0.0.1:$KAFKA_CLUSTER_CONTROLLER_PORT).
# Defaults as in production: replication factor 3, min.insync.replicas=2, unclean leader election
# off. The controller runs apart from the brokers (as Strimzi's controller node pool does), so the
# metadata quorum outlives any number of stopped brokers: with two brokers down the last one
# stays leader and refuses acks=all writes with NOT_ENOUGH_REPLICAS, instead of the whole cluster
# losing its quorum. The single broker on $KAFKA_PORT keeps serving everything else.
# The multi-broker tests kill and restart brokers with `stack.sh cluster-kill|cluster-stop|
# cluster-start NODE`.
CLUSTER_DIR="$STACK_DIR/kafka-cluster"
CLUSTER_BROKERS="1 2 3"
CLUSTER_CONTROLLER_ID=100

cluster_broker_port() { printf '%s' $(( KAFKA_CLUSTER_PORT + 100 * ($1 - 1) )); }
cluster_bootstrap() {
  local node out=""
  for node in $CLUSTER_BROKERS; do out="$out${out:+,}127.0.0.1:$(cluster_broker_port "$node")"; done
  printf '%s' "$out"
}
cluster_node_dir() { [ "$1" = "$CLUSTER_CONTROLLER_ID" ] && printf '%s' "$CLUSTER_DIR/controller" || printf '%s' "$CLUSTER_DIR/broker-$1"; }

cluster_node_properties() { # NODE: server.properties of a broker (1-3) or the controller
  local node="$1" dir
  dir="$(cluster_node_dir "$node")"
  if [ "$node" = "$CLUSTER_CONTROLLER_ID" ]; then
    cat <<EOF
process.roles=controller
node.id=$node
controller.quorum.voters=$CLUSTER_CONTROLLER_ID@127.0.0.1:$KAFKA_CLUSTER_CONTROLLER_PORT
listeners=CONTROLLER://127.0.0.1:$KAFKA_CLUSTER_CONTROLLER_PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
EOF
  else
    local port
    port="$(cluster_broker_port "$node")"
    cat <<EOF
process.roles=broker
node.id=$node
controller.quorum.voters=$CLUSTER_CONTROLLER_ID@127.0.0.1:$KAFKA_CLUSTER_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
auto.create.topics.enable=false
num.partitions=3
default.replication.factor=3
min.insync.replicas=2
unclean.leader.election.enable=false
offsets.topic.replication.factor=3
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
group.initial.rebalance.delay.ms=0
log.retention.hours=168
EOF
  fi
}

# cluster_node_start NODE: format its storage once, start it, wait for its port.
cluster_node_start() {
  local node="$1" dir log java heap port
  dir="$(cluster_node_dir "$node")"
  log="$LOG_DIR/kafka-cluster-$(basename "$dir").log"
  java="$(kafka_java)"
  mkdir -p "$dir/data"
  if [ "$node" = "$CLUSTER_CONTROLLER_ID" ]; then
    port="$KAFKA_CLUSTER_CONTROLLER_PORT" heap=256m
  else
    port="$(cluster_broker_port "$node")" heap=512m
  fi
  if pid_alive "$dir/pid"; then
    say "kafka cluster node $node already running on 127.0.0.1:$port"
  else
    port_open "$port" && die "port $port is taken by another process (set KAFKA_CLUSTER_PORT / KAFKA_CLUSTER_CONTROLLER_PORT)"
    cluster_node_properties "$node" >"$dir/server.properties"
    if [ ! -s "$CLUSTER_DIR/cluster-id" ]; then
      "$java" -cp "$STACK_DIR/kafka/libs/*" kafka.tools.StorageTool random-uuid 2>>"$log" \
        | tail -n 1 >"$CLUSTER_DIR/cluster-id.new"
      [ -s "$CLUSTER_DIR/cluster-id.new" ] || fail_with_log kafka-cluster "$log" "kafka-storage random-uuid failed"
      mv "$CLUSTER_DIR/cluster-id.new" "$CLUSTER_DIR/cluster-id"
    fi
    if [ ! -f "$dir/data/meta.properties" ]; then
      "$java" -Dlog4j2.configurationFile="$STACK_DIR/kafka/log4j2.properties" \
        -cp "$STACK_DIR/kafka/libs/*" kafka.tools.StorageTool format \
        -t "$(cat "$CLUSTER_DIR/cluster-id")" -c "$dir/server.properties" >>"$log" 2>&1 \
        || fail_with_log kafka-cluster "$log" "kafka-storage format of node $node failed"
    fi
    say "starting kafka cluster node $node on 127.0.0.1:$port"
    # shellcheck disable=SC2086
    setsid nohup "$java" "-Xms$heap" "-Xmx$heap" $KAFKA_JVM_PERFORMANCE_OPTS \
      -Dlog4j2.configurationFile="$STACK_DIR/kafka/log4j2.properties" -cp "$STACK_DIR/kafka/libs/*" \
      kafka.Kafka "$dir/server.properties" >>"$log" 2>&1 </dev/null &
    echo $! >"$dir/pid"
  fi
  wait_until 90 port_open "$port" || fail_with_log kafka-cluster "$log" "port $port not open"
}

cluster_admin() { # CLASS ARGS...: a Kafka admin tool against the cluster
  local class="$1"; shift
  "$(kafka_java)" -Xmx256m -Dlog4j2.configurationFile="$STACK_DIR/kafka/log4j2.properties" \
    -cp "$STACK_DIR/kafka/libs/*" "$class" --bootstrap-server "$(cluster_bootstrap)" "$@"
}

# Every broker registered with the controller (and so able to host replicas).
cluster_brokers_registered() {
  [ "$(cluster_admin org.apache.kafka.tools.BrokerApiVersionsCommand 2>/dev/null \
    | grep -c '^127.0.0.1:[0-9]* (id: [0-9]* rack')" -eq 3 ]
}

# cluster_broker_registered NODE: that broker is registered and unfenced (others may be down).
cluster_broker_registered() {
  cluster_admin org.apache.kafka.tools.BrokerApiVersionsCommand 2>/dev/null \
    | grep -q "^127.0.0.1:[0-9]* (id: $1 rack"
}

cluster_up() {
  local node
  mkdir -p "$CLUSTER_DIR"
  cluster_node_start "$CLUSTER_CONTROLLER_ID"
  for node in $CLUSTER_BROKERS; do cluster_node_start "$node"; done
  wait_until 120 cluster_brokers_registered \
    || fail_with_log kafka-cluster "$LOG_DIR/kafka-cluster-broker-1.log" "not all 3 brokers registered"
  topics_up cluster
}

cluster_down() {
  local node
  for node in $CLUSTER_BROKERS; do stop_pid "kafka cluster broker $node" "$CLUSTER_DIR/broker-$node/pid"; done
  stop_pid "kafka cluster controller" "$CLUSTER_DIR/controller/pid"
}

cluster_running() { pid_alive "$CLUSTER_DIR/controller/pid"; }

cluster_node_arg() {
  case "${1:-}" in 1|2|3) ;; *) die "name a broker: 1, 2 or 3" ;; esac
}

# ---------------------------------------------------------------- Apicurio Registry
registry_ready() { curl -sf -o /dev/null "http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7/subjects"; }

registry_up() {
  local dir="$STACK_DIR/apicurio" log="$LOG_DIR/registry.log" java
  command -v curl >/dev/null 2>&1 || apt_install curl
  if pid_alive "$STACK_DIR/registry.pid"; then
    say "schema registry already running on 127.0.0.1:$REGISTRY_PORT"
  else
    port_open "$REGISTRY_PORT" && die "port $REGISTRY_PORT is taken by another process (set REGISTRY_PORT)"
    java="$(find_java 21)" || {
      apt_install openjdk-21-jre-headless || true
      java="$(find_java 21)" || die "Apicurio Registry 3 needs Java 21+; none found under /usr/lib/jvm"
    }
    say "starting Apicurio Registry on 127.0.0.1:$REGISTRY_PORT"
    setsid nohup "$java" -Xms128m -Xmx512m \
      -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="$REGISTRY_PORT" \
      -Dquarkus.management.host=127.0.0.1 -Dquarkus.management.port="$REGISTRY_MANAGEMENT_PORT" \
      -Dquarkus.log.level=WARN -Dquarkus.http.access-log.enabled=false \
      -Dapicurio.storage.kind=sql -Dapicurio.storage.sql.kind=postgresql \
      -Dapicurio.datasource.url="jdbc:postgresql://127.0.0.1:$PG_PORT/registry" \
      -Dapicurio.datasource.username="$APP_DB_USER" -Dapicurio.datasource.password="$APP_DB_PASSWORD" \
      -jar "$dir/quarkus-run.jar" >>"$log" 2>&1 </dev/null &
    echo $! >"$STACK_DIR/registry.pid"
  fi
  wait_until 120 registry_ready || fail_with_log registry "$log" "no answer on /apis/ccompat/v7/subjects"
  # The registry enforces what schemas/ promises: every new version is FULL_TRANSITIVE compatible.
  curl -sf -o /dev/null -X PUT -H 'Content-Type: application/vnd.schemaregistry.v1+json' \
    --data '{"compatibility": "FULL_TRANSITIVE"}' "http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7/config" \
    || fail_with_log registry "$log" "setting the global compatibility level failed"
}

# ---------------------------------------------------------------- stop
stop_pid() { # stop_pid NAME PIDFILE
  local pidfile="$2" pid
  pid_alive "$pidfile" || { rm -f "$pidfile"; return 0; }
  pid="$(cat "$pidfile")"
  say "stopping $1 (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  if ! wait_until 60 bash -c "! kill -0 $pid"; then
    say "$1 did not stop in 60 s, killing it"
    kill -KILL "$pid" 2>/dev/null || true
    wait_until 10 bash -c "! kill -0 $pid" || true
  fi
  rm -f "$pidfile"
}

print_env() {
  cat <<EOF
ORDERS_DATABASE_URL=postgres://$APP_DB_USER:$APP_DB_PASSWORD@127.0.0.1:$PG_PORT/orders
PAYMENTS_DATABASE_URL=postgres://$APP_DB_USER:$APP_DB_PASSWORD@127.0.0.1:$PG_PORT/payments
GATEWAY_DATABASE_URL=postgres://$APP_DB_USER:$APP_DB_PASSWORD@127.0.0.1:$PG_PORT/gateway
POSTGRES_ADMIN_URL=postgres://postgres:$ADMIN_DB_PASSWORD@127.0.0.1:$PG_PORT/postgres
KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:$KAFKA_PORT
SCHEMA_REGISTRY_URL=http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7
TLS_CA_FILE=$TLS_DIR/ca.crt
TLS_UNTRUSTED_CA_FILE=$TLS_DIR/untrusted-ca.crt
TLS_CLIENT_CERT_FILE=$TLS_DIR/client.crt
TLS_CLIENT_KEY_FILE=$TLS_DIR/client.key
POSTGRES_TLS_PASSWORD=$(cat "$TLS_DIR/postgres-tls-password")
ORDERS_DATABASE_TLS_URL='postgres://pipeline_tls:$(cat "$TLS_DIR/postgres-tls-password")@127.0.0.1:$PG_PORT/orders?sslmode=verify-full&sslrootcert=$TLS_DIR/ca.crt'
KAFKA_SASL_SSL_BOOTSTRAP_SERVERS=127.0.0.1:$KAFKA_SASL_SSL_PORT
KAFKA_SSL_BOOTSTRAP_SERVERS=127.0.0.1:$KAFKA_SSL_PORT
KAFKA_SCRAM_USER=$KAFKA_SCRAM_USER
KAFKA_SCRAM_PASSWORD=$(cat "$TLS_DIR/kafka-scram-password")
EOF
  if cluster_running; then
    printf 'KAFKA_CLUSTER_BOOTSTRAP_SERVERS=%s\n' "$(cluster_bootstrap)"
  fi
}

main() {
  mkdir -p "$STACK_DIR" "$LOG_DIR"
  case "${1:-}" in
    up)
      ensure_jars
      tls_up
      pg_up
      kafka_up
      registry_up
      wait_until 60 topics_admin --list || fail_with_log kafka "$LOG_DIR/kafka.log" "broker does not answer"
      topics_up
      kafka_scram_up
      case "$KAFKA_NODES" in
        1) ;;
        3) cluster_up ;;
        *) die "KAFKA_NODES must be 1 (one broker) or 3 (also the 3-broker cluster), not $KAFKA_NODES" ;;
      esac
      print_env | tee "$STACK_DIR/env"
      say "stack is up (logs in $LOG_DIR)"
      ;;
    down)
      cluster_down
      stop_pid "schema registry" "$STACK_DIR/registry.pid"
      stop_pid kafka "$STACK_DIR/kafka/pid"
      pg_down
      ;;
    env) tls_up; print_env ;;
    status)
      pid_alive "$STACK_DIR/kafka/pid" && say "kafka: running" || say "kafka: stopped"
      pid_alive "$STACK_DIR/registry.pid" && say "registry: running" || say "registry: stopped"
      port_open "$PG_PORT" && say "postgres: running" || say "postgres: stopped"
      for node in "$CLUSTER_CONTROLLER_ID" $CLUSTER_BROKERS; do
        if pid_alive "$(cluster_node_dir "$node")/pid"; then say "kafka cluster node $node: running"; fi
      done
      ;;
    # The multi-broker tests' levers (one broker of the 3-broker cluster):
    cluster-kill) # SIGKILL, no controlled shutdown
      cluster_node_arg "${2:-}"
      pid_alive "$CLUSTER_DIR/broker-$2/pid" || die "kafka cluster broker $2 is not running"
      say "kill -9 kafka cluster broker $2 (pid $(cat "$CLUSTER_DIR/broker-$2/pid"))"
      kill -KILL "$(cat "$CLUSTER_DIR/broker-$2/pid")"
      # Gone, or a zombie nobody reaped yet (its port is closed either way).
      wait_until 30 bash -c "! kill -0 $(cat "$CLUSTER_DIR/broker-$2/pid") || grep -q '^[0-9]* ([^)]*) Z' /proc/$(cat "$CLUSTER_DIR/broker-$2/pid")/stat" \
        || die "broker $2 still alive"
      rm -f "$CLUSTER_DIR/broker-$2/pid"
      ;;
    cluster-stop) # SIGTERM: controlled shutdown
      cluster_node_arg "${2:-}"
      stop_pid "kafka cluster broker $2" "$CLUSTER_DIR/broker-$2/pid"
      ;;
    cluster-down) cluster_down ;;
    cluster-start)
      cluster_node_arg "${2:-}"
      cluster_running || die "the 3-broker cluster is not running: KAFKA_NODES=3 $0 up"
      cluster_node_start "$2"
      # An open port is not a usable broker: wait until it registered with the controller.
      wait_until 120 cluster_broker_registered "$2" \
        || fail_with_log kafka-cluster "$LOG_DIR/kafka-cluster-broker-$2.log" "broker $2 did not register"
      ;;
    *) die "usage: $0 up|down|env|status|cluster-kill N|cluster-stop N|cluster-start N|cluster-down (KAFKA_NODES=3 up starts the 3-broker cluster)" ;;
  esac
}

main "$@"
