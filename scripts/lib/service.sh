# Starts a real callscribe for the end-to-end scripts (contract fuzzing, SDKs, Connect
# Lambdas, the docs in a browser): a KVS emulator playing the given WAV files, `serve` on a
# fresh SQLite data dir with a random admin token, and one tenant reading that emulator with
# one API key. Source it, then:
#
#   cs_start BIN --stream NAME=FILE.wav [--stream ...]   # starts, waits for readiness, provisions
#   ... use $CS_URL, $CS_ADMIN_TOKEN, $CS_TENANT, $CS_API_KEY, $CS_KVS_URL, $CS_WORK,
#       cs_stream_arn NAME, cs_admin METHOD PATH BODY ...
#
# Everything stops and the work dir is removed when the sourcing script exits. The model is
# the one scripts/fetch-model put in ./data/models; extra `serve` settings can be passed as
# CALLSCRIBE_* variables in the caller's environment.

CS_PIDS=()
CS_WORK=$(mktemp -d)
cs_cleanup() {
  for pid in "${CS_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${CS_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$CS_WORK"
}
trap cs_cleanup EXIT

cs_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The ARN the emulator gives stream NAME.
cs_stream_arn() { echo "arn:aws:kinesisvideo:us-east-1:000000000000:stream/$1/0"; }

# cs_admin METHOD PATH [BODY]: an admin API call; prints the response body.
cs_admin() {
  curl -fsS -X "$1" "$CS_URL/admin/v1$2" -H "authorization: Bearer $CS_ADMIN_TOKEN" \
    -H 'content-type: application/json' ${3:+-d "$3"}
}

cs_json_field() { python3 -c "import json, sys; print(json.load(sys.stdin)['$1'])"; }

# cs_wait_ready URL PID LOG: waits up to 60 s for URL/health/ready; shows LOG if PID dies.
cs_wait_ready() {
  for _ in $(seq 1 120); do
    curl -fsS -o /dev/null "$1/health/ready" 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || { cat "$3" >&2; return 1; }
    sleep 0.5
  done
  cat "$3" >&2
  return 1
}

cs_start() {
  local bin=$1
  shift
  local port kvs_port
  port=$(cs_free_port)
  kvs_port=$(cs_free_port)
  CS_URL="http://127.0.0.1:$port"
  CS_KVS_URL="http://127.0.0.1:$kvs_port"
  # Secrets of digits only, with a leading zero: they must be read as the strings they are
  # (a config parser that takes them for numbers loses the zero or refuses them).
  CS_ADMIN_TOKEN=$(python3 -c 'import secrets; print("0" + "".join(secrets.choice("0123456789") for _ in range(31)))')
  local secret_key
  secret_key=$(python3 -c 'import secrets; print("00" + "".join(secrets.choice("0123456789") for _ in range(62)))')

  "$bin" kvs-emulator --listen "127.0.0.1:$kvs_port" "$@" >"$CS_WORK/kvs.log" 2>&1 &
  CS_PIDS+=($!)

  CALLSCRIBE_LISTEN="127.0.0.1:$port" \
    CALLSCRIBE_DATA_DIR="$CS_WORK/data" \
    CALLSCRIBE_ADMIN_TOKEN="$CS_ADMIN_TOKEN" \
    CALLSCRIBE_SECRET_KEY="$secret_key" \
    CALLSCRIBE_MODEL="${CALLSCRIBE_MODEL:-$PWD/data/models/ggml-tiny.en-q8_0.bin}" \
    CALLSCRIBE_EXPORT__SCHEDULED="${CALLSCRIBE_EXPORT__SCHEDULED:-false}" \
    CALLSCRIBE_LOG_LEVEL="${CALLSCRIBE_LOG_LEVEL:-warn}" \
    "$bin" serve >"$CS_WORK/serve.log" 2>&1 &
  CS_PIDS+=($!)
  echo "service: waiting for $CS_URL/health/ready"
  cs_wait_ready "$CS_URL" "${CS_PIDS[-1]}" "$CS_WORK/serve.log"

  # One tenant reading the emulator, and a key whose app allows a test's pace.
  CS_TENANT=$(cs_admin POST /tenants '{"name":"e2e"}' | cs_json_field id)
  cs_admin PUT "/tenants/$CS_TENANT/apps/e2e" '{"ratePerSecond":100000,"burst":100000}' >/dev/null
  cs_admin PUT "/tenants/$CS_TENANT/aws" "{\"endpointUrl\":\"$CS_KVS_URL\"}" >/dev/null
  CS_API_KEY=$(cs_admin POST "/tenants/$CS_TENANT/keys" '{"app":"e2e"}' | cs_json_field key)
  export CS_URL CS_KVS_URL CS_ADMIN_TOKEN CS_TENANT CS_API_KEY CS_WORK
}
