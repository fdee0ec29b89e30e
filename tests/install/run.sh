#!/usr/bin/env bash
# usage: run.sh BUILD_DIR CONSUMER_SOURCE WORK_DIR OPT LLC — installs BUILD_DIR into
# WORK_DIR/prefix, builds the consumer with CMake (find_package) and with pkg-config, and links a
# managed program against the installed runtime (gcwalk-runtime.pc); every binary must run, the
# managed one without LD_LIBRARY_PATH, as PIE and as -no-pie, and as an lld PIE whose stack maps
# gcwalk_unallocated_stackmaps made non-allocated (built by the CMake project in ../unallocated),
# and that PIE packed by the installed gcwalk-pack (gcwalk_pack ... STRIP_STACKMAPS).
set -euo pipefail
build=$1 src=$2 work=$3 opt=$4 llc=$5
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

echo "-- a managed program against pkg-config gcwalk-runtime"
"$opt" -passes=rewrite-statepoints-for-gc "$src/managed.ll" -S -o "$work/managed.opt.ll"
"$llc" -O2 -relocation-model=pic -filetype=obj "$work/managed.opt.ll" -o "$work/managed.o"
cc -c $(pkg-config --cflags gcwalk-runtime) "$src/managed_main.c" -o "$work/managed_main.o"
for pie in -pie -no-pie; do
  cc $pie "$work/managed_main.o" "$work/managed.o" -o "$work/managed$pie" \
     $(pkg-config --libs gcwalk-runtime) 2>"$work/link$pie.log" || { cat "$work/link$pie.log"; exit 1; }
  env -u LD_LIBRARY_PATH GCWALK_STRESS=1 "$work/managed$pie"
done

echo "-- gcwalk_unallocated_stackmaps: the managed program as an lld PIE, stack maps not allocated"
cmake -S "$src/../unallocated" -B "$work/unallocated-build" -DCMAKE_PREFIX_PATH="$prefix" \
      -DMANAGED_MAIN="$src/managed_main.c" -DMANAGED_OBJ="$work/managed.o" >/dev/null
cmake --build "$work/unallocated-build" --verbose >"$work/unallocated-build.log"
# gcwalk_pack ran the installed tool (gcwalk::pack of the package).
grep -q "$prefix/bin/gcwalk-pack --quiet --strip-stackmaps" "$work/unallocated-build.log" ||
  { echo "gcwalk_pack did not run $prefix/bin/gcwalk-pack"; cat "$work/unallocated-build.log"; exit 1; }
exe=$work/unallocated-build/managed_unallocated
if readelf -dW "$exe" | grep -q TEXTREL; then echo "$exe has DT_TEXTREL"; exit 1; fi
readelf -SW "$exe" | grep -q '\.llvm_stackmaps .* 00  *0  *0  *8$' ||
  { echo "$exe: .llvm_stackmaps is missing or allocated"; readelf -SW "$exe"; exit 1; }
env -u LD_LIBRARY_PATH GCWALK_STRESS=1 "$exe"

echo "-- gcwalk_pack: the same PIE packed by the installed gcwalk-pack, .llvm_stackmaps stripped"
exe=$work/unallocated-build/managed_packed
if readelf -dW "$exe" | grep -q TEXTREL; then echo "$exe has DT_TEXTREL"; exit 1; fi
if readelf -SW "$exe" | grep -q '\.llvm_stackmaps'; then echo "$exe still has .llvm_stackmaps"; exit 1; fi
readelf -SW "$exe" | grep -q '\.gcwalk_frames .* 00  *0  *0  *1$' ||
  { echo "$exe: .gcwalk_frames is missing or allocated"; readelf -SW "$exe"; exit 1; }
env -u LD_LIBRARY_PATH GCWALK_STRESS=1 "$exe" 2>"$work/packed.err" || { cat "$work/packed.err"; exit 1; }
grep -q "managed_packed: indexed from .gcwalk_frames (" "$work/packed.err" ||
  { echo "$exe was not indexed from .gcwalk_frames:"; cat "$work/packed.err"; exit 1; }

for tool in gcwalk-dump gcwalk-pack; do
  test -x "$prefix/bin/$tool" || { echo "$tool is not installed"; exit 1; }
  "$prefix/bin/$tool" --help >/dev/null
done
echo "install consumer: ok"
