#!/usr/bin/env bash
# The whole Hutch stack on one machine, loopback only, state under .hutch/.
#
#   scripts/stack.sh up [MODE]     Postgres, the broker, topics, the six services; returns
#                                  once every /readyz answers 200 (empty database)
#   scripts/stack.sh down          stops everything, removes .hutch/
#   scripts/stack.sh run [MODE]    up + the sample alerts + `hutchctl ticket list`, then
#                                  waits for Ctrl-C (or HUTCH_RUN_SECONDS) and goes down
#   scripts/stack.sh status
#
# MODE picks the binaries: debug build/bin, asan build/asan/bin, release build/release/bin.
# Broker: a real Apache Kafka (KRaft, scripts/kafka.sh) unless HUTCH_BROKER=dev, which
# uses build/bin/hutch-devbroker (librdkafka's mock cluster: no Java needed).
#
# Ports (env overrides): Postgres HUTCH_PG_PORT=55432, Kafka HUTCH_BROKER_PORT=59092
# (controller +1), each service HUTCH_<SERVICE>_PORT, by default its port in
# common/services.h (ingest 8081 ... notify 8086).
# Every service gets HUTCH_KAFKA_BROKERS, HUTCH_DATABASE_URL, HUTCH_HTTP_ADDR=127.0.0.1,
# HUTCH_POLICY_DIR (default the project's policies/; policy reads it) and
# its HUTCH_<SERVICE>_PORT; logs go to .hutch/logs/<service>.log.
# .hutch/env holds the settings for another shell: `. .hutch/env && build/bin/hutchctl ticket list`.
# Threat intel: unless a provider key (HUTCH_INTEL_*_KEY) is set in the environment,
# `up` starts the fake providers (tests/intel/fake_intel.py, loopback, port
# HUTCH_INTEL_FAKE_PORT=8099) and points every HUTCH_INTEL_*_URL at it with a dummy
# key; with a real key set, the real providers are asked (README, "Threat
# intelligence"). HUTCH_INTEL_FAKE=0: neither (RDAP, keyless, then asks rdap.org).
# HUTCH_STACK_SERVICES="policy enrich" makes `up` start only those services (default all
# six); set but empty, only Postgres, the broker and the topics (scripts/bench-policy.sh).
# The web console (hutch-console, not in the alert path) starts with the full stack, on
# HUTCH_CONSOLE_PORT (8090); .hutch/env gets HUTCH_CONSOLE_URL; `run` adds the account
# "admin" (role admin, a generated password) and prints the URL and the credentials.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

cmd=${1:-}; mode=${2:-debug}
STATE=${HUTCH_STATE:-$HUTCH_ROOT/.hutch}
BIN=${HUTCH_BIN_DIR:-$(build_dir "$mode")/bin}
PG_PORT=${HUTCH_PG_PORT:-55432}
KAFKA_PORT=${HUTCH_BROKER_PORT:-59092}
READY_SECS=${HUTCH_READY_SECONDS:-90}
read -ra UP_SERVICES <<< "${HUTCH_STACK_SERVICES-${HUTCH_SERVICES[*]}}"
WITH_CONSOLE=0
[[ -n ${HUTCH_STACK_SERVICES+set} ]] || WITH_CONSOLE=1
HUTCH_DEFAULT_PORT[console]=8090

svc_port() { local v="HUTCH_${1^^}_PORT"; echo "${!v:-${HUTCH_DEFAULT_PORT[$1]}}"; }

INTEL_FAKE_PORT=${HUTCH_INTEL_FAKE_PORT:-8099}
INTEL_FAKE_KEY=hutch-fake-intel-key
INTEL_FAKE_ON=
# provider setting name -> the fake's path prefix (tests/intel/fake_intel.py PREFIXES)
declare -A INTEL_FAKE_PREFIX=([VIRUSTOTAL]=/vt/api/v3 [ABUSEIPDB]=/abuseipdb/api/v2 [OTX]=/otx/api/v1
    [SHODAN]=/shodan [URLSCAN]=/urlscan/api/v1 [URLHAUS]=/urlhaus/v1 [THREATFOX]=/threatfox/api/v1
    [MALWAREBAZAAR]=/mb/api/v1 [RDAP]=/rdap)

# True when the fake providers stand in for the real ones (no real key given).
intel_fake_wanted() {
    [[ ${HUTCH_INTEL_FAKE:-1} != 0 ]] || return 1
    local k
    for k in VIRUSTOTAL ABUSEIPDB OTX SHODAN URLSCAN ABUSECH; do
        local v="HUTCH_INTEL_${k}_KEY"
        [[ -z ${!v:-} ]] || return 1
    done
}

start_intel_fake() {
    intel_fake_wanted || return 0
    if ! pidfile_alive "$STATE/pids/intel-fake.pid"; then
        port_open 127.0.0.1 "$INTEL_FAKE_PORT" && die "port $INTEL_FAKE_PORT (fake intel) is taken: set HUTCH_INTEL_FAKE_PORT"
        # the fake stops when its stdin closes: a FIFO opened read-write never does
        rm -f "$STATE/intel-fake.fifo"; mkfifo "$STATE/intel-fake.fifo"
        setsid /usr/bin/python3 "$HUTCH_ROOT/tests/intel/fake_intel.py" --port "$INTEL_FAKE_PORT" --key "$INTEL_FAKE_KEY" \
            > "$STATE/logs/intel-fake.log" 2>&1 <> "$STATE/intel-fake.fifo" &
        echo $! > "$STATE/pids/intel-fake.pid"
        wait_port 127.0.0.1 "$INTEL_FAKE_PORT" 20 "$(cat "$STATE/pids/intel-fake.pid")" \
            || die "the fake intel providers did not start (log: $STATE/logs/intel-fake.log)"
    fi
    local k base="http://127.0.0.1:$INTEL_FAKE_PORT"
    for k in "${!INTEL_FAKE_PREFIX[@]}"; do export "HUTCH_INTEL_${k}_URL=$base${INTEL_FAKE_PREFIX[$k]}"; done
    for k in VIRUSTOTAL ABUSEIPDB OTX SHODAN URLSCAN ABUSECH; do export "HUTCH_INTEL_${k}_KEY=$INTEL_FAKE_KEY"; done
    INTEL_FAKE_ON=1
    log "threat intel: the fake providers on $base (tests/intel/fake_intel.py, every provider on, dummy key)"
}

intel_hint() {
    if [[ -n ${INTEL_FAKE_ON:-} ]]; then
        log "threat intel is answered by the fake providers. For the real ones: make down, then e.g."
        log "  export HUTCH_INTEL_VIRUSTOTAL_KEY=... HUTCH_INTEL_ABUSEIPDB_KEY=... HUTCH_INTEL_OTX_KEY=..."
        log "  export HUTCH_INTEL_SHODAN_KEY=... HUTCH_INTEL_URLSCAN_KEY=... HUTCH_INTEL_ABUSECH_KEY=...   # any subset"
        log "  make run      (RDAP needs no key; README \"Threat intelligence\" lists every setting)"
    else
        log "threat intel: the real providers whose HUTCH_INTEL_*_KEY is set (hutchctl intel quota shows their use)"
    fi
}

start_broker() {
    if [[ ${HUTCH_BROKER:-kafka} == dev ]]; then
        [[ -x $BIN/hutch-devbroker ]] || die "$BIN/hutch-devbroker missing: make MODE=$mode"
        if ! pidfile_alive "$STATE/devbroker.pid"; then
            : > "$STATE/devbroker.addr"
            setsid "$BIN/hutch-devbroker" > "$STATE/devbroker.addr" 2>> "$STATE/logs/devbroker.log" < /dev/null &
            echo $! > "$STATE/devbroker.pid"
            for _ in $(seq 1 100); do [[ -s $STATE/devbroker.addr ]] && break; sleep 0.1; done
        fi
        BROKERS=$(head -1 "$STATE/devbroker.addr")
        [[ -n $BROKERS ]] || die "hutch-devbroker printed no address (log: $STATE/logs/devbroker.log)"
        log "dev broker on $BROKERS"
    else
        BROKERS=$("$HUTCH_ROOT/scripts/kafka.sh" start "$STATE/kafka" "$KAFKA_PORT")
    fi
}

start_service() {
    local s=$1 port; port=$(svc_port "$s")
    local exe=$BIN/hutch-$s pidf=$STATE/pids/$s.pid
    [[ -x $exe ]] || die "$exe missing: make MODE=$mode"
    pidfile_alive "$pidf" && return 0
    port_open 127.0.0.1 "$port" && die "port $port ($s) is taken by another process"
    local var="HUTCH_${s^^}_PORT"
    env HUTCH_KAFKA_BROKERS="$BROKERS" HUTCH_DATABASE_URL="$DB_URL" HUTCH_HTTP_ADDR=127.0.0.1 \
        HUTCH_POLICY_DIR="${HUTCH_POLICY_DIR:-$HUTCH_ROOT/policies}" "$var=$port" setsid "$exe" >> "$STATE/logs/$s.log" 2>&1 < /dev/null &
    echo $! > "$pidf"
}

write_env() {
    cat > "$STATE/env" <<EOT
# Hutch dev stack settings (scripts/stack.sh): . .hutch/env
export HUTCH_DATABASE_URL='$DB_URL'
export HUTCH_KAFKA_BROKERS='$BROKERS'
export HUTCH_INGEST_URL='http://127.0.0.1:$(svc_port ingest)'
export HUTCH_CLUSTER_URL='http://127.0.0.1:$(svc_port cluster)'
EOT
    if [[ $WITH_CONSOLE == 1 ]]; then
        echo "export HUTCH_CONSOLE_URL='http://127.0.0.1:$(svc_port console)'" >> "$STATE/env"
    fi
}

up() {
    local t0; t0=$(date +%s%3N)
    mkdir -p "$STATE/logs" "$STATE/pids"
    DB_URL=$("$HUTCH_ROOT/scripts/postgres.sh" start "$STATE/pg" "$PG_PORT")
    log "postgres on 127.0.0.1:$PG_PORT"
    start_broker
    /usr/bin/python3 "$HUTCH_ROOT/scripts/topics.py" "$BROKERS" "${HUTCH_TOPIC_PARTITIONS:-8}" \
        || die "could not create the Kafka topics"
    start_intel_fake
    local started=("${UP_SERVICES[@]}")
    [[ $WITH_CONSOLE == 1 ]] && started+=(console)
    for s in "${started[@]}"; do start_service "$s"; done
    for s in "${started[@]}"; do
        if ! wait_http_200 "http://127.0.0.1:$(svc_port "$s")/readyz" "$READY_SECS" "$(cat "$STATE/pids/$s.pid")"; then
            tail -20 "$STATE/logs/$s.log" >&2 || true
            die "$s not ready within ${READY_SECS}s (log: $STATE/logs/$s.log); 'make down' cleans up"
        fi
    done
    write_env
    log "stack up in $(( $(date +%s%3N) - t0 )) ms: ingest http://127.0.0.1:$(svc_port ingest), logs in $STATE/logs, settings in $STATE/env"
    [[ $WITH_CONSOLE == 1 ]] && log "web console: http://127.0.0.1:$(svc_port console) (accounts: hutchctl user add NAME --role viewer|analyst|admin)"
    return 0
}

# The console's first admin: account "admin" with a generated password, printed once.
console_admin() {
    [[ $WITH_CONSOLE == 1 && -x $BIN/hutchctl ]] || return 0
    local line
    line=$("$BIN/hutchctl" user add --role admin admin < /dev/null) || { log "could not add the console's admin"; return 0; }
    log "web console: http://127.0.0.1:$(svc_port console)  sign in as admin, password ${line##*password: }"
}

down() {
    local s
    for s in console "${HUTCH_SERVICES[@]}"; do
        [[ -f $STATE/pids/$s.pid ]] && kill -TERM "$(cat "$STATE/pids/$s.pid")" 2>/dev/null || true
    done
    for s in console "${HUTCH_SERVICES[@]}"; do stop_pidfile "$STATE/pids/$s.pid" 20; done
    stop_pidfile "$STATE/pids/intel-fake.pid" 10
    stop_pidfile "$STATE/devbroker.pid" 10
    [[ -d $STATE/kafka ]] && "$HUTCH_ROOT/scripts/kafka.sh" stop "$STATE/kafka"
    [[ -d $STATE/pg ]] && "$HUTCH_ROOT/scripts/postgres.sh" stop "$STATE/pg"
    rm -rf "$STATE"
    log "stack down"
}

# The policies' own fixtures (Warren's layout: policies/test/{detect,ignore}/<schema>/,
# .json = one alert, .jsonl = one per line): detect ones become tickets, ignore ones
# show up as ignored events with the policy's reason.
send_samples() {
    local ctl=$BIN/hutchctl f rel schema line n=0 files=()
    [[ -x $ctl ]] || { log "no $ctl: sample alerts not sent"; return 0; }
    mapfile -t files < <(find "$HUTCH_ROOT/policies/test" -path '*/detect/*' -o -path '*/ignore/*' 2>/dev/null \
        | grep -E '\.jsonl?$' | sort)
    for f in "${files[@]}"; do
        rel=${f#*/test/*/}          # <schema>/...
        schema=${rel%%/*}
        if [[ $f == *.jsonl ]]; then
            while IFS= read -r line; do
                [[ -n ${line// } ]] || continue
                if "$ctl" alert send --schema "$schema" - <<< "$line" >/dev/null; then n=$((n + 1)); else log "failed to send a line of $f"; fi
            done < "$f"
        elif "$ctl" alert send --schema "$schema" "$f" >/dev/null; then n=$((n + 1)); else log "failed to send $f"; fi
    done
    log "sent $n sample alerts; waiting for them to become tickets"
    sleep "${HUTCH_RUN_SETTLE_SECONDS:-3}"
    "$ctl" ticket list || true
    log "ignored by the policies (hutchctl event list --ignored):"
    "$ctl" event list --ignored --limit 10 || true
    log "threat-intel quota (hutchctl intel quota):"
    "$ctl" intel quota || true
    intel_hint
}

case $cmd in
up) up ;;
down) down ;;
run)
    trap 'echo; down; exit 0' INT TERM
    up || { down; exit 1; }
    . "$STATE/env"; export HUTCH_DATABASE_URL HUTCH_KAFKA_BROKERS HUTCH_INGEST_URL HUTCH_CLUSTER_URL
    send_samples
    console_admin
    log "running; Ctrl-C stops everything"
    if [[ -n ${HUTCH_RUN_SECONDS:-} ]]; then sleep "$HUTCH_RUN_SECONDS"; else while :; do sleep 1; done; fi
    down
    ;;
status)
    for s in "${HUTCH_SERVICES[@]}" console; do
        if pidfile_alive "$STATE/pids/$s.pid"; then echo "$s: running on $(svc_port "$s")"; else echo "$s: stopped"; fi
    done
    ;;
*) die "usage: stack.sh up|down|run|status [debug|asan|release]" ;;
esac
