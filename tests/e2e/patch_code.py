#!/usr/bin/env python3
"""patch_code.py IN OUT: OUT is IN with one byte of code changed, the last int3 (0xcc) padding
byte between functions in .text made 0xcd: code that never runs differs, so a table packed for IN
no longer matches OUT's code hash (same build ID, same code ranges)."""
import struct
import sys

data = bytearray(open(sys.argv[1], "rb").read())
shoff, = struct.unpack_from("<Q", data, 0x28)
shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)


def section(i):
    name, _type, _flags, _addr, offset, size = struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize)
    return name, offset, size


names_offset = section(shstrndx)[1]
for i in range(shnum):
    name, offset, size = section(i)
    if data[names_offset + name:names_offset + name + 6] == b".text\0":
        at = data.rfind(b"\xcc", offset, offset + size)
        if at < 0:
            sys.exit("patch_code.py: no int3 padding in .text of " + sys.argv[1])
        data[at] = 0xCD
        open(sys.argv[2], "wb").write(data)
        sys.exit(0)
sys.exit("patch_code.py: no .text in " + sys.argv[1])
