#!/usr/bin/env bash
# usage: run.sh BUILD_DIR CONSUMER_SOURCE WORK_DIR — installs BUILD_DIR into WORK_DIR/prefix and
# builds the consumer with CMake (find_package) and with pkg-config; both binaries must run.
set -euo pipefail
build=$1 src=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" >/dev/null

echo "-- find_package(gcwalk)"
cmake -S "$src" -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/cmake-build" >/dev/null
"$work/cmake-build/consumer"

echo "-- pkg-config gcwalk"
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
c++ -std=c++20 "$src/main.cpp" -o "$work/consumer-pc" $(pkg-config --cflags --libs gcwalk)
"$work/consumer-pc"

test -x "$prefix/bin/gcwalk-dump" || { echo "gcwalk-dump is not installed"; exit 1; }
"$prefix/bin/gcwalk-dump" --help >/dev/null
echo "install consumer: ok"
