# Shared helpers for scripts/*.sh (sourced, never run). Paths, caches and bounded waits.
#
# Caches live outside the repository so that a fresh clone on the same machine (CI)
# reuses them and nothing downloaded is ever committed:
#   HUTCH_CACHE       default ${XDG_CACHE_HOME:-~/.cache}/hutch
#   HUTCH_KAFKA_LIBS  the broker's classpath dir (jars copied by Maven)
#   HUTCH_OPA         the OPA binary (a test oracle, never a runtime dependency)
#   HUTCH_KUSTOMIZE   kustomize, renders k8s/ in the manifest tests (a test tool)
#   HUTCH_K8S_VALIDATE the kubernetes-validate command (PyPI, in a venv of its own):
#                     the Kubernetes schemas the rendered manifests are checked against
#   HUTCH_SYSLOG_NG   syslog-ng and its Kafka module, unpacked (a log router of the e2e tests)

HUTCH_ROOT=${HUTCH_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
HUTCH_CACHE=${HUTCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hutch}
HUTCH_KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$HUTCH_ROOT/tools/kafka/pom.xml")
HUTCH_KAFKA_LIBS=${HUTCH_KAFKA_LIBS:-$HUTCH_CACHE/kafka-$HUTCH_KAFKA_VERSION/libs}
HUTCH_OPA_VERSION=${HUTCH_OPA_VERSION:-v1.19.0}
HUTCH_OPA=${HUTCH_OPA:-$HUTCH_CACHE/opa-$HUTCH_OPA_VERSION/opa}
HUTCH_KUSTOMIZE_VERSION=${HUTCH_KUSTOMIZE_VERSION:-v5.5.0}
HUTCH_KUSTOMIZE=${HUTCH_KUSTOMIZE:-$HUTCH_CACHE/kustomize-$HUTCH_KUSTOMIZE_VERSION/kustomize}
HUTCH_K8S_VALIDATE_VERSION=${HUTCH_K8S_VALIDATE_VERSION:-1.37.0}
HUTCH_K8S_VALIDATE=${HUTCH_K8S_VALIDATE:-$HUTCH_CACHE/k8s-validate-$HUTCH_K8S_VALIDATE_VERSION/bin/kubernetes-validate}
HUTCH_SYSLOG_NG=${HUTCH_SYSLOG_NG:-$HUTCH_CACHE/syslog-ng/root}

# The services in pipeline order and their default ports: the X(name, port) lines of
# common/services.h, the one list (the services' own port settings come from it too).
HUTCH_SERVICES=()
declare -A HUTCH_DEFAULT_PORT=()
while read -r _name _port; do
    HUTCH_SERVICES+=("$_name")
    HUTCH_DEFAULT_PORT[$_name]=$_port
done < <(sed -n 's/^ *X(\([a-z_]*\), *\([0-9]*\)).*/\1 \2/p' "$HUTCH_ROOT/common/services.h")
unset _name _port
if ((${#HUTCH_SERVICES[@]} == 0)); then
    echo "lib.sh: no X(name, port) line in $HUTCH_ROOT/common/services.h" >&2
    exit 1
fi

log() { printf '%s %s\n' "[$(date +%H:%M:%S)]" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# build dir of a MODE (the top-level Makefile's rule)
build_dir() {
    case "${1:-debug}" in
        debug) echo "$HUTCH_ROOT/build" ;;
        asan) echo "$HUTCH_ROOT/build/asan" ;;
        release) echo "$HUTCH_ROOT/build/release" ;;
        *) die "MODE must be debug, release or asan (got '$1')" ;;
    esac
}

# port_open HOST PORT: true if something accepts TCP connections there.
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# wait_port HOST PORT SECONDS [PID]: bounded wait; fails early if PID dies.
wait_port() {
    local host=$1 port=$2 secs=$3 pid=${4:-} i
    for ((i = 0; i < secs * 10; i++)); do
        port_open "$host" "$port" && return 0
        if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
        sleep 0.1
    done
    return 1
}

# wait_http_200 URL SECONDS [PID]
wait_http_200() {
    local url=$1 secs=$2 pid=${3:-} i
    for ((i = 0; i < secs * 5; i++)); do
        [[ $(curl -s -o /dev/null -m 2 -w '%{http_code}' "$url" 2>/dev/null) == 200 ]] && return 0
        if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
        sleep 0.2
    done
    return 1
}

# stop_pidfile FILE SECONDS: SIGTERM, bounded wait, then SIGKILL. Removes FILE.
stop_pidfile() {
    local f=$1 secs=${2:-30} pid i
    [[ -f $f ]] || return 0
    pid=$(cat "$f" 2>/dev/null || true)
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < secs * 10; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "pid $pid did not stop in ${secs}s, SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.2
        fi
    fi
    rm -f "$f"
}

# pidfile_alive FILE
pidfile_alive() { [[ -f $1 ]] && kill -0 "$(cat "$1" 2>/dev/null)" 2>/dev/null; }
