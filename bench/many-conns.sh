#!/usr/bin/env bash
# Hold as many idle connections as this machine allows, each subscribed to its own topic,
# and report the broker RSS per connection there (issue 15: 100,000 connections). A
# process may open at most `ulimit -Hn` files (20,000 here, and no CAP_SYS_RESOURCE to
# raise it), so the load is spread over BROKERS broker processes on their own ports, each
# taking PER connections from a generator process of its own; every broker's RSS delta is
# read from /proc while all connections are held.
# Usage: bench/many-conns.sh [BROKERS] [PER] [HOLD_SECS] [BROKER_BIN]
# BROKER_BIN may be `mosquitto` to measure it the same way.
set -u
cd "$(dirname "$0")/.."
BROKERS=${1:-5}
PER=${2:-19900}
HOLD=${3:-20}
BIN=${4:-target/release/midge}
GEN=target/release/midge
[[ -x $GEN ]] || cargo build --release
ulimit -n "$(ulimit -Hn)"
base=$((21000 + RANDOM % 1000 * 10))
pids=() gens=() before=()
rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
for i in $(seq 0 $((BROKERS - 1))); do
  port=$((base + i))
  if [[ $(basename "$BIN") == mosquitto ]]; then
    conf=$(mktemp)
    printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_keepalive 600\n' "$port" >"$conf"
    "$BIN" -c "$conf" >/dev/null 2>&1 &
  else
    MIDGE_LOG=warn "$BIN" --headless --in-memory -l "127.0.0.1:$port" >/dev/null 2>&1 &
  fi
  pids+=($!)
  for _ in $(seq 100); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  before+=("$(rss "${pids[$i]}")")
done
SECONDS=0
for i in $(seq 0 $((BROKERS - 1))); do
  "$GEN" bench conns -n "$PER" --concurrency 100 -p $((base + i)) --hold "$HOLD" --json \
    >"/tmp/many-conns-$i.json" 2>/dev/null &
  gens+=($!)
done
# Read every broker's RSS once all generators have connected (each holds for HOLD s).
sleep $((HOLD / 2))
for _ in $(seq 120); do
  done_all=1
  for i in $(seq 0 $((BROKERS - 1))); do
    n=$(ls "/proc/${pids[$i]}/fd" 2>/dev/null | wc -l)
    [[ $n -lt $PER ]] && done_all=0
  done
  [[ $done_all == 1 ]] && break
  sleep 1
done
sleep 2
total=0 grown=0
for i in $(seq 0 $((BROKERS - 1))); do
  n=$(($(ls "/proc/${pids[$i]}/fd" | wc -l) - 10))
  now=$(rss "${pids[$i]}")
  total=$((total + n))
  grown=$((grown + now - before[i]))
  printf 'broker %d: ~%d sockets, RSS %d -> %d KiB\n' "$i" "$n" "${before[$i]}" "$now"
done
wait "${gens[@]}"
held=0
for i in $(seq 0 $((BROKERS - 1))); do
  c=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print((d.get("conns") or {}).get("connected", 0))' "/tmp/many-conns-$i.json" 2>/dev/null || echo 0)
  held=$((held + c))
done
kill "${pids[@]}" 2>/dev/null
wait 2>/dev/null
printf '%s: %d brokers, %d connections held (generators report %d connected), RSS grown %d KiB = %d B per connection, %d s\n' \
  "$(basename "$BIN")" "$BROKERS" "$total" "$held" "$grown" $((grown * 1024 / (held > 0 ? held : 1))) "$SECONDS"
