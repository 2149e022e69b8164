#!/usr/bin/env bash
# Side-by-side benchmark: midge vs Mosquitto (and rumqttd when installed) on loopback.
#
# Starts each broker on 127.0.0.1, runs every scenario against each broker in alternation
# with `midge bench --json`, and prints the raw results and a table of ratios
# midge / Mosquitto. Usage (from the repository root):
#
#   bench/compare.sh                       # 10 s per run
#   DURATION=5 bench/compare.sh            # shorter runs
#   ROUNDS=3 bench/compare.sh              # each scenario 3 times per broker; medians compared
#   SERIAL_LATENCY=1 bench/compare.sh      # latency runs one broker at a time (default: all at once)
#   SCENARIOS="fanin-q0 latency-q0" bench/compare.sh
#
# Needs: mosquitto (Debian package), python3 for the tables, a release build of midge
# (built here if missing). rumqttd is used if bench/.tools/bin/rumqttd exists
# (`cargo install rumqttd --root bench/.tools`). Results go to bench/results/.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-1}
CONNS=${CONNS:-10000}
# Handshakes in flight at once in `conns` (issue 15 measures 100).
CONN_CONCURRENCY=${CONN_CONCURRENCY:-100}
MOSQ_PORT=${MOSQ_PORT:-18830}
MIDGE_PORT=${MIDGE_PORT:-18831}
RUMQTTD_PORT=${RUMQTTD_PORT:-18832}
SCENARIOS=${SCENARIOS:-"conns fanin-q0 fanin-q1 fanout-q0 fanout-q1 pairs-q0 pairs-q1 pairs-q2 latency-q0 latency-q1"}
MIDGE=$ROOT/target/release/midge
OUT=$ROOT/bench/results
mkdir -p "$OUT"
RESULTS=$OUT/results-$(date +%Y%m%d-%H%M%S).jsonl
TMP=$(mktemp -d)

# Thousands of sockets per broker and in the generator: raise the soft fd limit to the hard
# one for everything started from here (the generator also does it itself).
ulimit -n "$(ulimit -Hn)"

if [[ ! -x $MIDGE || -n ${REBUILD:-} ]]; then
    echo "building midge (release)..." >&2
    cargo build --release -p midge >&2
fi
command -v mosquitto >/dev/null || { echo "mosquitto not found (apt-get install mosquitto)" >&2; exit 1; }

declare -A PORT PID
BROKERS=()

cleanup() {
    for b in "${BROKERS[@]}"; do kill "${PID[$b]}" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

wait_port() { # port: wait up to 10 s for a listener
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "nothing listening on 127.0.0.1:$1" >&2
    return 1
}

RUMQTTD=$ROOT/bench/.tools/bin/rumqttd
BROKERS=(mosquitto midge)
if [[ -x $RUMQTTD ]]; then
    BROKERS+=(rumqttd)
    sed "s/@PORT@/$RUMQTTD_PORT/" bench/rumqttd.toml >"$TMP/rumqttd.toml"
else
    echo "note: rumqttd not installed (cargo install rumqttd --root bench/.tools); skipped" >&2
fi
PORT=([mosquitto]=$MOSQ_PORT [midge]=$MIDGE_PORT [rumqttd]=$RUMQTTD_PORT)
# Mosquitto: the repo's config plus a loopback listener on its port.
{ cat bench/mosquitto.conf; echo "listener $MOSQ_PORT 127.0.0.1"; } >"$TMP/mosquitto.conf"

start_broker() { # name
    case $1 in
        mosquitto) mosquitto -c "$TMP/mosquitto.conf" >>"$TMP/mosquitto.log" 2>&1 & ;;
        midge) MIDGE_LOG=warn "$MIDGE" --headless -l "127.0.0.1:$MIDGE_PORT" --in-memory \
            >>"$TMP/midge.log" 2>&1 & ;;
        rumqttd) "$RUMQTTD" -q -c "$TMP/rumqttd.toml" >>"$TMP/rumqttd.log" 2>&1 & ;;
    esac
    PID[$1]=$!
}

# Fresh processes: memory freed by an earlier scenario would hide a new connection's cost.
restart_brokers() {
    for b in "${BROKERS[@]}"; do
        if [[ -n ${PID[$b]:-} ]]; then kill "${PID[$b]}" 2>/dev/null || true; wait "${PID[$b]}" 2>/dev/null || true; fi
    done
    for b in "${BROKERS[@]}"; do start_broker "$b"; done
    for b in "${BROKERS[@]}"; do wait_port "${PORT[$b]}"; done
    echo "brokers: $(for b in "${BROKERS[@]}"; do printf '%s(pid %s, port %s) ' "$b" "${PID[$b]}" "${PORT[$b]}"; done)" >&2
}
restart_brokers

args_for() { # scenario-qN → midge bench arguments
    local name=${1%-q*} qos=0
    [[ $1 == *-q* ]] && qos=${1##*-q}
    case $name in
        fanin) echo "fanin --publishers 16 -q $qos -d $DURATION" ;;
        fanout) echo "fanout --subscribers 64 -q $qos -d $DURATION" ;;
        pairs) echo "pairs --pairs 32 -q $qos -d $DURATION" ;;
        latency) echo "latency --rate 2000 -q $qos -d $DURATION" ;;
        conns) echo "conns -n $CONNS --concurrency $CONN_CONCURRENCY -q $qos" ;;
        *) echo "unknown scenario $1" >&2; return 1 ;;
    esac
}

run_one() { # scenario broker args...: one `midge bench` run, its JSON (or a failure) to stdout
    local s=$1 b=$2; shift 2
    if ! timeout 300 "$MIDGE" bench "$@" -p "${PORT[$b]}" --broker-pid "${PID[$b]}" \
        --label "$b" --json; then
        echo "   failed: $s on $b" >&2
        local q=0; [[ $s == *-q* ]] && q=${s##*-q}
        printf '{"scenario":"%s","broker":"%s","failed":true,"qos":%s}\n' "${s%-q*}" "$b" "$q"
    fi
}

i=0
for s in $SCENARIOS; do
  read -r -a args <<<"$(args_for "$s")"
  for ((round = 1; round <= ROUNDS; round++)); do
    # Alternate which broker goes first, so neither always runs on a warmer machine.
    order=("${BROKERS[@]}")
    if (( i % 2 == 1 )); then
        order=(); for ((k=${#BROKERS[@]}-1; k>=0; k--)); do order+=("${BROKERS[$k]}"); done
    fi
    i=$((i + 1))
    [[ $s == conns* && $i -gt 1 ]] && restart_brokers
    if [[ $s == latency* && -z ${SERIAL_LATENCY:-} ]]; then
        # 2,000 msg/s is light: measure every broker at once, so each sees the same
        # machine noise (on a shared machine the scheduler dominates a p99).
        echo "== $s on ${order[*]} at once (round $round/$ROUNDS)" >&2
        runs=()
        for b in "${order[@]}"; do
            run_one "$s" "$b" "${args[@]}" >"$TMP/lat-$b.json" &
            runs+=("$!")
        done
        for r in "${runs[@]}"; do wait "$r" || true; done
        for b in "${order[@]}"; do cat "$TMP/lat-$b.json" >>"$RESULTS"; done
        continue
    fi
    for b in "${order[@]}"; do
        echo "== $s on $b (round $round/$ROUNDS)" >&2
        run_one "$s" "$b" "${args[@]}" >>"$RESULTS"
    done
  done
done

echo >&2
python3 bench/table.py "$RESULTS"
echo
echo "raw results: $RESULTS"
