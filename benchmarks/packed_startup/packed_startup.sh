#!/usr/bin/env bash
# Start-up from .gcwalk_frames against .llvm_stackmaps on real llc output: FUNCTIONS managed
# functions of 16 statepoints each (two GC roots live), compiled by opt/llc, linked into a probe
# with the core of BUILD_DIR, packed by the probe itself and added with objcopy; then the first
# ImageRegistry::rescan() of the packed probe with GCWALK_FRAME_TABLE=0 and =1, RUNS times each,
# alternating. Figures: docs/PERFORMANCE.md.
#   benchmarks/packed_startup/packed_startup.sh BUILD_DIR [FUNCTIONS=4096] [RUNS=5] [LLVM=22]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$1" && pwd)
functions=${2:-4096}
runs=${3:-5}
llvm=${4:-22}
work=$build/packed_startup
mkdir -p "$work"
cd "$work"
python3 - "$functions" > managed.ll <<'PY'
import sys
n = int(sys.argv[1])
print('declare void @callee()')
for f in range(n):
    print(f'define i64 @f{f}(i8 addrspace(1)* %a, i8 addrspace(1)* %b) uwtable gc "statepoint-example" {{')
    print('entry:')
    for c in range(16):
        print('  call void @callee()')
        print(f'  %p{c} = bitcast i8 addrspace(1)* %{"ab"[c % 2]} to i64 addrspace(1)*')
        print(f'  %v{c} = load i64, i64 addrspace(1)* %p{c}')
    acc = '%v0'
    for c in range(1, 16):
        print(f'  %s{c} = add i64 {acc}, %v{c}')
        acc = f'%s{c}'
    print(f'  ret i64 {acc}\n}}')
PY
opt-$llvm -passes=rewrite-statepoints-for-gc -S managed.ll -o managed.rs.ll
llc-$llvm -O2 -relocation-model=pic -filetype=obj managed.rs.ll -o managed.o
# Non-allocated stack maps: no text relocations, the addresses resolved by the linker.
objcopy --set-section-flags .llvm_stackmaps=contents,readonly managed.o managed.noalloc.o
g++ -std=c++20 -O2 -fPIE -pie -I"$here/../../include" "$here/startup_probe.cpp" \
  "$here/../../tests/src/pack_self.cpp" managed.noalloc.o "$build/src/discovery/libgcwalk-discovery.a" \
  "$build/src/index/libgcwalk-index.a" "$build/src/formats/libgcwalk-formats.a" -lz -o probe
./probe --pack frames.bin
objcopy --add-section .gcwalk_frames=frames.bin probe probe_packed
for i in $(seq "$runs"); do
  printf 'v3:     '; GCWALK_FRAME_TABLE=0 ./probe_packed | head -n 1
  printf 'packed: '; ./probe_packed | head -n 1
done
