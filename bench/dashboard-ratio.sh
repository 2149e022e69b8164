#!/usr/bin/env bash
# Broker throughput with the dashboard open (in tmux, 160x48) vs headless, alternating,
# on loopback with `midge bench fanin`. Prints one line per run; compare recv/s.
# Usage: bench/dashboard-ratio.sh [ROUNDS] [SECONDS]
set -u
cd "$(dirname "$0")/.."
BIN=target/release/midge
[[ -x $BIN ]] || cargo build --release
ROUNDS=${1:-2}
SECS=${2:-6}
command -v tmux >/dev/null || { echo "needs tmux"; exit 1; }
port=18900
for round in $(seq 1 "$ROUNDS"); do
  for mode in headless dashboard; do
    port=$((port + 1))
    if [[ $mode == headless ]]; then
      "$BIN" --headless --in-memory -l 127.0.0.1:$port 2>/dev/null &
    else
      tmux -L midge-ratio new-session -d -x 160 -y 48 \
        "$BIN --in-memory -l 127.0.0.1:$port --log-file /tmp/midge-ratio.log"
    fi
    for _ in $(seq 50); do (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
    pid=$(pgrep -f -- "-l 127.0.0.1:$port" | grep -v tmux | tail -1)
    printf '%-9s round %s: ' "$mode" "$round"
    "$BIN" bench fanin -p $port -q 0 -d "$SECS" --broker-pid "$pid" 2>&1 | tail -1
    kill "$pid" 2>/dev/null
    tmux -L midge-ratio kill-server 2>/dev/null
    sleep 1
  done
done
