#!/usr/bin/env bash
# The container image, for real: builds it (scripts/container-build), runs it read-only
# as its non-root user with a /data volume and a config mounted at /etc/midge, publishes
# and subscribes through it with mosquitto_pub/sub, swaps its TLS certificate the way
# Kubernetes updates a mounted secret (a `..data` symlink swap) and checks the new one is
# served, first after SIGHUP and then with no signal at all, and stops it with SIGTERM,
# expecting exit 0. Run by tests/e2e/ops (container test); runnable by hand.
#
# Without podman it skips, except under CI=true, where it fails (scripts/test-deps installs
# podman and runc). MIDGE_BIN=path uses that binary for the image.
set -euo pipefail
cd "$(dirname "$0")/.."
PATH="$PATH:/usr/sbin:/sbin"

fail() { echo "container-e2e: FAIL: $*" >&2; exit 1; }
for tool in podman mosquitto_pub mosquitto_sub openssl; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        [[ ${CI:-} == true || ${CI:-} == 1 ]] && fail "$tool is not installed (scripts/test-deps)"
        echo "container-e2e: SKIPPED: $tool is not installed"
        exit 0
    fi
done
runtime=(--runtime "${PODMAN_RUNTIME:-runc}")
image=midge-e2e-$$
name=midge-e2e-$$
volume=midge-e2e-data-$$
work=$(mktemp -d)
cleanup() {
    podman "${runtime[@]}" rm -f "$name" >/dev/null 2>&1 || true
    podman volume rm -f "$volume" >/dev/null 2>&1 || true
    podman rmi -f "$image" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

echo "== build"
PODMAN_RUNTIME=${PODMAN_RUNTIME:-runc} scripts/container-build "$image" >/dev/null ||
    fail "the image did not build"

# A port nothing listens on now (--network host: the container binds on the host).
free_port() {
    local p
    for _ in $(seq 50); do
        p=$(shuf -i 20000-60999 -n 1)
        { exec 4<>"/dev/tcp/127.0.0.1/$p"; } 2>/dev/null || { echo "$p"; return; }
        exec 4<&-
    done
    fail "no free port found"
}
mqtt=$(free_port); mqtts=$(free_port); http=$(free_port)

# A secret as Kubernetes mounts it: tls.crt -> ..data/tls.crt, ..data -> ..<version>.
secret=$work/secret
cert_version() { # $1 = version name, $2 = CN
    mkdir -p "$secret/..$1"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$2" \
        -addext "subjectAltName=IP:127.0.0.1" \
        -keyout "$secret/..$1/tls.key" -out "$secret/..$1/tls.crt" 2>/dev/null
    chmod 0644 "$secret/..$1/tls.key"
    ln -sfn "..$1" "$secret/..data_tmp"
    mv -T "$secret/..data_tmp" "$secret/..data"
}
cert_version v1 midge-one
ln -s ..data/tls.crt "$secret/tls.crt"
ln -s ..data/tls.key "$secret/tls.key"

mkdir -p "$work/etc"
cat >"$work/etc/midge.toml" <<TOML
[[listener]]
bind = "127.0.0.1:$mqtt"
[[listener]]
bind = "127.0.0.1:$mqtts"
[listener.tls]
cert = "/etc/midge/tls/tls.crt"
key = "/etc/midge/tls/tls.key"
[storage]
dir = "/data"
[http]
bind = "127.0.0.1:$http"
TOML

echo "== run (read-only root, user 10001, /data volume, config at /etc/midge/midge.toml)"
podman "${runtime[@]}" run -d --name "$name" --read-only --network host \
    --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
    -v "$volume:/data" -v "$work/etc/midge.toml:/etc/midge/midge.toml:ro" \
    -v "$secret:/etc/midge/tls:ro" "$image" >/dev/null || fail "podman run"

# /readyz over bash's /dev/tcp: the image has no shell, the host may have no curl.
ready() {
    { exec 3<>"/dev/tcp/127.0.0.1/$http"; } 2>/dev/null || return 1
    printf 'GET /readyz HTTP/1.1\r\nHost: midge\r\nConnection: close\r\n\r\n' >&3
    local status
    status=$(timeout 2 head -n1 <&3 || true)
    exec 3<&-
    [[ $status == *" 200"* ]]
}
for _ in $(seq 100); do ready && break; sleep 0.1; done
ready || { podman logs "$name" >&2; fail "not ready within 10 s"; }
[[ $(podman inspect -f '{{.Config.User}}' "$name") == 10001:10001 ]] || fail "not user 10001"

echo "== publish and subscribe through it"
mosquitto_sub -h 127.0.0.1 -p "$mqtt" -t e2e/# -C 1 -W 10 -q 1 >"$work/got" &
sub=$!
for _ in $(seq 50); do
    # Publish until the subscriber (connected asynchronously) has it; bounded.
    mosquitto_pub -h 127.0.0.1 -p "$mqtt" -t e2e/x -m through-the-container -q 1
    [[ -s $work/got ]] && break
    sleep 0.2
done
wait "$sub" || fail "mosquitto_sub got nothing"
[[ $(cat "$work/got") == through-the-container ]] || fail "got '$(cat "$work/got")'"
# The durable store writes to the volume.
mosquitto_pub -h 127.0.0.1 -p "$mqtt" -t e2e/kept -m kept -q 1 -r

served_cn() {
    openssl s_client -connect "127.0.0.1:$mqtts" </dev/null 2>/dev/null |
        openssl x509 -noout -subject 2>/dev/null | sed -n 's/.*CN *= *//p'
}
wait_cn() { # $1 = CN, $2 = tries of 0.2 s
    for _ in $(seq "$2"); do [[ $(served_cn) == "$1" ]] && return 0; sleep 0.2; done
    return 1
}
wait_cn midge-one 25 || fail "TLS listener serves '$(served_cn)', not midge-one"

wait_log() { # $1 = text; up to 5 s
    for _ in $(seq 25); do
        podman logs "$name" 2>&1 | grep -q "$1" && return 0
        sleep 0.2
    done
    return 1
}

echo "== certificate swap + SIGHUP"
cert_version v2 midge-two
podman "${runtime[@]}" kill --signal HUP "$name" >/dev/null
wait_cn midge-two 25 || fail "after SIGHUP the listener serves '$(served_cn)', not midge-two"
wait_log "SIGHUP: certificates reloaded" || fail "no SIGHUP reload logged"

echo "== certificate swap, no signal (file watch)"
cert_version v3 midge-three
wait_cn midge-three 50 || fail "without a signal the listener serves '$(served_cn)', not midge-three"
wait_log "certificate files changed: reloaded" || fail "no watch reload logged"

echo "== SIGTERM"
podman "${runtime[@]}" stop -t 10 "$name" >/dev/null
code=$(podman inspect -f '{{.State.ExitCode}}' "$name")
[[ $code == 0 ]] || { podman logs "$name" >&2; fail "exit code $code after SIGTERM"; }

echo "== restart on the same volume: the retained message survived"
podman "${runtime[@]}" start "$name" >/dev/null
for _ in $(seq 100); do ready && break; sleep 0.1; done
kept=$(mosquitto_sub -h 127.0.0.1 -p "$mqtt" -t e2e/kept -C 1 -W 10)
[[ $kept == kept ]] || fail "retained message lost across restart: '$kept'"
podman "${runtime[@]}" stop -t 10 "$name" >/dev/null
code=$(podman inspect -f '{{.State.ExitCode}}' "$name")
[[ $code == 0 ]] || fail "exit code $code after the second SIGTERM"
echo "container-e2e: OK"
