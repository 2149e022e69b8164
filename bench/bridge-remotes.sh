#!/usr/bin/env bash
# Bridged QoS 1 throughput against two kinds of remote, midge vs Mosquitto, one run.
#
# bench/bridge.sh uses a Mosquitto remote. A Mosquitto remote takes one connection's QoS 1
# stream at about 25k msg/s here, so it caps both bridges (each is one connection) and hides
# the bridges' own cost. This script runs the same comparison twice: remote = Mosquitto, and
# remote = midge --in-memory (which takes one connection at 400k msg/s). The bridging broker is
# durable on both sides: midge `[storage] sync = "always"`, Mosquitto `persistence true`.
# `midge bench fanin -q 1` publishes into the bridging broker; its subscriber is on the
# remote (`--sub-port`) and counts by sequence number (losses, dups).
# Usage: bench/bridge-remotes.sh [ROUNDS] [SECONDS]      (defaults 3, 5; PUBLISHERS=8,
#        REMOTES="mosquitto midge", BIN=target/release/midge)
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-$PWD/target/release/midge}
[[ -x $BIN ]] || cargo build --release -p midge >&2
command -v mosquitto >/dev/null || PATH="$PATH:/usr/sbin"
ROUNDS=${1:-3}
SECS=${2:-5}
PUBLISHERS=${PUBLISHERS:-8}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
user=""; [[ $(id -u) == 0 ]] && user="user root"

wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
stop() { kill "$1" 2>/dev/null; wait "$1" 2>/dev/null; }
bridge_up() { # local remote: a probe published locally arrives at the remote
  for _ in $(seq 100); do
    out=$(timeout 10 "$BIN" bench latency -p "$1" --sub-port "$2" -d 1 --rate 20 --drain 1 --json 2>/dev/null)
    python3 -c 'import json,sys; r=json.loads(sys.argv[1]); r=r[0] if isinstance(r,list) else r; sys.exit(0 if r["received"] > 0 else 1)' "$out" 2>/dev/null && return 0
    sleep 0.2
  done
  return 1
}
start_remote() { # kind port -> pid in $rpid
  if [[ $1 == mosquitto ]]; then
    printf '%s\nlistener %s 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\n' "$user" "$2" > "$work/r$2.conf"
    mosquitto -c "$work/r$2.conf" 2>/dev/null &
  else
    "$BIN" --headless --in-memory -l "127.0.0.1:$2" 2>/dev/null &
  fi
  rpid=$!; pids+=("$rpid"); wait_port "$2"
}
start_bridging() { # kind port remote_port -> pid in $bpid
  mkdir -p "$work/d$2"
  if [[ $1 == midge ]]; then
    printf '[storage]\nsync = "always"\n[[bridge]]\nname = "bench"\naddress = "mqtt://127.0.0.1:%s"\ntopics = ["midge-bench/# out 1"]\n' "$3" > "$work/m$2.toml"
    "$BIN" --headless -c "$work/m$2.toml" --data-dir "$work/d$2" -l "127.0.0.1:$2" 2>/dev/null &
  else
    printf '%s\nlistener %s 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location %s/\nmax_queued_messages 0\nconnection bench\naddress 127.0.0.1:%s\ntopic midge-bench/# out 1\n' "$user" "$2" "$work/d$2" "$3" > "$work/b$2.conf"
    mosquitto -c "$work/b$2.conf" 2>/dev/null &
  fi
  bpid=$!; pids+=("$bpid"); wait_port "$2" && bridge_up "$2" "$3"
}

port=19500
for remote in ${REMOTES:-mosquitto midge}; do
  declare -a M=() Q=()
  for round in $(seq 1 "$ROUNDS"); do
    line="remote $remote, round $round:"
    for sys in midge mosquitto; do
      rp=$((port += 1)); bp=$((port += 1))
      start_remote "$remote" "$rp"
      start_bridging "$sys" "$bp" "$rp" || { echo "$sys bridge never forwarded" >&2; exit 1; }
      out=$("$BIN" bench fanin -q 1 -p "$bp" --sub-port "$rp" --publishers "$PUBLISHERS" -d "$SECS" --broker-pid "$bpid" --json 2>/dev/null)
      read -r rate lost dups < <(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); r=r[0] if isinstance(r,list) else r; print(int(r["received_per_sec"]), r["losses"], r["dups"])' "$out" 2>/dev/null || echo "0 ? ?")
      line+=$(printf '  %s %7s msg/s (lost %s, dups %s)' "$sys" "$rate" "$lost" "$dups")
      if [[ $sys == midge ]]; then M+=("$rate"); else Q+=("$rate"); fi
      stop "$bpid"; stop "$rpid"
    done
    echo "$line"
  done
  python3 - "$remote" "${M[*]}" "${Q[*]}" <<'PY'
import statistics, sys
m = [int(x) for x in sys.argv[2].split()]; q = [int(x) for x in sys.argv[3].split()]
print(f"remote {sys.argv[1]}: medians midge {statistics.median(m):.0f} msg/s, mosquitto "
      f"{statistics.median(q):.0f} msg/s: {statistics.median(m) / max(1, statistics.median(q)):.2f}x "
      f"(per round: {', '.join(f'{a / max(1, b):.2f}' for a, b in zip(m, q))})")
PY
done
