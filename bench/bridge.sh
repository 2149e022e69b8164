#!/usr/bin/env bash
# Bridged QoS 1 throughput, midge vs Mosquitto, side by side in one run.
#
# Each round publishes QoS 1 into the system under test with `midge bench pairs` and counts,
# by sequence number, what arrives at a second broker (a plain Mosquitto, "the remote"):
# subscribers connect there (`--sub-port`), publishers to the bridging broker.
#   midge:     [storage] sync = "always", a [[bridge]] with `topics = ["midge-bench/# out 1"]`
#              (its outbound queue is its durable session: stored before the publisher's PUBACK)
#   Mosquitto: persistence true, `connection` + `topic midge-bench/# out 1`, cleansession false
#              (Mosquitto's queue is saved only by its periodic snapshot: weaker durability)
# Prints every run (msg/s, lost, dups), then the medians and the midge/Mosquitto ratio.
# Usage: bench/bridge.sh [ROUNDS] [SECONDS] [PAIRS]      (defaults 3, 8, 8)
set -u
cd "$(dirname "$0")/.."
BIN=target/release/midge
[[ -x $BIN ]] || cargo build --release
ROUNDS=${1:-3}
SECS=${2:-8}
PAIRS=${3:-8}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
user=""; [[ $(id -u) == 0 ]] && user="user root"   # as root Mosquitto would drop to `mosquitto`

wait_port() { for _ in $(seq 100); do (echo > "/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
# Until the bridge says "1" on its broker's $SYS/broker/connection/<id>/state (both brokers use it).
wait_bridge() {
  for _ in $(seq 50); do
    v=$(mosquitto_sub -p "$1" -t '$SYS/broker/connection/+/state' -C 1 -W 1 2>/dev/null)
    [[ $v == 1 ]] && return 0
    sleep 0.2
  done
  echo "bridge on port $1 never came up" >&2; return 1
}

port=19300
declare -a midge_rates mosq_rates
for round in $(seq 1 "$ROUNDS"); do
  for sys in midge mosquitto; do
    remote=$((port += 1)); local_port=$((port += 1))
    printf '%s\nlistener %s 127.0.0.1\nallow_anonymous true\n' "$user" "$remote" > "$work/remote.conf"
    mosquitto -c "$work/remote.conf" 2>/dev/null & rpid=$!; pids+=("$rpid")
    wait_port "$remote" || exit 1
    rm -rf "$work/data" "$work/mdata"; mkdir -p "$work/mdata"
    if [[ $sys == midge ]]; then
      cat > "$work/midge.toml" <<TOML
[storage]
sync = "always"
[sys]
interval_secs = 0
[[bridge]]
name = "bench"
address = "mqtt://127.0.0.1:$remote"
topics = ["midge-bench/# out 1"]
TOML
      "$BIN" --headless -c "$work/midge.toml" --data-dir "$work/data" -l "127.0.0.1:$local_port" 2>"$work/midge.log" &
    else
      cat > "$work/bridge.conf" <<CONF
$user
listener $local_port 127.0.0.1
allow_anonymous true
persistence true
persistence_location $work/mdata/
connection bench
address 127.0.0.1:$remote
topic midge-bench/# out 1
cleansession false
CONF
      mosquitto -c "$work/bridge.conf" 2>/dev/null &
    fi
    spid=$!; pids+=("$spid")
    wait_port "$local_port" && wait_bridge "$local_port" || exit 1
    out=$(timeout $((SECS + 60)) "$BIN" bench pairs -p "$local_port" --sub-port "$remote" -q 1 \
          --pairs "$PAIRS" -d "$SECS" --drain 10 --broker-pid "$spid" --json 2>/dev/null)
    read -r rate lost dups < <(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); r = r[0] if isinstance(r, list) else r; print(int(r["received_per_sec"]), r["losses"], r["dups"])' "$out" 2>/dev/null || echo "0 ? ?")
    printf '%-9s round %s: %8s msg/s  lost %s  dups %s\n' "$sys" "$round" "$rate" "$lost" "$dups"
    if [[ $sys == midge ]]; then midge_rates+=("$rate"); else mosq_rates+=("$rate"); fi
    kill "$spid" "$rpid" 2>/dev/null; wait "$spid" "$rpid" 2>/dev/null
  done
done
python3 - "${midge_rates[*]}" "${mosq_rates[*]}" <<'PY'
import statistics, sys
a = [int(x) for x in sys.argv[1].split()]; b = [int(x) for x in sys.argv[2].split()]
ma, mb = statistics.median(a), statistics.median(b)
print(f"medians: midge {ma:.0f} msg/s, mosquitto {mb:.0f} msg/s; midge/mosquitto {ma / max(mb, 1):.2f}x "
      f"(per round: {', '.join(f'{x / max(y, 1):.2f}' for x, y in zip(a, b))})")
PY
