#!/usr/bin/env bash
# `make test-deploy`: the images and docker-compose.yml, tested on a real Docker engine.
#
#   1. a Docker engine of the test's own (scripts/docker-engine.sh: host network only,
#      its own data root, exec root and socket)
#   2. the four images (scripts/docker-images.sh: base from Debian's archive, hutch,
#      hutch-postgres, hutch-kafka); hutch:latest holds the eight programs (the six
#      services, the web console, hutchctl) and its health check, nothing else; hutch-kafka the Kafka version of tools/kafka/pom.xml
#   3. docker-compose.yml + deploy/compose.test.yml up (host network, 127.0.0.1, free
#      ports), every service's and the console's /readyz answers 200 (and the console
#      serves its page and app.js from the image), every container reports healthy
#      (the images' HEALTHCHECKs), the hutch containers run as uid 10001 on a read-only
#      root, and the engine has made no bridge network
#   4. a GuardDuty finding POSTed to ingest is accepted (202) and becomes a ticket and
#      a notification row (psql as the compose file's database user)
#   5. compose down -v; dockerd stopped by its pid, its mounts undone (always, on exit)
# Each check counts; the last line is 'N passed, N failed' (.ci/run reads it). Exits
# non-zero if anything failed. Needs root (dockerd). Env: HUTCH_DEPLOY_READY_SECONDS (120),
# HUTCH_DOCKER_DATA / HUTCH_DOCKER_EXEC (scripts/docker-engine.sh).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$HUTCH_ROOT"

t_all=$(date +%s)
READY_SECS=${HUTCH_DEPLOY_READY_SECONDS:-120}
export DOCKER=${HUTCH_DOCKER_CLI:-/usr/bin/docker}
PROJECT=hutch-deploy-test
passed=0 failed=0 compose_up=0 engine=0
ok() { passed=$((passed + 1)); log "ok: $*"; }
bad() { failed=$((failed + 1)); log "FAILED: $*"; }
finish() {
    local rc=$?
    if ((compose_up)); then
        if ((failed)); then
            "${COMPOSE[@]}" ps >&2 2>/dev/null
            "${COMPOSE[@]}" logs --no-color --tail 25 >&2 2>/dev/null
        fi
        "${COMPOSE[@]}" down -v --remove-orphans >/dev/null 2>&1 || log "compose down failed"
    fi
    ((engine)) && { scripts/docker-engine.sh stop || true; }
    ((rc == 0 || failed)) || failed=$((failed + 1))
    log "make test-deploy: $(( $(date +%s) - t_all ))s"
    echo "$passed passed, $failed failed"
    ((failed == 0)) || exit 1
}
trap finish EXIT

# one run at a time on the machine: the engine's paths are per user, not per run
exec 9> "/tmp/hutch-test-deploy-$(id -u).lock"
flock -w 900 9 || die "another make test-deploy holds /tmp/hutch-test-deploy-$(id -u).lock"

# 1. engine (stopped in finish from here on, even if it fails half-way)
engine=1
DOCKER_HOST=$(scripts/docker-engine.sh start) || die "could not start dockerd"
export DOCKER_HOST

# 2. images
t0=$(date +%s)
if scripts/docker-images.sh; then ok "images built in $(( $(date +%s) - t0 ))s"; else bad "images"; exit 1; fi

# the runtime image: the eight programs, no test runner, no sources
bins=$("$DOCKER" run --rm --network none --entrypoint sh hutch:latest -c 'ls /usr/local/bin; ls -d /src 2>/dev/null' | sort | tr '\n' ' ')
want="hutch-agent hutch-cluster hutch-console hutch-enrich hutch-healthcheck hutch-ingest hutch-notify hutch-policy hutchctl "
[[ $bins == "$want" ]] && ok "hutch:latest holds the programs only" || bad "hutch:latest /usr/local/bin: $bins"
# the Kafka of the project (tools/kafka/pom.xml), not another
jar=$("$DOCKER" run --rm --network none --entrypoint ls hutch-kafka:latest /opt/kafka/libs | grep '^kafka_2\.13-' || true)
[[ $jar == "kafka_2.13-$HUTCH_KAFKA_VERSION.jar" ]] && ok "hutch-kafka holds Kafka $HUTCH_KAFKA_VERSION" \
    || bad "hutch-kafka holds '$jar', not Kafka $HUTCH_KAFKA_VERSION"
# the containers of the hutch image: the six services and the web console (its default
# port from the side-services line of common/services.h)
DEPLOYED=("${HUTCH_SERVICES[@]}" console)
HUTCH_DEFAULT_PORT[console]=$(sed -n 's/.*HUTCH_SIDE_SERVICES(X).*X(console, *\([0-9]*\)).*/\1/p' common/services.h)
# the health check's default ports: what each service's --help says (no HUTCH_*_PORT set)
ports=$("$DOCKER" run --rm --network none --entrypoint sh hutch:latest -c \
    'for s in '"${DEPLOYED[*]}"'; do printf "%s=%s " $s "$(hutch-healthcheck --port $s)"; done')
want=""; for s in "${DEPLOYED[@]}"; do want+="$s=${HUTCH_DEFAULT_PORT[$s]} "; done
[[ $ports == "$want" ]] && ok "health check default ports: $ports" || bad "health check default ports: '$ports', not '$want'"

# 3. compose up on free loopback ports
# Below the kernel's ephemeral range: a port there, free now, can be some client's
# source port by the time a container binds it (seen: "cannot listen" 100 s later).
declare -A taken=() port=()
read -r eph_low _ < /proc/sys/net/ipv4/ip_local_port_range
((eph_low > 21000)) || die "ephemeral ports start at $eph_low: no room below for the test's ports"
free_port() {  # VAR [pair]: a port nobody listens on (and PORT+1 with "pair") into VAR
    local p
    while :; do
        p=$((20000 + RANDOM % (eph_low - 20001)))
        [[ -z ${taken[$p]:-} && -z ${taken[$((p + 1))]:-} ]] || continue
        port_open 127.0.0.1 "$p" && continue
        [[ ${2:-} == pair ]] && port_open 127.0.0.1 $((p + 1)) && continue
        taken[$p]=1; taken[$((p + 1))]=1
        printf -v "$1" %s "$p"; return
    done
}
free_port HUTCH_DEPLOY_PG_PORT
free_port HUTCH_DEPLOY_KAFKA_PORT pair
HUTCH_DEPLOY_KAFKA_CONTROLLER_PORT=$((HUTCH_DEPLOY_KAFKA_PORT + 1))
export HUTCH_DEPLOY_PG_PORT HUTCH_DEPLOY_KAFKA_PORT HUTCH_DEPLOY_KAFKA_CONTROLLER_PORT
for s in "${DEPLOYED[@]}"; do
    free_port "HUTCH_DEPLOY_${s^^}_PORT"
    v=HUTCH_DEPLOY_${s^^}_PORT; port[$s]=${!v}; export "${v?}"
done
export HUTCH_PG_PASSWORD=hutch-deploy-test
COMPOSE=(docker-compose -p "$PROJECT" -f docker-compose.yml -f deploy/compose.test.yml)
t0=$(date +%s)
compose_up=1
uplog=$(mktemp /tmp/hutch-test-deploy-up-XXXXXX)
if "${COMPOSE[@]}" up -d --no-build >/dev/null 2>"$uplog"; then
    ok "compose up in $(( $(date +%s) - t0 ))s"; rm -f "$uplog"
else
    cat "$uplog" >&2; rm -f "$uplog"; bad "compose up"; exit 1
fi
all_ready=1 t0=$(date +%s)
for s in "${DEPLOYED[@]}"; do
    left=$((READY_SECS - ($(date +%s) - t0))); ((left > 0)) || left=1
    if wait_http_200 "http://127.0.0.1:${port[$s]}/readyz" "$left"; then ok "$s /readyz 200"
    else bad "$s /readyz not 200 within ${READY_SECS}s after compose up"; all_ready=0; fi
done
((all_ready)) && log "every /readyz 200 $(( $(date +%s) - t0 ))s after compose up"
# the console serves its static files from the image (HUTCH_CONSOLE_WEB_DIR)
page=$(curl -s -m 10 "http://127.0.0.1:${port[console]}/login" || true)
js=$(curl -s -m 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:${port[console]}/app.js" || true)
[[ $page == *'<script src="/app.js"'* && $js == 200 ]] && ok "console serves its page and app.js" \
    || bad "console: /login without its page or /app.js $js"

# every container healthy (postgres, kafka and the seven HEALTHCHECKs of hutch-healthcheck)
mapfile -t ids < <("${COMPOSE[@]}" ps -q)
((${#ids[@]} == 9)) && ok "9 containers" || bad "${#ids[@]} containers, not 9"
unhealthy=()
for ((i = 0; i < 90; i++)); do
    unhealthy=()
    for id in "${ids[@]}"; do
        st=$("$DOCKER" inspect -f '{{.Name}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$id")
        [[ $st == *' healthy' ]] || unhealthy+=("$st")
    done
    ((${#unhealthy[@]} == 0)) && break
    sleep 1
done
((${#unhealthy[@]} == 0)) && ok "every container healthy" || bad "not healthy: ${unhealthy[*]}"

# the hutch containers: uid 10001, read-only root, host network; no bridge in the engine
for id in "${ids[@]}"; do
    read -r name image user ro net < <("$DOCKER" inspect -f \
        '{{.Name}} {{.Config.Image}} {{.Config.User}} {{.HostConfig.ReadonlyRootfs}} {{.HostConfig.NetworkMode}}' "$id")
    [[ $net == host ]] || bad "$name: network $net, not host"
    [[ $image == hutch:latest ]] || continue
    if [[ $user == 10001:10001 && $ro == true ]]; then ok "$name: user $user, read-only root"
    else bad "$name: user '$user', read-only root $ro"; fi
done
bridges=$("$DOCKER" network ls --filter driver=bridge -q | wc -l)
((bridges == 0)) && ok "no bridge network in the engine" || bad "$bridges bridge networks in the engine"

# 4. a GuardDuty finding, end to end
title="GuardDuty deploy test $(date +%s)-$RANDOM"
body=$(jq -c --arg t "$title" --arg id "$(cat /proc/sys/kernel/random/uuid | tr -d -)" '.title = $t | .id = $id' \
    tests/e2e/fixtures/guardduty/ec2_ssh_bruteforce.json)
# until 202, as the e2e tests do: ingest answers 202 once Kafka acknowledged the event,
# and the first produce on a loaded machine (metadata, leaders) can take a while
event_id= code= resp=
for ((i = 0; i < 6; i++)); do
    resp=$(curl -s -m 30 -w '\n%{http_code}' -H 'Content-Type: application/json' --data "$body" \
        "http://127.0.0.1:${port[ingest]}/hooks/alert/raw/guardduty")
    code=${resp##*$'\n'}; resp=${resp%$'\n'*}
    [[ $code == 202 ]] && { event_id=$(jq -r '.event_id // empty' <<< "$resp" 2>/dev/null); break; }
    log "POST of the finding: $code $resp (retrying)"
    sleep 2
done
if [[ $code == 202 && -n $event_id ]]; then ok "finding accepted (202, event $event_id)"
else bad "POST of the finding: $code $resp"; fi
psql_q() { PGPASSWORD=$HUTCH_PG_PASSWORD psql -h 127.0.0.1 -p "$HUTCH_DEPLOY_PG_PORT" -U hutch -d hutch -Atqc "$1" 2>/dev/null; }
note=
if [[ -n $event_id ]]; then
    for ((i = 0; i < 240; i++)); do
        note=$(psql_q "SELECT n.kind || ' ' || n.target FROM notifications n JOIN alerts a ON a.ticket_id = n.ticket_id
                       WHERE a.event_id = '$event_id'")
        [[ -n $note ]] && break
        sleep 0.5
    done
fi
[[ $note == 'new_ticket '* ]] && ok "notification row: $note" || bad "no notification row for event '$event_id' within 120 s"
status=$(psql_q "SELECT status FROM events WHERE event_id = '${event_id:-00000000-0000-0000-0000-000000000000}'")
[[ $status == accepted ]] && ok "event row accepted" || bad "event row status '$status'"

# 5. down (the engine stops in finish), the containers' logs first when something failed
if ((failed)); then
    "${COMPOSE[@]}" ps >&2 2>/dev/null
    "${COMPOSE[@]}" logs --no-color --tail 25 >&2 2>/dev/null
fi
t0=$(date +%s)
if "${COMPOSE[@]}" down -v --remove-orphans >/dev/null 2>&1; then ok "compose down in $(( $(date +%s) - t0 ))s"
else bad "compose down"; fi
compose_up=0
