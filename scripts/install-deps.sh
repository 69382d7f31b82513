#!/usr/bin/env bash
# Installs the Debian / Raspberry Pi OS packages QuantWatch needs to build, test and run, when
# they are missing. Idempotent and non-interactive; uses sudo when not root.
set -euo pipefail

# systemd: `systemd-analyze verify` and `security --offline` check the unit in the tests (also where systemd is not init).
# openssl: the MQTT tests make a CA and a broker certificate for mosquitto's TLS listener.
packages=(pkg-config libmosquitto-dev libsqlite3-dev mosquitto mosquitto-clients systemd openssl)
# The aarch64 cross-check (`make test-arm64`): cross linker, aarch64 libc, qemu-user. Not needed
# (and the cross packages do not exist) on an aarch64 host, where `swift test` runs the kernels natively.
[ "$(uname -m)" = aarch64 ] || packages+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
