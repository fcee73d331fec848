# The Hutch image: the six services, the web console and hutchctl, built from this
# repository; the container's command picks the service (docker run hutch:latest
# hutch-policy). The console's static files are in /usr/local/share/hutch/console.
#
#   docker build --network host -t hutch:latest .                  (base: debian:bookworm-slim)
#   docker build --network host --build-arg BASE=hutch-base:bookworm -t hutch:latest .
#                                                      (base from Debian's archive: scripts/docker-images.sh)
#
# Two stages. build: every -dev package scripts/deps.sh installs for the programs
# (tests/deploy checks the list; cmocka too: the Makefile checks every package of the
# tree before it builds anything, though the image holds no test), `make MODE=release` of the eight programs only (no
# unit tests in the image). runtime: the shared libraries the programs link to, found
# with ldd and dpkg in the build stage so the list cannot drift from the code, plus
# publicsuffix (enrich's list), ca-certificates, tzdata and curl (HEALTHCHECK).
# Runs as uid 10001 and writes nothing but logs to stdout/stderr: the root filesystem
# can be read-only (compose: read_only: true; Kubernetes: readOnlyRootFilesystem).
ARG BASE=debian:bookworm-slim

FROM ${BASE} AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential pkg-config protobuf-c-compiler libprotobuf-c-dev librdkafka-dev libpq-dev \
      libjansson-dev libevent-dev libcurl4-openssl-dev libssl-dev libpcre2-dev uuid-dev libyaml-dev \
      libpsl-dev libidn2-dev libcmocka-dev libjsonnet-dev libwebsockets-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile ./
COPY proto/ proto/
COPY common/ common/
COPY services/ services/
COPY cli/ cli/
RUN make MODE=release -j"$(nproc)" build/release/bin/hutch-ingest build/release/bin/hutch-policy \
      build/release/bin/hutch-enrich build/release/bin/hutch-cluster build/release/bin/hutch-agent \
      build/release/bin/hutch-notify build/release/bin/hutch-console build/release/bin/hutchctl \
    && mkdir /out && cp build/release/bin/hutch-* build/release/bin/hutchctl /out/ \
    && strip --strip-debug /out/*
# the runtime packages: the owners of every shared library the programs load
RUN for b in /out/*; do ldd "$b"; done | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u \
    | while read -r so; do dpkg-query -S "*/$(basename "$so")" 2>/dev/null | grep -v -- '-dev' | head -1; done \
    | cut -d: -f1 | sort -u > /out/.runtime-packages \
    && test -s /out/.runtime-packages && cat /out/.runtime-packages

FROM ${BASE}
COPY --from=build /out/.runtime-packages /tmp/runtime-packages
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      $(cat /tmp/runtime-packages) publicsuffix ca-certificates tzdata curl \
    && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages \
    && echo 'hutch:x:10001:10001:Hutch:/nonexistent:/usr/sbin/nologin' >> /etc/passwd \
    && echo 'hutch:x:10001:' >> /etc/group
COPY --from=build /out/ /usr/local/bin/
COPY policies/ /etc/hutch/policies/
COPY services/console/web/ /usr/local/share/hutch/console/
COPY deploy/hutch-healthcheck /usr/local/bin/hutch-healthcheck
ENV HUTCH_HTTP_ADDR=0.0.0.0 HUTCH_POLICY_DIR=/etc/hutch/policies HUTCH_CONSOLE_WEB_DIR=/usr/local/share/hutch/console
USER 10001:10001
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["hutch-healthcheck"]
CMD ["hutchctl", "--help"]
