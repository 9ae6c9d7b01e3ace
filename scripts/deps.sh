#!/bin/sh
# Installs the Debian packages amihead needs to build, test and demo.
# Idempotent and quiet: when everything is present it prints nothing.
set -eu

PKGS="build-essential cmake pkg-config clang libclang-rt-dev
libmodbus-dev libserialport-dev libzmq3-dev librocksdb-dev
libyaml-dev libjansson-dev libcsv-dev libcmocka-dev libmicrohttpd-dev
mbpoll python3 python3-pymodbus python3-zmq python3-serial python3-jsonschema socat
python3-serial-asyncio iproute2 nftables
libsystemd-dev prometheus chromium man-db"

# scale-out (docs/scale-out.md): NATS JetStream, PostgreSQL, optional Kafka output
PKGS="$PKGS nats-server libnats-dev postgresql libpq-dev librdkafka-dev"
# link-fault tests: NFQUEUE for delay/jitter (tests/integration/nfqdelay.py)
PKGS="$PKGS iptables"
# .ci/run checks the C sources are formatted as .clang-format says
PKGS="$PKGS clang-format"
missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

echo "deps: installing$missing" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
