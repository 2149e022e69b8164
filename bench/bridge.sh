#!/usr/bin/env bash
# Bridged QoS 1 throughput, midge against Mosquitto, side by side in one run.
#
# Each side: a local broker with an `out` bridge (`midge-bench/# out 1`) to its own remote
# Mosquitto. `midge bench fanin -q 1` publishes into the local broker and its subscriber
# sits on the remote (`--sub-port`), so every message crosses the bridge; each carries a
# sequence number, so losses and duplicates are counted, not assumed.
# Durable on both sides: midge with `[storage] sync = "always"` (each message on disk
# before its PUBACK), Mosquitto with `persistence true` (Mosquitto writes its store only
# at autosave and exit — it never syncs per message — so this favours Mosquitto).
#
# Usage: bench/bridge.sh [ROUNDS] [SECONDS]     (PUBLISHERS=8 by default)
# Needs: mosquitto (Debian package), python3; builds midge --release if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/target/release/midge
[[ -x $BIN && -z ${REBUILD:-} ]] || cargo build --release -p midge >&2
command -v mosquitto >/dev/null || PATH="$PATH:/usr/sbin"
command -v mosquitto >/dev/null || { echo "mosquitto not found (apt-get install mosquitto)" >&2; exit 1; }
ROUNDS=${1:-3}
SECS=${2:-5}
PUBLISHERS=${PUBLISHERS:-8}
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

wait_port() {
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nothing listening on 127.0.0.1:$1" >&2
    return 1
}

remote() { # port: a plain Mosquitto, the bridge's far end
    printf 'user root\nlistener %s 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\n' "$1" \
        > "$work/remote-$1.conf"
    mosquitto -c "$work/remote-$1.conf" 2>/dev/null &
    pids+=($!)
    wait_port "$1"
}

# Waits until the bridge forwards: a probe published locally arrives at the remote.
bridge_up() { # local_port remote_port
    for _ in $(seq 100); do
        out=$(timeout 10 "$BIN" bench latency -p "$1" --sub-port "$2" -d 1 --rate 20 --drain 1 --json 2>/dev/null || true)
        if python3 -c 'import json,sys; r=json.loads(sys.argv[1]); r=r[0] if isinstance(r,list) else r; sys.exit(0 if r["received"] > 0 else 1)' "$out" 2>/dev/null; then
            return 0
        fi
        sleep 0.2
    done
    echo "the bridge from :$1 to :$2 never forwarded" >&2
    return 1
}

run() { # name local_port remote_port pid
    "$BIN" bench fanin -q 1 -p "$2" --sub-port "$3" --publishers "$PUBLISHERS" -d "$SECS" \
        --broker-pid "$4" --label "$1" --json 2>/dev/null
}

port=19400
declare -a M Q
for round in $(seq 1 "$ROUNDS"); do
    # midge: durable, out bridge to its remote.
    port=$((port + 2)); mp=$port; mr=$((port + 1))
    remote "$mr"
    rm -rf "$work/data"
    cat > "$work/midge.toml" <<EOF
[storage]
sync = "always"
[[bridge]]
name = "bench"
address = "mqtt://127.0.0.1:$mr"
topics = ["midge-bench/# out 1"]
EOF
    "$BIN" --headless -c "$work/midge.toml" --data-dir "$work/data" -l "127.0.0.1:$mp" 2>"$work/midge.log" &
    midge=$!; pids+=($midge)
    wait_port "$mp"
    bridge_up "$mp" "$mr"
    m=$(run midge "$mp" "$mr" "$midge")
    kill "$midge"; wait "$midge" 2>/dev/null || true

    # Mosquitto: persistence on, the same bridge.
    port=$((port + 2)); qp=$port; qr=$((port + 1))
    remote "$qr"
    mkdir -p "$work/mosq-$qp"
    printf 'user root\nlistener %s 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location %s/\nmax_queued_messages 0\nconnection bench\naddress 127.0.0.1:%s\ntopic midge-bench/# out 1\n' \
        "$qp" "$work/mosq-$qp" "$qr" > "$work/mosq-$qp.conf"
    mosquitto -c "$work/mosq-$qp.conf" 2>/dev/null &
    mosq=$!; pids+=($mosq)
    wait_port "$qp"
    bridge_up "$qp" "$qr"
    q=$(run mosquitto "$qp" "$qr" "$mosq")
    kill "$mosq"; wait "$mosq" 2>/dev/null || true

    row() { python3 -c 'import json,sys; r=json.loads(sys.argv[1]); r=r[0] if isinstance(r,list) else r; print(int(r["received_per_sec"]), r["losses"], r["dups"])' "$1"; }
    read -r mr_ ml md <<<"$(row "$m")"
    read -r qr_ ql qd <<<"$(row "$q")"
    printf 'round %s: midge %8s msg/s (lost %s, dups %s) | mosquitto %8s msg/s (lost %s, dups %s)\n' \
        "$round" "$mr_" "$ml" "$md" "$qr_" "$ql" "$qd"
    M+=("$mr_"); Q+=("$qr_")
done
python3 - "${M[*]}" "${Q[*]}" <<'PY'
import statistics, sys
m = [int(x) for x in sys.argv[1].split()]; q = [int(x) for x in sys.argv[2].split()]
ratio = statistics.median(m) / max(1, statistics.median(q))
print(f"bridged QoS 1, medians: midge {statistics.median(m):.0f} msg/s, mosquitto "
      f"{statistics.median(q):.0f} msg/s: {ratio:.2f}x "
      f"(per round: {', '.join(f'{a / max(1, b):.2f}' for a, b in zip(m, q))})")
PY
