#!/usr/bin/env bash
# What watching costs: the broker's CPU with N idle connections (each subscribed to its
# own topic) held by `midge bench conns --hold`, headless and with the dashboard open on
# the Overview and on Connections, side by side in one run. Needs tmux.
# Usage: bench/idle-dashboard.sh [CONNECTIONS] [HOLD_SECS] [BROKER_BIN] [LABEL]
# (the load comes from this checkout's target/release/midge; BROKER_BIN may be an older
# build to compare with)
set -u
cd "$(dirname "$0")/.."
N=${1:-19000}
HOLD=${2:-30}
BIN=${3:-target/release/midge}
LABEL=${4:-$BIN}
GEN=target/release/midge
[[ -x $GEN ]] || cargo build --release
command -v tmux >/dev/null || { echo "needs tmux (Debian package tmux)"; exit 1; }
ulimit -n "$(ulimit -Hn)"
port=19700
for mode in headless overview connections; do
  port=$((port + 1))
  if [[ $mode == headless ]]; then
    "$BIN" --headless --in-memory -l 127.0.0.1:$port 2>/dev/null &
  else
    tmux -L midge-idle new-session -d -x 200 -y 50 \
      "ulimit -n $(ulimit -Hn); $BIN --in-memory -l 127.0.0.1:$port --log-file /tmp/midge-idle.log"
  fi
  for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
  [[ $mode == connections ]] && tmux -L midge-idle send-keys 2
  pid=$(pgrep -f -- "-l 127.0.0.1:$port" | grep -v tmux | tail -1)
  out=$("$GEN" bench conns -n "$N" --concurrency 100 -p $port --hold "$HOLD" --broker-pid "$pid" 2>&1)
  connected=$(grep -o '[0-9]*/[0-9]* connected' <<<"$out")
  idle=$(grep -o 'held idle: [0-9.]*%' <<<"$out")
  printf '%-14s %-12s %s, %s\n' "$LABEL" "$mode" "$connected" "$idle"
  [[ $mode == connections ]] && tmux -L midge-idle capture-pane -p -t 0 | head -6 > "/tmp/midge-idle-$port.txt"
  kill "$pid" 2>/dev/null
  tmux -L midge-idle kill-server 2>/dev/null
  sleep 1
done
