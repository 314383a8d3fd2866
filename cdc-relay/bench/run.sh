#!/usr/bin/env bash
# cdc-relay benchmark against the local stack (`make up`). Every measurement runs REPEAT times
# (default 3); the summary gives min / median / max and the ratios, all from the same run.
#
#   (a) drain a backlog of ROWS outbox rows (~300-byte payloads, 6 partitions):
#       - pg_recvlogical (Postgres' own client, output to /dev/null): the decoding ceiling;
#       - cdc-relay: events/s until Kafka acknowledged all ROWS records, CPU seconds (user + sys,
#         whole process, from /proc/<pid>/stat) and peak RSS (VmHWM) of the relay process;
#       - Kafka's own producer perf tool (org.apache.kafka.tools.ProducerPerformance from the
#         stack's jars): ROWS records of the same size, acks=all, enable.idempotence=true,
#         6 partitions: the broker's ingest ceiling.
#       - the relay's Kafka side alone ("producer only": cdc-relay-bench produce-drain): ROWS
#         records of the same size, key and id header through librdkafka with the relay's own
#         producer settings (and RELAY_ARGS' --kafka-option overrides), no Postgres and no relay
#         code: its CPU per record is the part of the relay's CPU that librdkafka costs.
#   (b) commit -> Kafka ack latency at steady 1,000 and 3,000 events/s for LAT_SECONDS each,
#       read from the relay's histogram cdc_relay_commit_to_ack_seconds (Postgres commit
#       timestamp -> delivery report; quantiles as "<= bucket bound"), plus the bench
#       consumer's insert -> consume view (exact quantiles, and the seconds with slow records),
#       and those seconds matched by timestamp to the broker's GC pauses (jstat -gc every
#       100 ms), Postgres' checkpoints (postgres.log) and fsyncs over 5 ms on the machine
#       (perf trace): slow-RATE-REP.txt. The relay's cdc_relay_commit_to_read_seconds splits
#       commit -> ack into its Postgres side (commit -> read) and the rest.
#       At the same time, on another topic, the producer-only baseline sends at the same rate
#       (cdc-relay-bench produce-latency, the relay's producer settings): its send -> ack
#       quantiles (exact) are the floor this broker and machine put under the relay's
#       read -> ack side in those same seconds.
#
# Usage: cdc-relay/bench/run.sh [--rows N] [--repeat R] [--latency-seconds S] [--skip-latency]
#                               [--profile]   (perf record -e cpu-clock of the first relay drain)
# Env: STACK_DIR (default <repo>/.stack; its kafka/libs holds the Kafka jars), PG_PORT,
#      KAFKA_BOOTSTRAP_SERVERS, BENCH_OUT (output directory), RELAY_ARGS (extra relay flags),
#      RELAY_BIN (another relay binary), PG_URL_PARAMS (query parameters of the database URL
#      that pg_recvlogical and every relay use, e.g. sslmode=disable; default: libpq's prefer,
#      which is TLS on the local stack), COMPARE="label=binary ..." (more binaries that drain
#      the same backlog from their own slots in each repetition: a same-conditions A/B, e.g.
#      COMPARE="r1=/tmp/cdc-relay-baseline"; their results are named cmp_<label>_*).
set -euo pipefail
ROWS=1000000
REPEAT=3
LAT_SECONDS=20
SKIP_LATENCY=0
PROFILE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --rows) ROWS=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --latency-seconds) LAT_SECONDS=$2; shift 2 ;;
    --skip-latency) SKIP_LATENCY=1; shift ;;
    --profile) PROFILE=1; shift ;;
    *) echo "unknown flag $1" >&2; exit 2 ;;
  esac
done

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
STACK_DIR=${STACK_DIR:-$ROOT/.stack}
KAFKA_LIBS=$STACK_DIR/kafka/libs
[ -d "$KAFKA_LIBS" ] || { echo "no Kafka jars in $KAFKA_LIBS: start the stack with \`make up\` (or set STACK_DIR)" >&2; exit 1; }
PG_HOST=127.0.0.1 PG_PORT=${PG_PORT:-54329}
BOOT=${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:9092}
ID=$(date +%s)
OUT=${BENCH_OUT:-/tmp/cdc-relay-bench-$ID}
mkdir -p "$OUT"
RESULTS=$OUT/results.tsv
: >"$RESULTS"
CLK_TCK=$(getconf CLK_TCK)
psql_admin() { PGPASSWORD=postgres psql -h $PG_HOST -p $PG_PORT -U postgres -qAt -v ON_ERROR_STOP=1 "$@"; }
psql_db() { PGPASSWORD=pipeline psql -h $PG_HOST -p $PG_PORT -U pipeline -d "$DB" -qAt -v ON_ERROR_STOP=1 "$@"; }

# Each repetition writes ~0.5 KB of WAL and ~1.3 KB of Kafka log per row (the backlog, the
# drains, ProducerPerformance); a full disk fails Postgres mid-seed. Refuse to start without
# about 3 KB per row free where the stack lives.
NEED_KB=$((ROWS * 3))
FREE_KB=$(df --output=avail -k "$STACK_DIR" | tail -1)
if [ "$FREE_KB" -lt "$NEED_KB" ]; then
  echo "only $((FREE_KB / 1024)) MB free under $STACK_DIR; --rows $ROWS needs about $((NEED_KB / 1024)) MB" >&2
  exit 1
fi

echo "building (release)..."
cargo build --release -p cdc-relay --bin cdc-relay --example cdc-relay-bench >"$OUT/build.log" 2>&1
RELAY=${RELAY_BIN:-target/release/cdc-relay}
# COMPARE="label=binary ...": more relay binaries draining the same backlog in each repetition.
CMP_LABELS=() CMP_BINS=()
for ENTRY in ${COMPARE:-}; do CMP_LABELS+=("${ENTRY%%=*}"); CMP_BINS+=("${ENTRY#*=}"); done
BENCH=target/release/examples/cdc-relay-bench
# The relay's --kafka-option overrides, for the producer-only baseline.
KAFKA_OPTS=$(grep -oE -- '--kafka-option[ =][^ ]+' <<<"${RELAY_ARGS:-}" | tr '\n' ' ' || true)

# drain NAME BINARY SLOT: one relay drains the backlog from SLOT; results NAME_events_per_s,
# NAME_cpu_s_per_1m, NAME_peak_rss_mb, NAME_vs_recvlogical. Reads $secs (pg_recvlogical's).
drain() {
  local name=$1 bin=$2 slot=$3 port=18090 secs_relay stat cpu_s user_s sys_s rss_kb
  start_relay $port "$OUT/$name-drain-$REP.log" "$bin" "$slot"
  if [ "$PROFILE" = 1 ] && [ "$REP" = 1 ] && [ "$name" = relay ]; then
    perf record -e cpu-clock -F 999 --call-graph dwarf,16384 -p "$RELAY_PID" \
      -o "$OUT/relay.perf.data" >"$OUT/perf.log" 2>&1 &
    PERF_PID=$!
  fi
  secs_relay=$($BENCH wait-metric --port $port --name cdc_relay_events_total --at-least "$ROWS")
  read -r -a stat <"/proc/$RELAY_PID/stat"
  cpu_s=$(awk "BEGIN{printf \"%.2f\", (${stat[13]}+${stat[14]})/$CLK_TCK}")
  user_s=$(awk "BEGIN{printf \"%.2f\", ${stat[13]}/$CLK_TCK}")
  sys_s=$(awk "BEGIN{printf \"%.2f\", ${stat[14]}/$CLK_TCK}")
  rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$RELAY_PID/status")
  # CPU seconds per thread (tokio runtime, librdkafka's broker threads, its delivery-report
  # poller): where the process's CPU went.
  for T in /proc/"$RELAY_PID"/task/*; do
    awk -v tck="$CLK_TCK" -v comm="$(cat "$T/comm")" '{printf "%-16s %6.2f user %6.2f sys\n", comm, $14/tck, $15/tck}' "$T/stat"
  done | sort -k2 -gr >"$OUT/$name-threads-$REP.txt"
  if [ -n "${PERF_PID:-}" ]; then kill -INT "$PERF_PID"; wait "$PERF_PID" || true; PERF_PID=; fi
  curl -s "127.0.0.1:$port/metrics" >"$OUT/$name-drain-$REP.metrics"
  stop_relay
  result "${name}_events_per_s" "$(awk "BEGIN{printf \"%.0f\", $ROWS/$secs_relay}")"
  result "${name}_cpu_s_per_1m" "$(awk "BEGIN{printf \"%.2f\", $cpu_s*1000000/$ROWS}")"
  result "${name}_peak_rss_mb" "$(awk "BEGIN{printf \"%.1f\", $rss_kb/1024}")"
  result "${name}_vs_recvlogical" "$(awk "BEGIN{printf \"%.2f\", $secs/$secs_relay}")"
  echo "$name ($bin): $ROWS events acknowledged in $secs_relay s (incl. start-up), CPU $user_s user + $sys_s sys, peak RSS $((rss_kb / 1024)) MB"
  [ "$name" = relay ] && SECS=$secs_relay
  return 0
}

# result NAME VALUE: one measurement of this repetition.
result() { printf '%s\t%s\t%s\n' "$REP" "$1" "$2" >>"$RESULTS"; }

start_relay() { # start_relay PORT LOG [BINARY SLOT]
  # shellcheck disable=SC2086
  ${3:-$RELAY} --database-url "$URL" --slot-name "${4:-bench_relay}" --publication bench_pub \
    --topic-template "$PREFIX.{aggregatetype}" --ops-addr "127.0.0.1:$1" \
    --kafka-bootstrap-servers "$BOOT" ${RELAY_ARGS:-} >"$2" 2>&1 &
  RELAY_PID=$!
}
stop_relay() {
  [ -n "${RELAY_PID:-}" ] || return 0
  kill -TERM "$RELAY_PID" 2>/dev/null || true
  wait "$RELAY_PID" 2>/dev/null || true
  RELAY_PID=
}
cleanup_db() {
  [ -n "${DB:-}" ] || return 0
  psql_admin -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = '$DB' AND active_pid IS NULL" >/dev/null || true
  psql_admin -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null || true
  $BENCH delete-topics --bootstrap "$BOOT" --topic "$PREFIX.order" --topic "$PREFIX.perf" >/dev/null 2>&1 || true
  DB=
}
# While a latency run goes: the broker's GC counters every 100 ms (jstat, read-only), with the
# JVM uptime at a known wall-clock time to place them; skipped without jstat or a broker pid.
KAFKA_PID=$(cat "$STACK_DIR/kafka/pid" 2>/dev/null || true)
PG_LOG=$STACK_DIR/logs/postgres.log
start_gc_watch() { # start_gc_watch PREFIX
  GC_FILES=
  command -v jstat >/dev/null && [ -n "$KAFKA_PID" ] && kill -0 "$KAFKA_PID" 2>/dev/null || return 0
  GC_FILES=$1
  printf '%s %s\n' "$(date +%s.%N)" "$(jcmd "$KAFKA_PID" VM.uptime | awk '/ s$/ {print $1}')" >"$1.uptime"
  jstat -gc -t "$KAFKA_PID" 100 >"$1.jstat" 2>&1 &
  JSTAT_PID=$!
}
stop_gc_watch() {
  [ -n "${JSTAT_PID:-}" ] && kill "$JSTAT_PID" 2>/dev/null || true
  JSTAT_PID=
}
# Also while a latency run goes: every fsync / fdatasync over 5 ms on the machine (Postgres' WAL
# flushes, the broker's), with CLOCK_MONOTONIC at a known wall-clock time to place them; skipped
# where `perf trace` is missing or not permitted.
start_fsync_watch() { # start_fsync_watch PREFIX
  FSYNC_FILES=
  command -v perf >/dev/null && perf trace -a -e fsync true >/dev/null 2>&1 || return 0
  FSYNC_FILES=$1
  python3 -c 'import time; print(time.time(), time.clock_gettime(time.CLOCK_MONOTONIC))' >"$1.clock"
  perf trace -T -a -e fdatasync,fsync --duration 5 -o "$1.trace" >/dev/null 2>&1 &
  FSYNC_PID=$!
}
stop_fsync_watch() {
  [ -n "${FSYNC_PID:-}" ] && { kill -INT "$FSYNC_PID" 2>/dev/null; wait "$FSYNC_PID" 2>/dev/null; } || true
  FSYNC_PID=
}
cleanup() {
  stop_gc_watch
  stop_fsync_watch
  [ -n "${PERF_PID:-}" ] && kill -INT "$PERF_PID" 2>/dev/null || true
  stop_relay
  cleanup_db
}
trap cleanup EXIT

for REP in $(seq 1 "$REPEAT"); do
  DB=relay_bench_${ID}_$REP
  URL="postgres://pipeline:pipeline@$PG_HOST:$PG_PORT/$DB${PG_URL_PARAMS:+?$PG_URL_PARAMS}"
  PREFIX=bench.$ID.$REP
  echo "=== repetition $REP of $REPEAT"
  psql_admin -c "CREATE DATABASE $DB OWNER pipeline"
  psql_db -f eventing/sql/outbox_table.sql
  psql_db -c "CREATE PUBLICATION bench_pub FOR TABLE outbox"
  # Both slots exist before the backlog is written, so both see all of it.
  psql_db -c "SELECT pg_create_logical_replication_slot('bench_relay', 'pgoutput')" >/dev/null
  psql_db -c "SELECT pg_create_logical_replication_slot('bench_recv', 'pgoutput')" >/dev/null
  for I in "${!CMP_LABELS[@]}"; do
    psql_db -c "SELECT pg_create_logical_replication_slot('bench_cmp_$I', 'pgoutput')" >/dev/null
  done
  $BENCH create-topic --topic "$PREFIX.order" --partitions 6 --bootstrap "$BOOT"
  $BENCH create-topic --topic "$PREFIX.perf" --partitions 6 --bootstrap "$BOOT"
  $BENCH seed --database-url "$URL" --rows "$ROWS"
  END_LSN=$(psql_db -c "SELECT pg_current_wal_lsn()")
  # The same record size as the relay's records (payload bytes as stored in the outbox).
  RECORD_BYTES=$(psql_db -c "SELECT octet_length(payload) FROM outbox LIMIT 1")

  # (a) pg_recvlogical
  /usr/bin/time -f "%e %U %S %M" -o "$OUT/recvlogical-$REP.time" pg_recvlogical -d "$URL" \
    --slot bench_recv --start -o proto_version=1 -o publication_names=bench_pub \
    --endpos "$END_LSN" -f /dev/null --no-loop
  read -r secs user sys rss_kb <"$OUT/recvlogical-$REP.time"
  result recv_rows_per_s "$(awk "BEGIN{printf \"%.0f\", $ROWS/$secs}")"
  result recv_cpu_s_per_1m "$(awk "BEGIN{printf \"%.2f\", ($user+$sys)*1000000/$ROWS}")"
  echo "pg_recvlogical: $ROWS rows in $secs s, CPU $user user + $sys sys"

  # (a) cdc-relay, and each COMPARE binary from its own slot (same backlog); the order rotates
  # with the repetition so none always goes first.
  DRAINS=("relay $RELAY bench_relay")
  for I in "${!CMP_LABELS[@]}"; do DRAINS+=("cmp_${CMP_LABELS[$I]} ${CMP_BINS[$I]} bench_cmp_$I"); done
  for K in $(seq 0 $((${#DRAINS[@]} - 1))); do
    read -r NAME BIN SLOT <<<"${DRAINS[$(((K + REP - 1) % ${#DRAINS[@]}))]}"
    drain "$NAME" "$BIN" "$SLOT"
  done

  # (a) Kafka's producer perf tool: the broker's ingest ceiling for this record size.
  java -Xmx512m -cp "$KAFKA_LIBS/*" -Dlog4j2.configurationFile="$STACK_DIR/kafka/log4j2.properties" \
    org.apache.kafka.tools.ProducerPerformance --topic "$PREFIX.perf" --num-records "$ROWS" \
    --record-size "$RECORD_BYTES" --throughput -1 \
    --producer-props bootstrap.servers="$BOOT" acks=all enable.idempotence=true \
    >"$OUT/producer-perf-$REP.log" 2>&1
  PERF_RATE=$(awk '/records sent/ {gsub(/[(]/, ""); for (i = 1; i < NF; i++) if ($(i+1) ~ /^records\/sec/) r = $i} END {print r}' "$OUT/producer-perf-$REP.log")
  result kafka_perf_records_per_s "$(printf '%.0f' "$PERF_RATE")"
  result relay_vs_kafka_perf "$(awk "BEGIN{printf \"%.2f\", ($ROWS/$SECS)/$PERF_RATE}")"
  echo "ProducerPerformance: $ROWS x $RECORD_BYTES B, acks=all, idempotent: $PERF_RATE records/s"

  # (a) The relay's Kafka side alone: librdkafka with the relay's settings, same records.
  # shellcheck disable=SC2086
  /usr/bin/time -f "%e %U %S %M" -o "$OUT/producer-drain-$REP.time" $BENCH produce-drain \
    --topic "$PREFIX.perf" --records "$ROWS" --record-bytes "$RECORD_BYTES" --bootstrap "$BOOT" \
    $KAFKA_OPTS >"$OUT/producer-drain-$REP.txt"
  read -r psecs puser psys _ <"$OUT/producer-drain-$REP.time"
  result producer_records_per_s "$(awk "BEGIN{printf \"%.0f\", $ROWS/$psecs}")"
  result producer_cpu_s_per_1m "$(awk "BEGIN{printf \"%.2f\", ($puser+$psys)*1000000/$ROWS}")"
  echo "producer only (relay's settings): $ROWS records in $psecs s, CPU $puser user + $psys sys"

  # (b) latency at steady rates
  if [ "$SKIP_LATENCY" = 0 ]; then
    # The backlog's WAL (~1 GB for 1M rows) exceeds max_wal_size: without this, Postgres starts
    # a spread "wal" checkpoint (writes and fsyncs for ~30 s) in the middle of the latency runs.
    psql_admin -c "CHECKPOINT"
    # The backlog also left ~1-2 GB of dirty page cache (the WAL, the broker's logs of the drains
    # and of ProducerPerformance); the kernel's writeback of it would stall the latency runs'
    # own writes and fsyncs. Flush it now and note how much there was and how long it took.
    SYNC_FROM=$(date +%s.%N)
    awk '/^(Dirty|Writeback):/ {printf "%s %s kB ", $1, $2}' /proc/meminfo >"$OUT/sync-$REP.txt"
    sync
    awk -v from="$SYNC_FROM" -v to="$(date +%s.%N)" 'BEGIN {printf "-> sync took %.1f s\n", to - from}' >>"$OUT/sync-$REP.txt"
    echo "dirty page cache before the latency runs: $(cat "$OUT/sync-$REP.txt")"
    for RATE in 1000 3000; do
      PORT=$((18091 + RATE / 1000))
      # Where the slot's decoding restarts vs. where output resumes: the walsender re-decodes
      # everything between restart_lsn and confirmed_flush_lsn before it streams a new change.
      psql_db -F ' ' -c "SELECT now(), restart_lsn, confirmed_flush_lsn, pg_current_wal_lsn(), pg_wal_lsn_diff(confirmed_flush_lsn, restart_lsn) FROM pg_replication_slots WHERE slot_name = 'bench_relay'" >"$OUT/slot-$RATE-$REP.txt"
      start_relay $PORT "$OUT/relay-$RATE-$REP.log"
      start_gc_watch "$OUT/gc-$RATE-$REP"
      start_fsync_watch "$OUT/fsync-$RATE-$REP"
      LAT_FROM=$(date +%s.%N)
      BEFORE=$OUT/relay-$RATE-$REP.before.metrics
      $BENCH latency --database-url "$URL" --topic "$PREFIX.order" --rate $RATE \
        --seconds "$LAT_SECONDS" --bootstrap "$BOOT" --metrics-url "127.0.0.1:$PORT/metrics" \
        --metrics-before "$BEFORE" >"$OUT/latency-$RATE-$REP.txt" &
      LATENCY_PID=$!
      # The producer-only floor in the same seconds: it starts when the relay's steady state
      # does (the latency tool saved the relay's metrics after its warm-up row), with 1 s of
      # warm-up of its own, and ends with the inserts.
      for _ in $(seq 1 1800); do
        [ -s "$BEFORE" ] || ! kill -0 "$LATENCY_PID" 2>/dev/null && break
        sleep 0.1
      done
      BASELINE_PID=
      if [ -s "$BEFORE" ]; then
        # shellcheck disable=SC2086
        $BENCH produce-latency --topic "$PREFIX.perf" --rate $RATE --seconds $((LAT_SECONDS - 1)) \
          --warmup-seconds 1 --record-bytes "$RECORD_BYTES" --bootstrap "$BOOT" $KAFKA_OPTS \
          >"$OUT/producer-$RATE-$REP.txt" 2>&1 &
        BASELINE_PID=$!
      fi
      wait "$LATENCY_PID"
      sed -n 1,2p "$OUT/latency-$RATE-$REP.txt"
      result "warmup_${RATE}_ms" "$(awk '/^warm-up:/ {print $6}' "$OUT/latency-$RATE-$REP.txt")"
      if [ -n "$BASELINE_PID" ]; then
        wait "$BASELINE_PID" || echo "producer-only baseline failed: $OUT/producer-$RATE-$REP.txt"
      fi
      for Q in p50 p99 p99.9; do
        result "producer_${RATE}_${Q}_ms" "$(awk -v q="$Q" '{for (i = 1; i < NF; i++) if ($i == q) print $(i+1)}' "$OUT/producer-$RATE-$REP.txt")"
      done
      echo "producer only at $RATE/s, same seconds: $(tail -1 "$OUT/producer-$RATE-$REP.txt" | sed 's/.*latency ms: //')"
      LAT_TO=$(date +%s.%N)
      stop_gc_watch
      stop_fsync_watch
      curl -s "127.0.0.1:$PORT/metrics" >"$OUT/relay-$RATE-$REP.metrics"
      stop_relay
      # Slow seconds vs broker GC pauses and Postgres checkpoints (timestamps).
      python3 cdc-relay/bench/match_slow.py --latency "$OUT/latency-$RATE-$REP.txt" \
        --from "$LAT_FROM" --to "$LAT_TO" --pg-log "$PG_LOG" \
        ${GC_FILES:+--jstat "$OUT/gc-$RATE-$REP.jstat" --uptime "$OUT/gc-$RATE-$REP.uptime"} \
        ${FSYNC_FILES:+--fsync "$OUT/fsync-$RATE-$REP.trace" --clock "$OUT/fsync-$RATE-$REP.clock"} \
        >"$OUT/slow-$RATE-$REP.txt" 2>&1 || true
      tail -1 "$OUT/slow-$RATE-$REP.txt"
      # Steady state only: what the relay recorded after the warm-up (the difference of scrapes).
      awk -v metric=cdc_relay_commit_to_ack_seconds -v before="$OUT/relay-$RATE-$REP.before.metrics" \
        -f cdc-relay/bench/histogram.awk \
        "$OUT/relay-$RATE-$REP.metrics" >"$OUT/histogram-$RATE-$REP.txt"
      for Q in p50 p99 p99.9; do
        result "ack_${RATE}_${Q}_ms" "$(awk -v q="$Q" '$1 == q {print $3}' "$OUT/histogram-$RATE-$REP.txt")"
      done
      echo "commit -> ack at $RATE/s (relay histogram): $(grep -E '^p' "$OUT/histogram-$RATE-$REP.txt" | tr '\n' ' ')"
      # Its two sides: commit -> the relay read the transaction (Postgres' commit flush and
      # walsender; per transaction) and read -> ack (the relay and Kafka; per event).
      for SIDE in read:commit_to_read relay:read_to_ack; do
        awk -v metric="cdc_relay_${SIDE#*:}_seconds" -v before="$OUT/relay-$RATE-$REP.before.metrics" \
          -f cdc-relay/bench/histogram.awk \
          "$OUT/relay-$RATE-$REP.metrics" >"$OUT/histogram-${SIDE%%:*}-$RATE-$REP.txt"
        for Q in p50 p99 p99.9; do
          result "${SIDE%%:*}_${RATE}_${Q}_ms" "$(awk -v q="$Q" '$1 == q {print $3}' "$OUT/histogram-${SIDE%%:*}-$RATE-$REP.txt")"
        done
        echo "${SIDE#*:} at $RATE/s: $(grep -E '^p' "$OUT/histogram-${SIDE%%:*}-$RATE-$REP.txt" | tr '\n' ' ')"
      done
    done
  fi
  cleanup_db
done

echo
echo "=== summary over $REPEAT repetition(s) of $ROWS rows (all rows in $RESULTS)"
printf '%-34s %12s %12s %12s\n' measurement min median max
for NAME in recv_rows_per_s recv_cpu_s_per_1m relay_events_per_s relay_cpu_s_per_1m \
  relay_peak_rss_mb relay_vs_recvlogical kafka_perf_records_per_s relay_vs_kafka_perf \
  producer_records_per_s producer_cpu_s_per_1m \
  ack_1000_p50_ms ack_1000_p99_ms ack_1000_p99.9_ms ack_3000_p50_ms ack_3000_p99_ms \
  ack_3000_p99.9_ms warmup_1000_ms warmup_3000_ms read_1000_p99_ms read_1000_p99.9_ms read_3000_p99_ms read_3000_p99.9_ms \
  relay_1000_p50_ms relay_1000_p99_ms relay_1000_p99.9_ms relay_3000_p50_ms relay_3000_p99_ms \
  relay_3000_p99.9_ms producer_1000_p50_ms producer_1000_p99_ms producer_1000_p99.9_ms \
  producer_3000_p50_ms producer_3000_p99_ms producer_3000_p99.9_ms \
  $(cut -f2 "$RESULTS" | grep '^cmp_' | sort -u); do
  awk -F'\t' -v name="$NAME" '$2 == name {print $3}' "$RESULTS" | sort -g | awk -v name="$NAME" '
    {v[NR] = $1}
    END {
      if (NR == 0) exit
      med = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
      printf "%-34s %12s %12s %12s\n", name, v[1], med, v[NR]
    }'
done
echo "(ack_* commit -> ack, read_* commit -> read, relay_* read -> ack: histogram bucket bounds in ms,"
echo " p99 <= value; producer_* the producer-only baseline: records/s and CPU of a drain, and send -> ack"
echo " quantiles (exact, ms) at the same rate in the same seconds; cpu_s_per_1m / 1,000,000 s = us/event)"
if [ "$PROFILE" = 1 ]; then
  echo "profile: perf report -i $OUT/relay.perf.data --no-children --sort symbol"
fi
echo "outputs in $OUT"
