# One image with every Hutch binary; the container's command picks the service.
# Build: docker build -t hutch .   Run: docker run hutch hutch-policy
FROM debian:12 AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential pkg-config librdkafka-dev libprotobuf-c-dev protobuf-c-compiler libpq-dev \
      libjansson-dev libevent-dev libcurl4-openssl-dev libssl-dev libpcre2-dev uuid-dev libyaml-dev \
      libcmocka-dev libpsl-dev libidn2-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN make MODE=release -j"$(nproc)" programs

FROM debian:12-slim
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      librdkafka1 libprotobuf-c1 libpq5 libjansson4 libevent-2.1-7 libevent-pthreads-2.1-7 libcurl4 \
      libssl3 libpcre2-8-0 libuuid1 libyaml-0-2 libpsl5 libidn2-0 publicsuffix tzdata ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/release/bin/ /usr/local/bin/
COPY policies/ /etc/hutch/policies/
ENV HUTCH_HTTP_ADDR=0.0.0.0 HUTCH_POLICY_DIR=/etc/hutch/policies
USER 65534
