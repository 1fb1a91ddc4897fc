# paywatch: built on Debian 12 from Debian's packages, run as a non-root user.
FROM debian:12-slim AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config libwebsockets-dev librocksdb-dev libcjson-dev libpq-dev \
      libsecp256k1-dev libssl-dev libcurl4-openssl-dev libmicrohttpd-dev python3-yaml ca-certificates && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY cmake cmake
COPY api api
COPY common common
COPY chains chains
COPY indexer indexer
COPY sinks sinks
COPY schema schema
COPY tests/unit tests/unit
COPY tests/fuzz tests/fuzz
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build -j"$(nproc)" --target paywatch

FROM debian:12-slim
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libwebsockets17 librocksdb7.8 libcjson1 libpq5 libsecp256k1-1 libssl3 libcurl4 libmicrohttpd12 ca-certificates \
    && rm -rf /var/lib/apt/lists/* && useradd --system --home /var/lib/paywatch --create-home paywatch
COPY --from=build /src/build/paywatch /usr/local/bin/paywatch
USER paywatch
WORKDIR /var/lib/paywatch
ENTRYPOINT ["paywatch"]
CMD ["--help"]
