#!/usr/bin/env bash
# Regenerates screenshots/*.png: the real midge dashboard in tmux under real traffic
# (mosquitto_pub / mosquitto_sub: several clients, MQTT 3.1.1 and 5.0, QoS 0/1/2, JSON,
# text and numbers, a retained message, an offline session with a queue, a stopped slow
# consumer), every view captured with `tmux capture-pane -e -p`, converted by
# scripts/ansi2svg.py to SVG and by rsvg-convert to PNG.
#
# Needs: tmux, mosquitto-clients, librsvg2-bin, fonts-dejavu-core, python3
# (optional: pngquant or ImageMagick to shrink the PNGs).
# Usage: scripts/screenshots.sh            (takes about a minute after the build)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/screenshots
WORK=$(mktemp -d)
SOCK="midge-shots-$$"
PIDS=()

PATH="$PATH:/usr/sbin"
for tool in tmux mosquitto mosquitto_pub mosquitto_sub rsvg-convert python3; do
    command -v "$tool" >/dev/null || {
        echo "missing $tool (apt-get install tmux mosquitto-clients librsvg2-bin fonts-dejavu-core)" >&2
        exit 1
    }
done

cleanup() {
    for job in $(jobs -p); do
        kill "$job" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        kill -CONT "$pid" 2>/dev/null || true
        kill "$pid" 2>/dev/null || true
    done
    tmux -L "$SOCK" kill-server 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

cargo build --release --bin midge
MIDGE=$ROOT/target/release/midge
mkdir -p "$OUT"

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# A remote broker for the live bridge (the Bridges view); a second bridge points at a
# port nobody listens on, so the view shows one up and one down with its error.
REMOTE_PORT=$(free_port)
DEAD_PORT=$(free_port)
mosquitto -p "$REMOTE_PORT" >/dev/null 2>&1 &
PIDS+=($!)

# The config of each dashboard run: a TCP and an MQTT-SN listener on $PORT / $SN_PORT, a
# small window and queue so the stopped consumer shows up quickly, and two bridges.
write_config() {
    cat >"$WORK/midge.toml" <<EOF
[[listener]]
bind = "127.0.0.1:$PORT"
[[listener]]
bind = "127.0.0.1:$SN_PORT"
kind = "mqttsn"
[limits]
max_inflight = 10
max_queued_messages = 200
[sys]
interval_secs = 2
[[bridge]]
name = "cloud"
address = "mqtt://127.0.0.1:$REMOTE_PORT"
client_id = "cloud.edge-7"
topics = ["home/# out 1", "cmd/# in 1"]
[[bridge]]
name = "backup"
addresses = ["mqtt://127.0.0.1:$DEAD_PORT"]
topics = ["factory/# out 1"]
EOF
}

# An MQTT-SN sensor (raw datagrams): connects, subscribes to garden/#, and goes to sleep
# for 10 minutes, so messages for it are buffered by the gateway.
sn_sleeper() {
    python3 - "$SN_PORT" <<'PY'
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
gw = ("127.0.0.1", int(sys.argv[1]))
def send(t, body): s.sendto(bytes([len(body) + 2, t]) + body, gw)
send(0x04, bytes([0x04, 0x01]) + struct.pack(">H", 60) + b"soil-probe-7")   # CONNECT
s.recv(64)                                                                      # CONNACK
send(0x12, bytes([0x20]) + struct.pack(">H", 1) + b"garden/#")                 # SUBSCRIBE
s.recv(64)                                                                      # SUBACK
send(0x18, struct.pack(">H", 600))                                              # DISCONNECT(600)
s.recv(64)
PY
}

t() { tmux -L "$SOCK" "$@"; }

# Waits (at most 10 s) until the pane shows $1.
wait_for() {
    for _ in $(seq 100); do
        t capture-pane -p -t shot | grep -qF -- "$1" && return 0
        sleep 0.1
    done
    echo "timed out waiting for: $1" >&2
    t capture-pane -p -t shot >&2
    return 1
}

# shot NAME COLS ROWS: the pane as ANSI → SVG → PNG.
shot() {
    local name=$1 cols=$2 rows=$3
    sleep 0.6 # let the next 250 ms snapshot and its redraw land
    t capture-pane -e -p -N -t shot >"$WORK/$name.ansi"
    python3 "$ROOT/scripts/ansi2svg.py" "$cols" "$rows" <"$WORK/$name.ansi" >"$WORK/$name.svg"
    rsvg-convert "$WORK/$name.svg" -o "$WORK/$name.png"
    if command -v pngquant >/dev/null; then
        pngquant --force --quality 50-90 --output "$OUT/$name.png" "$WORK/$name.png"
    elif convert -version 2>/dev/null | grep -q ImageMagick; then
        convert "$WORK/$name.png" -colors 64 "PNG8:$OUT/$name.png"
    else
        cp "$WORK/$name.png" "$OUT/$name.png"
    fi
    echo "screenshots/$name.png"
}

# start_dashboard COLS ROWS: midge in a fresh tmux session; sets PORT and SN_PORT.
start_dashboard() {
    PORT=$(free_port)
    SN_PORT=$(free_port)
    write_config
    # A fresh tmux server per size: reusing a socket races with the old server's exit.
    t kill-server 2>/dev/null || true
    SOCK="midge-shots-$$-$1x$2"
    # Connections and disconnections are debug events of the client task; the per
    # message "delivery dropped" stays at info so the slow consumer does not flood.
    local log="info,midge::broker::client=debug,midge::broker::client::outbound=info"
    t new-session -d -s shot -x "$1" -y "$2" \
        "MIDGE_LOG='$log' '$MIDGE' -c '$WORK/midge.toml' --data-dir '$WORK/data' --log-file '$WORK/midge.log'; sleep 3600"
    wait_for "UTC"
}

pub() { mosquitto_pub -h 127.0.0.1 -p "$PORT" "$@"; }
# A subscriber in the background; its pid (the real mosquitto_sub) goes to PIDS.
bg_sub() {
    mosquitto_sub -h 127.0.0.1 -p "$PORT" "$@" >/dev/null &
    PIDS+=($!)
}

# feed SECONDS PERIOD CMD...: prints one value per PERIOD (CMD run each time) for SECONDS.
feed() {
    local until=$((SECONDS + $1)) period=$2
    shift 2
    while ((SECONDS < until)); do
        "$@"
        sleep "$period"
    done
}

traffic() {
    local secs=$1
    local to=(-h 127.0.0.1 -p "$PORT" -l)
    # Long-lived publishers (one connection each, `-l`: a message per line): numbers,
    # JSON, text; 3.1.1 and 5.0; QoS 0, 1, 2. They end when their feed does.
    feed "$secs" 0.2 bash -c 'echo $((19 + RANDOM % 4)).$((RANDOM % 10))' |
        mosquitto_pub "${to[@]}" -i sensor-kitchen -V mqttv311 -q 0 -t home/kitchen/temperature &
    PIDS+=($!)
    feed "$secs" 0.5 bash -c 'echo "{\"humidity\":$((40 + RANDOM % 20)),\"battery\":0.$((RANDOM % 90 + 10))}"' |
        mosquitto_pub "${to[@]}" -i sensor-garage -V mqttv5 -q 1 -t home/garage/climate \
            -D publish content-type application/json &
    PIDS+=($!)
    feed "$secs" 0.1 bash -c 'echo "pressure=$((900 + RANDOM % 200)) bar"' |
        mosquitto_pub "${to[@]}" -i plc-line1 -V mqttv5 -q 2 -t factory/line1/press/pressure &
    PIDS+=($!)
    feed "$secs" 0.3 bash -c 'echo "OK batch B-$((RANDOM % 1000))"' |
        mosquitto_pub "${to[@]}" -i plc-line2 -V mqttv311 -q 1 -t factory/line2/status &
    PIDS+=($!)
}

subscribers() {
    bg_sub -i dashboard-web -V mqttv5 -q 2 -t 'home/#' -t 'factory/+/status'
    bg_sub -i logger-311 -V mqttv311 -q 1 -t '#'
    bg_sub -i alarm-panel -V mqttv31 -q 0 -t 'alerts/#'
    # A persistent session that goes away: its QoS 1 messages queue while offline.
    timeout 2 mosquitto_sub -h 127.0.0.1 -p "$PORT" -i archive-offline -c -q 1 \
        -t 'factory/line2/#' >/dev/null || true
    # The slow consumer: subscribed at QoS 1, then stopped (no PUBACKs, no reads), so
    # its in-flight window fills, then its queue, then it drops.
    bg_sub -i slow-historian -V mqttv5 -q 1 -t 'factory/#'
    sleep 0.5
    kill -STOP "${PIDS[-1]}"
    # A retained message and a one-off alert.
    pub -i lamp-ctl -V mqttv5 -r -q 1 -t home/livingroom/lamp \
        -m '{"on":true,"level":80,"color":"warm"}' -D publish content-type application/json
    pub -i fire-panel -q 2 -t alerts/fire -m 'Smoke detected in hall B'
    # A sleeping MQTT-SN sensor with messages waiting for it.
    sn_sleeper
    pub -i garden-ctl -q 1 -t garden/valve/3 -m open
    pub -i garden-ctl -q 1 -t garden/lights -m '{"scene":"dusk"}'
}

# ---- 160 × 48: every view -------------------------------------------------------------
start_dashboard 160 48
subscribers
traffic 100
sleep 45 # fill most of the 1 min charts

t send-keys -t shot 1
wait_for "Broker"
shot 1-overview 160 48

t send-keys -t shot 2
wait_for "slow-historian"
sleep 1.2 # per-client rates need two pages a second apart
shot 2-connections 160 48
# The stopped consumer's detail: its subscription, full in-flight window and queue.
t send-keys -t shot / && t send-keys -t shot -l historian && t send-keys -t shot Enter
wait_for "Connections 1 shown" # the page for the filter (the broker sorts and filters)
t send-keys -t shot Enter
wait_for "Client slow-historian"
shot 2-client-detail 160 48
t send-keys -t shot Escape Escape

t send-keys -t shot 3
wait_for "home"
# Select home/garage/climate (JSON): $SYS alerts fire factory line1 press pressure
# line2 status home garage climate.
t send-keys -t shot g j j j j j j j j j j j
shot 3-topics 160 48
t send-keys -t shot j j # kitchen/temperature: numbers get a chart
shot 3-topics-numeric 160 48

t send-keys -t shot 4
wait_for "QoS in flight"
shot 4-qos-in-flight 160 48

t send-keys -t shot 5 a
t send-keys -t shot -l 'home/#'
t send-keys -t shot Tab Enter
sleep 1
t send-keys -t shot p
t send-keys -t shot -l 'home/livingroom/lamp'
t send-keys -t shot Tab
t send-keys -t shot -l '{"on":false}'
t send-keys -t shot Tab Tab Space Tab
t send-keys -t shot -l 'application/json'
t send-keys -t shot Enter
sleep 2
t send-keys -t shot p Tab
shot 5-pubsub 160 48
t send-keys -t shot Escape

t send-keys -t shot 6
wait_for "slow-historian"
shot 6-slow-consumers 160 48

# Online clients by id: alarm-panel dashboard-web logger-311 midge-dashboard plc-line1.
t send-keys -t shot 7 g j j j j Enter
sleep 2
shot 7-trace 160 48

t send-keys -t shot 8
wait_for "Log"
shot 8-log 160 48

t send-keys -t shot '?'
wait_for "help"
shot 9-help 160 48
t send-keys -t shot Escape

# Top talkers: the busiest topics and clients over the last 10 s.
t send-keys -t shot 9
wait_for "Top topics"
sleep 1.2
shot 10-top-talkers 160 48

# Bridges: "cloud" up (forwarding home/# out), "backup" down with its error.
t send-keys -t shot 0
wait_for "cloud"
shot 11-bridges 160 48

# The sleeping MQTT-SN sensor's detail: its topic ids and buffered messages.
# The Connections filter still holds "historian" from above: clear it first.
t send-keys -t shot 2 /
for _ in $(seq 12); do t send-keys -t shot BSpace; done
t send-keys -t shot -l soil && t send-keys -t shot Enter
wait_for "Connections 1 shown"
t send-keys -t shot Enter
wait_for "Client soil-probe-7"
shot 12-mqtt-sn-client 160 48
t send-keys -t shot Escape Escape

# A Sparkplug B DDATA (protobuf written by hand below), decoded by topic in Topics.
python3 - >"$WORK/ddata.bin" <<'PY'
import struct, sys
def varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append(v & 0x7F | 0x80); v >>= 7
    out.append(v); return bytes(out)
def field(tag, wire, body): return varint(tag << 3 | wire) + body
def ld(tag, b): return field(tag, 2, varint(len(b)) + b)
def metric(name, alias, dtype, value): return ld(2, ld(1, name) + field(2, 0, varint(alias)) + field(4, 0, varint(dtype)) + value)
p = field(1, 0, varint(1749988800000))
p += metric(b"Press/Temperature", 1, 9, field(12, 5, struct.pack("<f", 71.25)))
p += metric(b"Press/Running", 2, 11, field(14, 0, varint(1)))
p += metric(b"Press/Recipe", 3, 12, ld(15, b"steel-4mm"))
p += field(3, 0, varint(1))
sys.stdout.buffer.write(p)
PY
pub -i edge1 -t spBv1.0/plant/DDATA/edge1/press -f "$WORK/ddata.bin"
t send-keys -t shot 3 /
t send-keys -t shot -l DDATA
t send-keys -t shot Enter G
wait_for "Press/Temperature"
shot 3-topics-sparkplug 160 48
t send-keys -t shot Escape

# Publish templates and history: save the form, then open the picker.
t send-keys -t shot 5 s
wait_for "Save as template"
t send-keys -t shot C-u
t send-keys -t shot -l 'lamp off'
t send-keys -t shot Enter
wait_for "saved template"
t send-keys -t shot t
wait_for "Templates and history"
shot 5-templates 160 48
t send-keys -t shot Escape

# ---- 80 × 24: the small terminal ------------------------------------------------------
for pid in "${PIDS[@]}"; do
    kill -CONT "$pid" 2>/dev/null || true
    kill "$pid" 2>/dev/null || true
done
PIDS=()
start_dashboard 80 24
subscribers
traffic 40
sleep 25
t send-keys -t shot 1
shot 1-overview-80x24 80 24
t send-keys -t shot 2
sleep 1.2
shot 2-connections-80x24 80 24

du -ch "$OUT"/*.png | tail -1
