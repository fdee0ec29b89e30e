#!/bin/sh
# Checks that an image was linked without text relocations (no DT_TEXTREL) and that its
# .llvm_stackmaps is not allocated (not loaded: the runtime reads it from the file), then runs
# the command. With --packed, the image must instead have no .llvm_stackmaps and a non-allocated
# .gcwalk_frames (gcwalk-pack --strip-stackmaps), and the command's standard error must hold the
# runtime's line saying it indexed the image from the table.
#   no_textrel.sh [--packed] <image> <command> [args...]
packed=
if [ "$1" = --packed ]; then
  packed=1
  shift
fi
img=$1
shift
if readelf -dW "$img" | grep -q TEXTREL; then
  echo "no_textrel.sh: $img has DT_TEXTREL" >&2
  exit 1
fi
# The section's readelf line after its name: type, address, offset, size, entry size, [flags,]
# link, info, alignment.
flags_of() {
  line=$(readelf -SW "$img" | sed -n "s/.*\] $1[[:space:]]*//p")
  [ -n "$line" ] || return 1
  echo "$line" | awk 'NF == 9 { print $6 }'
}
if [ -z "$packed" ]; then
  section=.llvm_stackmaps
else
  section=.gcwalk_frames
  if flags_of '\.llvm_stackmaps' >/dev/null; then
    echo "no_textrel.sh: $img still has .llvm_stackmaps" >&2
    exit 1
  fi
fi
if ! flags=$(flags_of "\\$section"); then
  echo "no_textrel.sh: $img has no $section" >&2
  exit 1
fi
case $flags in *A*)
  echo "no_textrel.sh: $section of $img is allocated (flags $flags)" >&2
  exit 1 ;;
esac
echo "no_textrel.sh: $img: no DT_TEXTREL, $section not allocated"
[ -z "$packed" ] && exec "$@"
name=$(basename "$img" | sed 's/[.]/[.]/g')
exec sh "$(dirname "$0")/expect.sh" ok \
  "^gcwalk-rt: [^ ]*$name: indexed from [.]gcwalk_frames [(][1-9][0-9]* call sites[)]$" "$@"
