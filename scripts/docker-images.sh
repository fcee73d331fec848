#!/usr/bin/env bash
# Builds Hutch's four container images on a Docker engine (`make images`; `make
# test-deploy` runs it on the engine of scripts/docker-engine.sh):
#
#   hutch-base:bookworm   Debian 12 minbase from Debian's archive (debootstrap + docker
#                         import), only when BASE is that name and the image is missing:
#                         no container registry is needed
#   hutch:latest          Dockerfile: the six services, the web console and hutchctl
#   hutch-postgres:15     deploy/postgres/Dockerfile: Debian's postgresql-15
#   hutch-kafka:KAFKA     deploy/kafka/Dockerfile: Debian's OpenJDK 17 and the Kafka jars
#                         scripts/deps.sh took from Maven Central (hard-linked into
#                         deploy/kafka/libs/, ignored by git, as the build context needs them)
#
# `scripts/docker-images.sh --base-only` stops after the base image.
# Every build runs with `--network host` (the engine may have no bridge) and
# --build-arg BASE. Env: DOCKER (client, default docker), BASE (default
# hutch-base:bookworm; a registry's debian:bookworm-slim works the same),
# HUTCH_DEBIAN_MIRROR (default http://deb.debian.org/debian).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

DOCKER=${DOCKER:-docker}
BASE=${BASE:-hutch-base:bookworm}
MIRROR=${HUTCH_DEBIAN_MIRROR:-http://deb.debian.org/debian}
KAFKA_TAG=hutch-kafka:$HUTCH_KAFKA_VERSION
cd "$HUTCH_ROOT"

have_image() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }
secs() { echo $(( $(date +%s) - $1 )); }

make_base() {
    command -v debootstrap >/dev/null || die "debootstrap not found: run scripts/deps.sh"
    local root t0; t0=$(date +%s)
    root=$(mktemp -d /tmp/hutch-base-XXXXXX)
    log "making $BASE with debootstrap --variant=minbase bookworm from $MIRROR"
    if ! nice -n 10 debootstrap --variant=minbase bookworm "$root" "$MIRROR" > "$root.log" 2>&1; then
        tail -20 "$root.log" >&2; rm -rf "$root" "$root.log"; die "debootstrap failed"
    fi
    # the same suites as the host: updates and security, so packages match
    rm -f "$root/etc/apt/sources.list"
    cat > "$root/etc/apt/sources.list.d/debian.sources" <<EOT
Types: deb
URIs: $MIRROR
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${MIRROR%/debian}/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOT
    printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\nAcquire::Languages "none";\n' > "$root/etc/apt/apt.conf.d/90hutch"
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/* "$root"/tmp/*
    tar -C "$root" --numeric-owner -c . | "$DOCKER" import --change 'CMD ["/bin/bash"]' \
        --change 'ENV LANG=C.UTF-8' - "$BASE" >/dev/null
    rm -rf "$root" "$root.log"
    log "$BASE imported in $(secs "$t0")s ($("$DOCKER" image inspect -f '{{.Size}}' "$BASE" | awk '{printf "%d MB", $1/1e6}'))"
}

# the Kafka jars into deploy/kafka/libs (hard links when on the same filesystem)
stage_kafka_libs() {
    [[ -f $HUTCH_KAFKA_LIBS/.complete ]] || die "Kafka jars missing in $HUTCH_KAFKA_LIBS: run scripts/deps.sh"
    local dst=deploy/kafka/libs
    if [[ ! -f $dst/.version || $(cat "$dst/.version") != "$HUTCH_KAFKA_VERSION" ]]; then
        rm -rf "$dst"; mkdir -p "$dst"
        cp -l "$HUTCH_KAFKA_LIBS"/*.jar "$dst"/ 2>/dev/null || cp "$HUTCH_KAFKA_LIBS"/*.jar "$dst"/
        echo "$HUTCH_KAFKA_VERSION" > "$dst/.version"
    fi
}

build() {  # TAG CONTEXT [DOCKERFILE]
    local tag=$1 ctx=$2 file=${3:-$2/Dockerfile} t0; t0=$(date +%s)
    log "building $tag ($file)"
    nice -n 10 "$DOCKER" build --network host --build-arg BASE="$BASE" -t "$tag" -f "$file" "$ctx" \
        > "$LOGDIR/build-${tag%%:*}.log" 2>&1 || { tail -40 "$LOGDIR/build-${tag%%:*}.log" >&2; die "docker build of $tag failed (log: $LOGDIR/build-${tag%%:*}.log)"; }
    log "$tag built in $(secs "$t0")s"
}

LOGDIR=${HUTCH_IMAGES_LOGDIR:-$(mktemp -d /tmp/hutch-images-XXXXXX)}
mkdir -p "$LOGDIR"
if [[ $BASE == hutch-base:* ]] && ! have_image "$BASE"; then make_base; fi
[[ ${1:-} == --base-only ]] && exit 0
stage_kafka_libs
build hutch:latest . Dockerfile
build hutch-postgres:15 deploy/postgres
build "$KAFKA_TAG" deploy/kafka
"$DOCKER" tag "$KAFKA_TAG" hutch-kafka:latest
log "images: hutch:latest hutch-postgres:15 $KAFKA_TAG (build logs in $LOGDIR)"
