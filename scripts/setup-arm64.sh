#!/usr/bin/env bash
# What building and testing the linux-arm64 prebuilt addon needs on an x64
# Debian machine, installed by the project rather than by hand: Debian's cross
# compiler and qemu-user-static, and Debian's arm64 nodejs with the libraries
# it loads, unpacked into .cache/arm64/root for `qemu-aarch64-static -L`.
# The arm64 packages are fetched with a private apt state, so the machine's
# own architecture list and package lists stay as they were. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v aarch64-linux-gnu-gcc >/dev/null || need+=(gcc-aarch64-linux-gnu)
# The cross compiler alone has no C library headers: with --no-install-recommends
# they are left out, and the build fails at <bits/wordsize.h>.
[ -f /usr/aarch64-linux-gnu/include/bits/wordsize.h ] || need+=(libc6-dev-arm64-cross)
command -v qemu-aarch64-static >/dev/null || need+=(qemu-user-static)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

cache="$PWD/.cache/arm64"
[ -x "$cache/root/usr/bin/node" ] && exit 0
rm -rf "$cache"
mkdir -p "$cache/lists/partial" "$cache/archives/partial" "$cache/root"
: >"$cache/status" # an empty dpkg status: apt fetches nodejs with every dependency
apt_arm64=(apt-get -qq -o APT::Architecture=arm64 -o APT::Architectures=arm64
  -o Dir::State::Lists="$cache/lists" -o Dir::State::status="$cache/status"
  -o Dir::Cache="$cache" -o Dir::Cache::Archives="$cache/archives" -o Debug::NoLocking=1)
"${apt_arm64[@]}" update
"${apt_arm64[@]}" install --download-only -y --no-install-recommends nodejs
for deb in "$cache"/archives/*.deb; do dpkg-deb -x "$deb" "$cache/root"; done
rm -rf "$cache/lists" "$cache/archives"
echo "arm64 node for qemu: $("$(command -v qemu-aarch64-static)" -L "$cache/root" "$cache/root/usr/bin/node" --version)"
