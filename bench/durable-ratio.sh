#!/usr/bin/env bash
# Durable QoS 1 throughput as a share of the in-memory broker's: `midge bench pairs -q 1
# --persistent` (32 pairs; subscribers keep persistent sessions, so every message is
# stored before its PUBACK) against midge with a data dir (`[storage] sync` = $SYNC,
# default always) and against `--in-memory`, alternating. Prints each run and the ratio
# of medians.
# Usage: bench/durable-ratio.sh [ROUNDS] [SECONDS]
set -u
cd "$(dirname "$0")/.."
BIN=target/release/midge
[[ -x $BIN ]] || cargo build --release
ROUNDS=${1:-3}
SECS=${2:-6}
SYNC=${SYNC:-always}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '[storage]\nsync = "%s"\n' "$SYNC" > "$work/midge.toml"
port=18950
declare -a durable memory
for round in $(seq 1 "$ROUNDS"); do
  for mode in durable memory; do
    port=$((port + 1))
    if [[ $mode == durable ]]; then
      rm -rf "$work/data"
      "$BIN" --headless -c "$work/midge.toml" --data-dir "$work/data" -l 127.0.0.1:$port 2>/dev/null &
    else
      "$BIN" --headless --in-memory -l 127.0.0.1:$port 2>/dev/null &
    fi
    pid=$!
    for _ in $(seq 50); do (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
    out=$("$BIN" bench pairs -p $port -q 1 --persistent -d "$SECS" --broker-pid "$pid" --json 2>/dev/null)
    rate=$(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); r = r[0] if isinstance(r, list) else r; print(int(r["received_per_sec"]), r["losses"], r["dups"])' "$out" 2>/dev/null || echo "0 ? ?")
    set -- $rate
    printf '%-8s round %s: %8s msg/s  lost %s  dups %s\n' "$mode" "$round" "$1" "$2" "$3"
    if [[ $mode == durable ]]; then durable+=("$1"); else memory+=("$1"); fi
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  done
done
python3 - "${durable[*]}" "${memory[*]}" <<'PY'
import statistics, sys
d = [int(x) for x in sys.argv[1].split()]; m = [int(x) for x in sys.argv[2].split()]
print(f"durable/in-memory, medians: {statistics.median(d)/statistics.median(m):.2f}x "
      f"(per round: {', '.join(f'{a/b:.2f}' for a, b in zip(d, m))})")
PY
