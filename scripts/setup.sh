#!/usr/bin/env bash
# Installs what a fresh Debian machine with only Rust lacks for building and testing Tally:
# clang and libclang (RocksDB's bindings are generated with bindgen) and curl (the system tests
# run the curl examples of docs/RPC.md). Without root it prints the one command to run.
set -euo pipefail

have_libclang() {
  ls /usr/lib/llvm-*/lib/libclang*.so* /usr/lib/x86_64-linux-gnu/libclang*.so* >/dev/null 2>&1
}

packages=""
if ! command -v clang >/dev/null 2>&1 || ! have_libclang; then
  packages="clang libclang-dev"
fi
if ! command -v curl >/dev/null 2>&1; then
  packages="$packages curl"
fi
if [ -z "$packages" ]; then
  exit 0
fi

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "setup: installing $packages …"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $packages >/dev/null
  echo "setup: done"
else
  echo "setup: missing $packages (RocksDB's bindings need clang and libclang; the tests need curl). Run:" >&2
  echo "    sudo apt-get update && sudo apt-get install -y $packages" >&2
  exit 1
fi
