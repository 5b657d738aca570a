#!/usr/bin/env bash
# Throughput of the broker's hot paths against a bare Flask endpoint under the SAME gunicorn
# settings (broker.serve.gunicorn_options, one worker per core), measured with wrk.
#
#   bash benchmarks/run.sh                 # defaults: -t2 -c16 -d15s, workers = nproc
#   DURATION=30s CONNECTIONS=32 bash benchmarks/run.sh
#
# Prints the three throughputs and the ratios data/baseline and introspect/baseline.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
PY=${PYTHON:-$ROOT/.venv/bin/python}
SERDIKA=${SERDIKA:-$ROOT/.venv/bin/serdika}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-16}
DURATION=${DURATION:-15s}
WORKERS=${WORKERS:-$(nproc)}
WRK_ARGS=(-t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency)

if ! command -v wrk >/dev/null; then
    echo "installing wrk" >&2
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/serdika-bench.XXXXXX")
SERVER_PID=""
stop_server() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID"
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=""
}
cleanup() {
    stop_server
    if [ -z "${KEEP:-}" ]; then rm -rf "$WORK"; else echo "kept $WORK" >&2; fi
}
trap cleanup EXIT

free_port() {
    "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_ready() {  # URL LOG
    for _ in $(seq 1 150); do
        if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then cat "$2" >&2; echo "server died" >&2; exit 1; fi
        sleep 0.2
    done
    cat "$2" >&2
    echo "server not ready: $1" >&2
    exit 1
}

# wrk NAME URL [LUA]: run, keep the output, print requests/s; refuse runs with errors.
bench() {
    local name=$1 url=$2 script=${3:-}
    local out="$WORK/wrk-$name.txt"
    if [ -n "$script" ]; then
        wrk "${WRK_ARGS[@]}" -s "$script" "$url" >"$out"
    else
        wrk "${WRK_ARGS[@]}" "$url" >"$out"
    fi
    sed 's/^/    /' "$out" >&2
    if grep -q "Non-2xx or 3xx responses" "$out"; then
        echo "$name: some responses were errors; the figure would be meaningless" >&2
        exit 1
    fi
    awk '/^Requests\/sec:/ {print $2}' "$out"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')" >&2
echo "wrk ${WRK_ARGS[*]}, gunicorn workers: $WORKERS" >&2

# (a) The baseline: a minimal Flask JSON endpoint, same gunicorn options.
PORT=$(free_port)
(cd "$ROOT" && exec "$PY" "$HERE/baseline_app.py" --bind "127.0.0.1:$PORT" --workers "$WORKERS") \
    >"$WORK/baseline.log" 2>&1 &
SERVER_PID=$!
wait_ready "http://127.0.0.1:$PORT/ping" "$WORK/baseline.log"
echo "(a) baseline GET /ping" >&2
BASELINE=$(bench baseline "http://127.0.0.1:$PORT/ping")
stop_server

# The broker: a fresh SQLite var dir, migrated and seeded.
PORT=$(free_port)
export SERDIKA_VAR_DIR="$WORK/var"
export SERDIKA_DATABASE_URL="sqlite:///$WORK/var/serdika.sqlite3"
export SERDIKA_BIND="127.0.0.1:$PORT"
export SERDIKA_ISSUER="http://127.0.0.1:$PORT"
unset SERDIKA_SECRET_KEY SERDIKA_REDIS_URL SERDIKA_CIVIL_REGISTRY_URL SERDIKA_WORKERS
"$SERDIKA" db upgrade 2>/dev/null
"$SERDIKA" demo seed --json >"$WORK/demo.json"
"$SERDIKA" serve --workers "$WORKERS" >"$WORK/broker.log" 2>&1 &
SERVER_PID=$!
wait_ready "$SERDIKA_ISSUER/readyz" "$WORK/broker.log"

# A valid token from the real consent flow (Authlib client, the citizen's browser).
"$PY" "$HERE/obtain_token.py" "$SERDIKA_ISSUER" "$WORK/demo.json" >"$WORK/token.json"
BENCH_TOKEN=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["access_token"])' "$WORK/token.json")
BENCH_BASIC=$("$PY" -c 'import base64,json,sys; t=json.load(open(sys.argv[1])); print(base64.b64encode((t["client_id"] + ":" + t["client_secret"]).encode()).decode())' "$WORK/token.json")
export BENCH_TOKEN BENCH_BASIC

echo "(b) GET /api/v1/data/civil_registry/person" >&2
DATA=$(bench data "$SERDIKA_ISSUER/api/v1/data/civil_registry/person" "$HERE/data.lua")
# The same read with a DPoP-bound token (RFC 9449): fresh proofs made just before, one each.
echo "(d) GET /api/v1/data/civil_registry/person, DPoP-bound" >&2
"$PY" "$HERE/dpop_proofs.py" "$SERDIKA_ISSUER" "$WORK/demo.json" "${DPOP_PROOFS:-40000}" \
    "$WORK/dpop-proofs.lua"
export BENCH_DPOP_FILE="$WORK/dpop-proofs.lua" BENCH_THREADS="$THREADS"
DPOP=$(bench dpop "$SERDIKA_ISSUER/api/v1/data/civil_registry/person" "$HERE/dpop.lua")
echo "(c) POST /oauth2/introspect" >&2
INTROSPECT=$(bench introspect "$SERDIKA_ISSUER/oauth2/introspect" "$HERE/introspect.lua")

# The token must still have been active at the end, or (c) measured refusals.
ACTIVE=$(curl -fsS -u "$("$PY" -c 'import base64,os; print(base64.b64decode(os.environ["BENCH_BASIC"]).decode())')" \
    --data-urlencode "token=$BENCH_TOKEN" "$SERDIKA_ISSUER/oauth2/introspect")
case "$ACTIVE" in *'"active": true'*|*'"active":true'*) ;; *) echo "token inactive: $ACTIVE" >&2; exit 1;; esac
stop_server

"$PY" - "$BASELINE" "$DATA" "$INTROSPECT" "$DPOP" <<'EOF'
import sys
baseline, data, introspect, dpop = map(float, sys.argv[1:])
print(f"baseline   GET /ping                      {baseline:9.1f} req/s")
print(f"data read  GET /api/v1/data/.../person    {data:9.1f} req/s  "
      f"{data / baseline:6.1%} of baseline (target >= 35%)")
print(f"DPoP read  GET /api/v1/data/.../person    {dpop:9.1f} req/s  "
      f"{dpop / data:6.1%} of the bearer read (target >= 85%)")
print(f"introspect POST /oauth2/introspect        {introspect:9.1f} req/s  "
      f"{introspect / baseline:6.1%} of baseline (target >= 50%)")
EOF
