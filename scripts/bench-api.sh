#!/usr/bin/env bash
# API latency and throughput of a release build on loopback, on SQLite and PostgreSQL:
# start+stop of fresh conversations and reads of a conversation with 1,000 messages,
# at a fixed rate (default 500 requests/s for 10 s) and then closed-loop.
#   scripts/bench-api.sh [--rate N] [--seconds N]      (server logs: target/bench-api/)
# Failed requests are listed under each row by what they were: the contract's code
# (429-01 the key's rate limit, 503-01 the replica's conversation limit or a draining
# replica, 503-02 a request timed out in the service, 409-01 already streaming, ...), the
# bare HTTP status when the body has no code, or connect/transport on the client side.
# PostgreSQL: CALLSCRIBE_TEST_POSTGRES (default postgres://postgres@127.0.0.1:5432);
# a scratch database is created and dropped.
set -euo pipefail
cd "$(dirname "$0")/.."
pg="${CALLSCRIBE_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432}"
port="${BENCH_PORT:-18080}"
token="bench-admin-token"

scripts/fetch-model
cargo build --release --locked --bin callscribe --example bench_api
work=$(mktemp -d)
server=""
db="cs_bench_$$"
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
  psql "$pg/postgres" -qc "drop database if exists $db" >/dev/null 2>&1 || true
  # The servers' logs outlive the run: they say what a 500-01 was.
  mkdir -p target/bench-api && cp "$work"/server-*.log target/bench-api/ 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

bench() { # label database-url cache-bytes [bench_api args]
  local label=$1 url=$2 cache=$3; shift 3
  CALLSCRIBE_MODEL="$PWD/data/models/ggml-tiny.en-q8_0.bin" CALLSCRIBE_MESSAGES_CACHE_BYTES="$cache" CALLSCRIBE_LISTEN="127.0.0.1:$port" CALLSCRIBE_DATA_DIR="$work/data-$label" CALLSCRIBE_DATABASE_URL="$url" \
    CALLSCRIBE_ADMIN_TOKEN="$token" CALLSCRIBE_LOG_LEVEL=warn target/release/callscribe serve 2>"$work/server-$label.log" &
  server=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null && break; sleep 0.1; done
  target/release/examples/bench_api --url "http://127.0.0.1:$port" --admin-token "$token" \
    --database-url "$url" --label "$label" "$@"
  kill "$server"; wait "$server" 2>/dev/null || true; server=""
}

shift_args=("$@")
printf '%-16s %-34s %7s %6s %9s %8s %8s %8s %8s\n' backend scenario requests errors "req/s" p50_ms p90_ms p99_ms max_ms
# Each backend twice: with the rendered-transcript cache (the default) and without it,
# so the message-read figures show both a repeated read and a cold one.
for cache in 67108864 0; do
  suffix=$([ "$cache" = 0 ] && echo "-nocache" || true)
  rm -rf "$work/sqlite"; mkdir -p "$work/sqlite"
  bench "sqlite$suffix" "sqlite://$work/sqlite/callscribe.db?mode=rwc" "$cache" "${shift_args[@]}"
  psql "$pg/postgres" -qc "drop database if exists $db" >/dev/null
  psql "$pg/postgres" -qc "create database $db" >/dev/null
  bench "postgres$suffix" "$pg/$db" "$cache" "${shift_args[@]}"
done
