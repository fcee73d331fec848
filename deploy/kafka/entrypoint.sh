#!/bin/bash
# Entrypoint of hutch-kafka (deploy/kafka/Dockerfile): one KRaft node, broker and
# controller, configured from the environment:
#   KAFKA_LISTEN_HOST      address the listeners bind (default: every interface)
#   KAFKA_PORT             client listener (9092); KAFKA_CONTROLLER_PORT (9093)
#   KAFKA_ADVERTISED_HOST  the host clients are told to use (default: the hostname)
#   KAFKA_NODE_ID          (1); KAFKA_HEAP (512m); KAFKA_CLUSTER_ID (default: made once
#                          with StorageTool random-uuid, never starting with '-')
#   KAFKA_CFG_<NAME>       any other broker setting, NAME with '_' for '.' (e.g.
#                          KAFKA_CFG_LOG_RETENTION_HOURS=72 -> log.retention.hours=72)
# Topics are not auto-created (Hutch's services create theirs), replication 1.
set -euo pipefail
die() { echo "hutch-kafka: $*" >&2; exit 1; }

DATA=/var/lib/kafka/data
CONF=/etc/kafka/server.properties
listen=${KAFKA_LISTEN_HOST:-}
[[ $listen == 0.0.0.0 ]] && listen=
voter=${listen:-127.0.0.1}
advertised=${KAFKA_ADVERTISED_HOST:-$(hostname)}
JAVA=(java -Xms128m -Xmx"$KAFKA_HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError
      -Djava.awt.headless=true -Dlog4j2.configurationFile=/opt/kafka/log4j2.xml -cp '/opt/kafka/libs/*')

cat > "$CONF" <<EOT
process.roles=broker,controller
node.id=$KAFKA_NODE_ID
controller.quorum.voters=$KAFKA_NODE_ID@$voter:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$listen:$KAFKA_PORT,CONTROLLER://$listen:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$advertised:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$DATA
auto.create.topics.enable=false
num.partitions=8
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
EOT
while IFS='=' read -r name value; do
    [[ $name == KAFKA_CFG_* ]] || continue
    key=${name#KAFKA_CFG_}; key=${key,,}; key=${key//_/.}
    printf '%s=%s\n' "$key" "$value" >> "$CONF"
done < <(env)

if [[ ! -f $DATA/meta.properties ]]; then
    id=${KAFKA_CLUSTER_ID:-}
    if [[ -z $id ]]; then
        id=$("${JAVA[@]}" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)
    fi
    [[ $id =~ ^[A-Za-z0-9_][A-Za-z0-9_-]{21}$ ]] || die "bad cluster id '$id' (22 url-safe base64 characters, not starting with '-')"
    "${JAVA[@]}" kafka.tools.StorageTool format --cluster-id="$id" -c "$CONF" --ignore-formatted \
        || die "storage format failed"
fi
exec "${JAVA[@]}" kafka.Kafka "$CONF"
