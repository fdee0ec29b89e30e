#!/bin/sh
# Checks that an image was linked without text relocations (no DT_TEXTREL) and that its
# .llvm_stackmaps is not allocated (not loaded: the runtime reads it from the file), then runs
# the command.
#   no_textrel.sh <image> <command> [args...]
img=$1
shift
if readelf -dW "$img" | grep -q TEXTREL; then
  echo "no_textrel.sh: $img has DT_TEXTREL" >&2
  exit 1
fi
line=$(readelf -SW "$img" | sed -n 's/.*\] \.llvm_stackmaps[[:space:]]*//p')
if [ -z "$line" ]; then
  echo "no_textrel.sh: $img has no .llvm_stackmaps" >&2
  exit 1
fi
# Type, address, offset, size, entry size, [flags,] link, info, alignment.
flags=$(echo "$line" | awk 'NF == 9 { print $6 }')
case $flags in *A*)
  echo "no_textrel.sh: .llvm_stackmaps of $img is allocated (flags $flags)" >&2
  exit 1 ;;
esac
echo "no_textrel.sh: $img: no DT_TEXTREL, .llvm_stackmaps not allocated"
exec "$@"
