#!/usr/bin/env bash
# A Docker engine of the project's own for `make test-deploy` (Debian's docker.io,
# dockerd 20.10), started and stopped by the test itself: no systemd, no default
# daemon, nothing shared with another engine on the machine.
#
#   scripts/docker-engine.sh start   start dockerd (if not running), wait for its socket,
#                                    print the DOCKER_HOST to use
#   scripts/docker-engine.sh stop    SIGTERM dockerd by its pid (bounded), then unmount
#                                    what it leaves behind under the exec root
#   scripts/docker-engine.sh host    print the DOCKER_HOST
#
# Host network only: --bridge=none --iptables=false --ip-forward=false --ip-masq=false,
# so the engine makes no bridge, no NAT rule, no 172.x address; containers run with
# `network_mode: host` / `docker build --network host`.
# Paths (env overrides):
#   HUTCH_DOCKER_DATA  the data root (images, build cache), kept between runs so a
#                      second run is warm: default $HUTCH_CACHE/docker
#   HUTCH_DOCKER_EXEC  the exec root (pid file, socket, containerd state): default
#                      /tmp/hutch-docker-$UID (short: unix socket paths are limited)
#   HUTCH_DOCKER_NICE  niceness of dockerd, hence of every build and container (10):
#                      the machine is shared
set -euo pipefail
. "$(dirname "$0")/lib.sh"

DATA=${HUTCH_DOCKER_DATA:-$HUTCH_CACHE/docker}
EXEC=${HUTCH_DOCKER_EXEC:-/tmp/hutch-docker-$(id -u)}
SOCK=$EXEC/docker.sock
PIDF=$EXEC/dockerd.pid
HOST=unix://$SOCK
DOCKERD=${HUTCH_DOCKERD:-/usr/sbin/dockerd}
DOCKER=${HUTCH_DOCKER_CLI:-/usr/bin/docker}

# every mount point under the exec root and the data root, deepest first
leftover_mounts() {
    awk -v e="$EXEC" -v d="$DATA" '$5 == e || $5 == d || index($5, e "/") == 1 || index($5, d "/") == 1 {print $5}' \
        /proc/self/mountinfo | sort -r
}

case ${1:-} in
start)
    [[ -x $DOCKERD ]] || die "$DOCKERD not found: run scripts/deps.sh (Debian's docker.io)"
    [[ $(id -u) == 0 ]] || die "dockerd needs root"
    if pidfile_alive "$PIDF" && DOCKER_HOST=$HOST "$DOCKER" version >/dev/null 2>&1; then
        echo "$HOST"; exit 0
    fi
    mkdir -p "$DATA" "$EXEC"
    rm -f "$PIDF" "$SOCK"
    # --pidfile is dockerd's own; it also starts its own containerd under the exec root
    nice -n "${HUTCH_DOCKER_NICE:-10}" setsid "$DOCKERD" --data-root="$DATA" --exec-root="$EXEC" --pidfile="$PIDF" -H "$HOST" \
        --bridge=none --iptables=false --ip-forward=false --ip-masq=false --ip6tables=false \
        --userland-proxy=false --storage-driver=overlay2 --log-level=warn \
        > "$EXEC/dockerd.log" 2>&1 < /dev/null &
    pid=$!
    for ((i = 0; i < 600; i++)); do
        DOCKER_HOST=$HOST "$DOCKER" version >/dev/null 2>&1 && break
        kill -0 "$pid" 2>/dev/null || { tail -20 "$EXEC/dockerd.log" >&2; die "dockerd exited (log: $EXEC/dockerd.log)"; }
        sleep 0.1
    done
    DOCKER_HOST=$HOST "$DOCKER" version >/dev/null 2>&1 \
        || { tail -20 "$EXEC/dockerd.log" >&2; die "dockerd did not answer within 60 s"; }
    [[ -f $PIDF ]] || echo "$pid" > "$PIDF"
    log "dockerd up (pid $(cat "$PIDF"), data $DATA, exec $EXEC)"
    echo "$HOST"
    ;;
stop)
    # containerd runs as dockerd's child and is stopped by it
    stop_pidfile "$PIDF" 60
    for m in $(leftover_mounts); do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "could not unmount $m"
    done
    rm -f "$SOCK"
    log "dockerd stopped"
    ;;
host)
    echo "$HOST"
    ;;
*) die "usage: docker-engine.sh start|stop|host" ;;
esac
