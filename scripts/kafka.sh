#!/usr/bin/env bash
# Single-node Apache Kafka (KRaft, broker+controller) for the dev stack and the
# end-to-end tests, run from the jars scripts/deps.sh copied from Maven Central.
#
#   scripts/kafka.sh start DIR PORT   format DIR once, start, wait until PORT answers (60 s)
#   scripts/kafka.sh stop DIR         SIGTERM, wait (up to 60 s), SIGKILL as a last resort
#   scripts/kafka.sh status DIR
#   scripts/kafka.sh format DIR PORT  write server.properties, format DIR once (start does it)
#   scripts/kafka.sh cluster-id [N]   print N (1) new cluster ids (kafka-storage random-uuid's form)
#
# DIR holds server.properties, data/, meta/, kafka.log and kafka.pid. The controller
# listens on PORT+1. Data survives stop/start (the tests stop the broker mid-stream).
# Env: HUTCH_KAFKA_HEAP (default 512m). A second listener, SASL_SSL with SCRAM-SHA-512
# and PLAIN (tools/kafka/sasl_ssl.properties.in), when HUTCH_KAFKA_SASL_SSL_PORT is set,
# with HUTCH_KAFKA_TLS_PEM (the broker's private key and certificate chain, one PEM
# file) and HUTCH_KAFKA_SASL_USERS ("name=password,...": SCRAM credentials written
# into the cluster metadata when DIR is formatted, by kafka-storage's --add-scram,
# and PLAIN users of the listener's JAAS line). Test settings: the passwords end up
# in DIR/server.properties.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

ms() { date +%s%3N; }

# A cluster id in the form of `kafka-storage random-uuid` (Kafka's Uuid.randomUuid): a
# version-4 UUID, url-safe base64 without padding (22 characters), drawn again while it
# starts with '-' so that no command line can read it as an option (StorageTool's
# `-t -x...` fails with "expected one argument", and every later start failed the same).
new_cluster_id() {
    local hex id
    while :; do
        hex=$(tr -d '-' < /proc/sys/kernel/random/uuid)
        # shellcheck disable=SC2059
        id=$(printf "$(sed 's/../\\x&/g' <<< "$hex")" | base64 | tr '+/' '-_' | tr -d '=')
        [[ $id == -* || ${#id} != 22 ]] || { echo "$id"; return; }
    done
}
valid_cluster_id() { [[ $1 =~ ^[A-Za-z0-9_][A-Za-z0-9_-]{21}$ ]]; }

cmd=${1:-}; dir=${2:-}
if [[ $cmd == cluster-id ]]; then
    [[ ${2:-1} =~ ^[0-9]+$ ]] || die "usage: kafka.sh cluster-id [COUNT]"
    for ((i = 0; i < ${2:-1}; i++)); do new_cluster_id; done
    exit 0
fi
[[ -n $cmd && -n $dir ]] || die "usage: kafka.sh start|format|stop|status DIR [PORT] | kafka.sh cluster-id [N]"
mkdir -p "$dir"; dir=$(cd "$dir" && pwd)
pidf=$dir/kafka.pid

JAVA=(java -Xms128m -Xmx"${HUTCH_KAFKA_HEAP:-512m}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20
      -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true
      -Dlog4j2.configurationFile="$HUTCH_ROOT/tools/kafka/log4j2.xml" -Dkafka.logs.dir="$dir"
      -cp "$HUTCH_KAFKA_LIBS/*")

# format_storage PORT: server.properties from the template, then the storage formatted
# once (meta/meta.properties marks it). A cluster.id that an option parser could misread
# (left by an older kafka.sh) is replaced: no storage was ever formatted with it.
# format_storage PORT: writes server.properties (with the SASL_SSL listener when
# HUTCH_KAFKA_SASL_SSL_PORT is set) and formats the storage once.
format_storage() {
    local port=$1 id t0 extra_listeners= extra_protocols= plain= u
    local -a scram=() users=()
    if [[ -n ${HUTCH_KAFKA_SASL_SSL_PORT:-} ]]; then
        [[ -f ${HUTCH_KAFKA_TLS_PEM:-} ]] || die "HUTCH_KAFKA_SASL_SSL_PORT needs HUTCH_KAFKA_TLS_PEM (key and certificate, PEM)"
        port_open 127.0.0.1 "$HUTCH_KAFKA_SASL_SSL_PORT" && die "port $HUTCH_KAFKA_SASL_SSL_PORT is taken by another process"
        extra_listeners=",SASL_SSL://127.0.0.1:$HUTCH_KAFKA_SASL_SSL_PORT"
        extra_protocols=",SASL_SSL:SASL_SSL"
        IFS=, read -ra users <<< "${HUTCH_KAFKA_SASL_USERS:-}"
        for u in "${users[@]}"; do
            [[ $u =~ ^[A-Za-z0-9_.-]+=[A-Za-z0-9_.-]+$ ]] || die "HUTCH_KAFKA_SASL_USERS: want name=password,... ([A-Za-z0-9_.-])"
            scram+=(--add-scram "SCRAM-SHA-512=[name=${u%%=*},password=${u#*=}]")
            plain+=" user_${u%%=*}=\"${u#*=}\""
        done
    fi
    sed -e "s#@DIR@#$dir#g" -e "s#@PORT@#$port#g" -e "s#@CONTROLLER_PORT@#$((port + 1))#g" \
        -e "s#@EXTRA_LISTENERS@#$extra_listeners#g" -e "s#@EXTRA_PROTOCOLS@#$extra_protocols#g" \
        "$HUTCH_ROOT/tools/kafka/server.properties.in" > "$dir/server.properties"
    if [[ -n $extra_listeners ]]; then
        sed -e "s#@TLS_PEM@#$HUTCH_KAFKA_TLS_PEM#g" "$HUTCH_ROOT/tools/kafka/sasl_ssl.properties.in" >> "$dir/server.properties"
        printf 'listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required%s;\n' \
            "$plain" >> "$dir/server.properties"
    fi
    [[ -f $dir/meta/meta.properties ]] && return 0
    if ! { [[ -f $dir/cluster.id ]] && valid_cluster_id "$(cat "$dir/cluster.id")"; }; then
        new_cluster_id > "$dir/cluster.id"
    fi
    id=$(cat "$dir/cluster.id")
    t0=$(ms)
    "${JAVA[@]}" kafka.tools.StorageTool format --cluster-id="$id" -c "$dir/server.properties" \
        --ignore-formatted "${scram[@]}" >> "$dir/kafka.log" 2>&1 || { tail -20 "$dir/kafka.log" >&2; die "kafka storage format failed"; }
    log "kafka storage formatted in $(( $(ms) - t0 )) ms (cluster id $id)"
}

case $cmd in
start)
    port=${3:-}; [[ -n $port ]] || die "usage: kafka.sh start DIR PORT"
    [[ -f $HUTCH_KAFKA_LIBS/.complete ]] || die "Kafka jars missing in $HUTCH_KAFKA_LIBS: run scripts/deps.sh"
    command -v java >/dev/null || die "java not found: run scripts/deps.sh"
    if pidfile_alive "$pidf" && port_open 127.0.0.1 "$port"; then
        log "kafka already running in $dir (pid $(cat "$pidf"))"; echo "127.0.0.1:$port"; exit 0
    fi
    rm -f "$pidf"
    port_open 127.0.0.1 "$port" && die "port $port is taken by another process"
    format_storage "$port"
    t0=$(ms)
    setsid "${JAVA[@]}" kafka.Kafka "$dir/server.properties" >> "$dir/kafka.log" 2>&1 < /dev/null &
    echo $! > "$pidf"
    if ! wait_port 127.0.0.1 "$port" 60 "$(cat "$pidf")"; then
        tail -30 "$dir/kafka.log" >&2
        stop_pidfile "$pidf" 10
        die "kafka did not listen on 127.0.0.1:$port within 60 s (log: $dir/kafka.log)"
    fi
    log "kafka up on 127.0.0.1:$port in $(( $(ms) - t0 )) ms (pid $(cat "$pidf"), log $dir/kafka.log)"
    echo "127.0.0.1:$port"
    ;;
format)
    port=${3:-}; [[ -n $port ]] || die "usage: kafka.sh format DIR PORT"
    [[ -f $HUTCH_KAFKA_LIBS/.complete ]] || die "Kafka jars missing in $HUTCH_KAFKA_LIBS: run scripts/deps.sh"
    format_storage "$port"
    ;;
stop)
    stop_pidfile "$pidf" 60
    ;;
status)
    if pidfile_alive "$pidf"; then echo "running (pid $(cat "$pidf"))"; else echo stopped; exit 1; fi
    ;;
*) die "usage: kafka.sh start|format|stop|status DIR [PORT] | kafka.sh cluster-id [N]" ;;
esac
