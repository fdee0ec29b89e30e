#!/usr/bin/env python3
"""Writes a copy of an ELF64 little-endian file whose .llvm_stackmaps is SHF_COMPRESSED (zlib,
with an Elf64_Chdr), as no LLVM 14 or binutils tool does for a non-debug section:
llvm-objcopy --update-section puts the compressed bytes in, then the section's sh_flags get
SHF_COMPRESSED. usage: make_compressed.py OBJCOPY IN OUT"""
import struct
import subprocess
import sys
import zlib

SHF_COMPRESSED = 0x800
ELFCOMPRESS_ZLIB = 1


def sections(data):
    e_shoff, = struct.unpack_from("<Q", data, 0x28)
    e_shentsize, e_shnum, e_shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    hdrs = [struct.unpack_from("<IIQQQQIIQQ", data, e_shoff + i * e_shentsize) for i in range(e_shnum)]
    strtab_off = hdrs[e_shstrndx][4]
    for i, h in enumerate(hdrs):
        name_end = data.index(b"\0", strtab_off + h[0])
        yield i, data[strtab_off + h[0]:name_end].decode(), h, e_shoff + i * e_shentsize


def find(data, name):
    for s in sections(data):
        if s[1] == name:
            return s
    raise SystemExit(f"no section {name}")


def main():
    objcopy, src, dst = sys.argv[1:4]
    data = open(src, "rb").read()
    _, _, h, _ = find(data, ".llvm_stackmaps")
    contents = data[h[4]:h[4] + h[5]]
    # Elf64_Chdr: ch_type, ch_reserved, ch_size, ch_addralign; then the zlib stream.
    packed = struct.pack("<IIQQ", ELFCOMPRESS_ZLIB, 0, len(contents), 8) + zlib.compress(contents, 9)
    tmp = dst + ".section"
    open(tmp, "wb").write(packed)
    subprocess.run([objcopy, "--remove-section=.rela.llvm_stackmaps",
                    f"--update-section=.llvm_stackmaps={tmp}", src, dst], check=True)
    out = bytearray(open(dst, "rb").read())
    _, _, h, at = find(out, ".llvm_stackmaps")
    struct.pack_into("<Q", out, at + 8, h[2] | SHF_COMPRESSED)
    open(dst, "wb").write(out)


if __name__ == "__main__":
    main()
