#!/usr/bin/env bash
# Installs what a fresh Debian machine with only Rust lacks for building Tally: clang and
# libclang (RocksDB's bindings are generated with bindgen). Without root it prints the command.
set -euo pipefail

have_libclang() {
  ls /usr/lib/llvm-*/lib/libclang*.so* /usr/lib/x86_64-linux-gnu/libclang*.so* >/dev/null 2>&1
}

if command -v clang >/dev/null 2>&1 && have_libclang; then
  exit 0
fi

packages="clang libclang-dev"
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "setup: installing $packages (needed to build RocksDB's bindings)…"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $packages >/dev/null
  echo "setup: done"
else
  echo "setup: RocksDB's bindings need clang and libclang. Run:" >&2
  echo "    sudo apt-get update && sudo apt-get install -y $packages" >&2
  exit 1
fi
