#!/usr/bin/env python3
"""Renders `gcwalk-dump --format=json --view=raw` output as the `--format=llvm` text, from the
JSON values alone: a test compares it byte for byte with gcwalk-dump's own text, which checks
every JSON value against the raw view. Reads JSON on stdin, writes text on stdout."""
import json
import sys


def location(blob, loc):
    kind, reg = loc["kind"], loc["dwarf_reg"]
    if kind == "Register":
        s = f"Register R#{reg}"
    elif kind == "Direct":
        s = f"Direct R#{reg} + {loc['offset']}"
    elif kind == "Indirect":
        s = f"Indirect [R#{reg} + {loc['offset']}]"
    elif kind == "Constant":
        # llvm-readobj prints the 32-bit field unsigned; JSON holds the sign-extended value.
        s = f"Constant {loc['value'] & 0xFFFFFFFF}"
    elif kind == "ConstantIndex":
        assert blob["constants"][loc["index"]] == loc["value"]
        s = f"ConstantIndex #{loc['index']} ({loc['value']})"
    else:
        raise ValueError(f"unknown location kind {kind}")
    return f"{s}, size: {loc['size']}"


def main():
    files = json.load(sys.stdin)
    out = []
    for f in files:
        out.append("")
        out.append(f"File: {f['file']}")
        sec = f["section"]
        if not sec["present"]:
            out.append("Section: none")
            continue
        comp = f" (compressed: {sec['size_in_file']})" if sec["compressed"] else ""
        out.append(f"Section: .llvm_stackmaps, file offset: {hex(sec['file_offset'])}, "
                   f"address: {hex(sec['address'])}, size: {sec['size']}{comp}, "
                   f"blobs: {len(f['blobs'])}")
        for b in f["blobs"]:
            out.append(f"Blob #{b['index']}: section offset: {hex(b['section_offset'])}, size: {b['size']}")
            out.append(f"LLVM StackMap Version: {b['version']}")
            out.append(f"Num Functions: {len(b['functions'])}")
            for fn in b["functions"]:
                out.append(f"  Function address: {fn['address']}, stack size: {fn['stack_size']}, "
                           f"callsite record count: {fn['record_count']}")
            out.append(f"Num Constants: {len(b['constants'])}")
            for i, c in enumerate(b["constants"]):
                out.append(f"  #{i + 1}: {c}")
            out.append(f"Num Records: {len(b['records'])}")
            for r in b["records"]:
                out.append(f"  Record ID: {r['id']}, instruction offset: {r['instruction_offset']}")
                out.append(f"    {len(r['locations'])} locations:")
                for i, loc in enumerate(r["locations"]):
                    out.append(f"      #{i + 1}: {location(b, loc)}")
                lo = "".join(f"R#{x['dwarf_reg']} ({x['size']}-bytes) " for x in r["live_outs"])
                out.append(f"    {len(r['live_outs'])} live-outs: [ {lo}]")
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
