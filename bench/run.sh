#!/usr/bin/env bash
# OpenExec Gateway side-by-side benchmark: plain Kestrel, plain YARP and the gateway, all on
# loopback on this machine, driven by wrk. One command:   bench/run.sh
#
# Settings (environment):
#   BENCH_DURATION   wrk duration of one measured run      (default 10s)
#   BENCH_ROUNDS     alternating rounds per subject         (default 3)
#   BENCH_WARMUP     unrecorded load per subject before the rounds (default 20s)
#   BENCH_CONNS      connection counts                      (default "32 256")
#   BENCH_THREADS    wrk threads                            (default 2)
#   BENCH_CLAW_POOL  pre-minted approvals per 10 s of clawshield load (default 200000)
#   BENCH_ALLOC      1 = also measure allocated bytes/request with dotnet-counters (default 1)
#   BENCH_OUT        where raw results and the summary go   (default bench/results/<UTC time>)
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$BENCH_DIR/.." && pwd)"
DURATION=${BENCH_DURATION:-10s}
ROUNDS=${BENCH_ROUNDS:-3}
# The gateway runs far more code than a plain echo: its tiered JIT needs ~20 s of load to settle
# (a proxied run climbs from ~4k to ~9.5k req/s over its first 25 s here), and what a gateway
# serves for days is the settled speed.
WARMUP=${BENCH_WARMUP:-20s}
CONNS=${BENCH_CONNS:-"32 256"}
THREADS=${BENCH_THREADS:-2}
CLAW_POOL=${BENCH_CLAW_POOL:-200000}
ALLOC=${BENCH_ALLOC:-1}
OUT=${BENCH_OUT:-"$BENCH_DIR/results/$(date -u +%Y%m%dT%H%M%SZ)"}
mkdir -p "$OUT"
WORK="$(mktemp -d /tmp/openexec-bench.XXXXXX)"
PIDS=()

log() { printf '[bench %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

cleanup() {
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

# --- tools -------------------------------------------------------------------------------------
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if ! command -v wrk >/dev/null; then
  log "installing wrk (apt-get)"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq wrk >/dev/null
fi
if ! command -v redis-server >/dev/null; then
  log "installing redis-server (apt-get)"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null
fi
export PATH="$PATH:$HOME/.dotnet/tools"
if [ "$ALLOC" = 1 ] && ! command -v dotnet-counters >/dev/null; then
  log "installing dotnet-counters (dotnet tool)"
  dotnet tool install -g dotnet-counters >/dev/null || { log "dotnet-counters unavailable: skipping allocation measurement"; ALLOC=0; }
fi

# --- build -------------------------------------------------------------------------------------
log "building Release"
for project in src/OpenExec.Gateway bench/Baselines/EchoBackend bench/Baselines/PlainYarp bench/LoadGen; do
  dotnet build "$ROOT/$project" -c Release -nologo -v q -clp:ErrorsOnly >/dev/null
done
dll() { echo "$ROOT/$1/bin/Release/net10.0/$2.dll"; }
GATEWAY_DLL=$(dll src/OpenExec.Gateway OpenExec.Gateway)
ECHO_DLL=$(dll bench/Baselines/EchoBackend EchoBackend)
YARP_DLL=$(dll bench/Baselines/PlainYarp PlainYarp)
LOADGEN_DLL=$(dll bench/LoadGen LoadGen)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_up() { # URL NAME
  for _ in $(seq 1 150); do
    if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  log "$2 did not come up at $1; its log:"; cat "$WORK/$2.log" >&2; exit 1
}

start() { # NAME URL_TO_POLL -- command...
  local name=$1 url=$2; shift 3
  "$@" >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  eval "PID_${name//-/_}=$!"
  wait_up "$url" "$name"
  log "$name up (pid $!)"
}

# --- servers -----------------------------------------------------------------------------------
ECHO_PORT=$(free_port)
start echo "http://127.0.0.1:$ECHO_PORT/" -- dotnet "$ECHO_DLL" --urls "http://127.0.0.1:$ECHO_PORT"
BACKEND="http://127.0.0.1:$ECHO_PORT"

YARP_PORT=$(free_port)
start yarp "http://127.0.0.1:$YARP_PORT/" -- dotnet "$YARP_DLL" --urls "http://127.0.0.1:$YARP_PORT" --Backend "$BACKEND"

# One proxied route, POST /echo to the echo backend, as action "echo_backend".
cat >"$WORK/route.json" <<EOF
{
  "ReverseProxy": {
    "Routes": { "echo": { "ClusterId": "backend", "Match": { "Path": "/echo" }, "Metadata": { "OpenExec.Action": "echo_backend" } } },
    "Clusters": { "backend": { "Destinations": { "d1": { "Address": "$BACKEND" } } } }
  }
}
EOF

# Every gateway: Release, its own data dir, rate limiting off (so load is not answered 429),
# console logging at Warning (the baselines log nothing; per-request console output would
# measure the terminal, not the gateway). Everything else is the product's default.
gateway() { # NAME PORT [env...]
  local name=$1 port=$2; shift 2
  mkdir -p "$WORK/$name-data"
  start "$name" "http://127.0.0.1:$port/ready" -- env \
    OpenExec__DataDir="$WORK/$name-data" \
    OpenExec__RateLimit__PerClientPerSecond=0 \
    Logging__LogLevel__Default=Warning \
    OPENEXEC_CONFIG="$WORK/route.json" \
    "$@" dotnet "$GATEWAY_DLL" --urls "http://127.0.0.1:$port"
}

DEMO_PORT=$(free_port)
gateway gw-demo "$DEMO_PORT" OpenExec__Mode=demo

dotnet "$LOADGEN_DLL" key "$WORK/governance.pem" "$WORK/governance.pub.pem"
CLAW_PORT=$(free_port)
gateway gw-claw "$CLAW_PORT" OpenExec__Mode=clawshield CLAWSHIELD_TENANT_ID=bench CLAWSHIELD_PUBLIC_KEY="$(cat "$WORK/governance.pub.pem")"

REDIS_PORT=$(free_port)
mkdir -p "$WORK/redis"
# Durable as the gateway's docs ask: AOF on, fsync every second; no RDB snapshots.
start redis "http://127.0.0.1:$ECHO_PORT/" -- redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$WORK/redis" \
  --appendonly yes --appendfsync everysec --save "" --maxmemory-policy noeviction
for _ in $(seq 1 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
REDIS_GW_PORT=$(free_port)
gateway gw-redis "$REDIS_GW_PORT" OpenExec__Mode=demo ConnectionStrings__Redis="127.0.0.1:$REDIS_PORT"

# --- subjects: name, port, wrk script, path ----------------------------------------------------
# plain_yarp_approval: plain YARP given exactly the clawshield subject's requests (each with its
# approval header, which plain YARP parses and forwards as any header); allocations only.
declare -A S_PORT=([kestrel_echo]=$ECHO_PORT [execute_demo]=$DEMO_PORT [plain_yarp]=$YARP_PORT [plain_yarp_approval]=$YARP_PORT [proxied_demo]=$DEMO_PORT [proxied_clawshield]=$CLAW_PORT [execute_redis]=$REDIS_GW_PORT)
declare -A S_SCRIPT=([kestrel_echo]=execute.lua [execute_demo]=execute.lua [plain_yarp]=proxied.lua [plain_yarp_approval]=clawshield.lua [proxied_demo]=proxied.lua [proxied_clawshield]=clawshield.lua [execute_redis]=execute.lua)
declare -A S_PATH=([kestrel_echo]=/echo [execute_demo]=/execute [plain_yarp]=/echo [plain_yarp_approval]=/echo [proxied_demo]=/echo [proxied_clawshield]=/echo [execute_redis]=/execute)
# Each pair runs baseline, subject, baseline, subject... within a round.
ORDER="kestrel_echo execute_demo plain_yarp proxied_demo proxied_clawshield execute_redis"

mint() { # FILE PREFIX DURATION
  local seconds=${3%s} count=$CLAW_POOL
  [ "$seconds" -gt 10 ] && count=$((CLAW_POOL * seconds / 10))
  dotnet "$LOADGEN_DLL" mint "$WORK/governance.pem" "$1" "$count" bench echo_backend /echo '{"msg":"hello world","n":42}' "$2"
}

RUN_SEQ=0
run_wrk() { # SUBJECT CONNS DURATION RESULT_TAG
  local subject=$1 conns=$2 duration=$3 tag=$4
  RUN_SEQ=$((RUN_SEQ + 1))
  local run_id="r$(date +%s)x${RUN_SEQ}x$RANDOM"
  local approvals=""
  if [ "${S_SCRIPT[$subject]}" = clawshield.lua ]; then
    approvals="$WORK/approvals-$RUN_SEQ.tsv"
    mint "$approvals" "$run_id" "$duration"
  fi
  local line load
  load=$(cut -d' ' -f1 /proc/loadavg)
  line=$(BENCH_WRK_DIR="$BENCH_DIR/wrk" BENCH_RUN_ID="$run_id" BENCH_PATH="${S_PATH[$subject]}" BENCH_THREADS="$THREADS" BENCH_APPROVALS="$approvals" \
    wrk -t "$THREADS" -c "$conns" -d "$duration" --timeout 10s -s "$BENCH_DIR/wrk/${S_SCRIPT[$subject]}" "http://127.0.0.1:${S_PORT[$subject]}" \
    | grep '^BENCHJSON ' | sed 's/^BENCHJSON //')
  [ -n "$approvals" ] && rm -f "$approvals"
  # loadavg: other work on this machine during the run shows up here.
  echo "{\"tag\":\"$tag\",\"subject\":\"$subject\",\"conns\":$conns,\"loadavg_before\":\"$load\",\"result\":$line}" >>"$OUT/runs.jsonl"
  log "$tag $subject c=$conns: $line"
}

log "warm-up ($WARMUP each, not recorded)"
for subject in $ORDER; do
  BENCH_OUT_SAVE=$OUT; OUT="$WORK"; run_wrk "$subject" 32 "$WARMUP" warmup; OUT=$BENCH_OUT_SAVE
done

for conns in $CONNS; do
  for round in $(seq 1 "$ROUNDS"); do
    for subject in $ORDER; do
      run_wrk "$subject" "$conns" "$DURATION" "round$round"
    done
  done
done

# --- allocated bytes per proxied request ---------------------------------------------------------
# The runtime's own counter (System.Runtime, dotnet.gc.heap.total_allocated, read by
# dotnet-counters over EventPipe) sampled each second while wrk drives 32 connections; bytes per
# request = bytes allocated by the whole process during the load / requests wrk completed.
if [ "$ALLOC" = 1 ]; then
  alloc_run() { # SUBJECT PID
    local subject=$1 pid=$2 csv="$WORK/alloc-$1.csv"
    local seconds=${DURATION%s}
    rm -f "$csv"
    # 3 s idle before the load (the idle rate is subtracted), the load, 3 s after.
    dotnet-counters collect -p "$pid" --refresh-interval 1 --format csv -o "$csv" --duration "00:00:00:$(printf '%02d' $((seconds + 6)))" \
      --counters "System.Runtime[dotnet.gc.heap.total_allocated]" >"$WORK/counters-$subject.log" 2>&1 &
    local cpid=$!
    sleep 3
    run_wrk "$subject" 32 "$DURATION" alloc
    wait "$cpid" || { log "dotnet-counters failed:"; cat "$WORK/counters-$subject.log" >&2; return 0; }
    python3 "$BENCH_DIR/summarize.py" alloc-csv "$csv" "$subject" >>"$OUT/alloc.jsonl"
  }
  log "allocation measurement (dotnet-counters)"
  alloc_run plain_yarp "$PID_yarp"
  alloc_run proxied_demo "$PID_gw_demo"
  alloc_run plain_yarp_approval "$PID_yarp"
  alloc_run proxied_clawshield "$PID_gw_claw"
  alloc_run kestrel_echo "$PID_echo"
fi

{
  echo "# Run $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo
  echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(free -g | awk '/^Mem:/{print $2}') GiB RAM; $(dotnet --version) SDK; wrk -t$THREADS, $DURATION per run, $ROUNDS rounds."
  echo
  python3 "$BENCH_DIR/summarize.py" table "$OUT/runs.jsonl" "$OUT/alloc.jsonl"
} | tee "$OUT/summary.md"
log "raw results: $OUT"
