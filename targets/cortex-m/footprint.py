#!/usr/bin/env python3
"""Flash and RAM of a Ferrite firmware ELF, split by what they hold.

    python3 targets/cortex-m/footprint.py ELF [--log RUN.txt] [--markdown] [--require FLASH,RAM]

Flash is .vector_table + .text + .rodata + .data (its initial image); RAM is .data + .bss +
.uninit + the stack's high-water mark, read from the firmware's own output (`--log`: the lines
"stack high-water mark, ...: N bytes"; the largest counts). Flash is split by symbol:

  model      the embedded artifacts (KWS, INTENT)
  frontend   the audio frontend: ferrite_runtime::preprocess::audio, microfft, libm, and its
             tables (window, mel edges, DCT) computed at build time (FRONTEND_TABLES)
  runtime    everything else of Ferrite's: the runtime, core and compiler builtins, constants
             without a symbol (strings, tables), and the firmware's own functions, into which
             link-time optimisation inlines the runtime's load, prepare and run code
  harness    the demo's board support, not Ferrite's: the vector table, cortex-m-rt,
             cortex-m(-semihosting) and the semihosting panic handler
  test data  the baked-in PCM clips (CLIP_k)

"Ferrite" is flash minus harness and test data: runtime + frontend + model, what a product
firmware would carry. Only the standard library of Python is used (the ELF is parsed here).
"""

import argparse
import re
import struct
import sys


def sections_and_symbols(path):
    data = open(path, "rb").read()
    if data[:4] != b"\x7fELF" or data[4] != 1 or data[5] != 1:
        sys.exit(f"{path}: not a 32-bit little-endian ELF")
    shoff, = struct.unpack_from("<I", data, 0x20)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x2E)
    heads = [struct.unpack_from("<IIIIIIIIII", data, shoff + i * shentsize) for i in range(shnum)]
    strtab = heads[shstrndx]
    name_of = lambda off, tab: data[tab[4] + off:data.index(b"\0", tab[4] + off)].decode("latin-1")
    sections = [(name_of(h[0], strtab), h) for h in heads]
    symbols = []
    for name, h in sections:
        if h[1] != 2:  # SHT_SYMTAB
            continue
        names = heads[h[6]]  # sh_link: its string table
        for off in range(h[4], h[4] + h[5], 16):
            st_name, value, size, info, _, shndx = struct.unpack_from("<IIIBBH", data, off)
            if size and 0 < shndx < len(sections):
                symbols.append((name_of(st_name, names), value, size, sections[shndx][0]))
    return {name: h[5] for name, h in sections}, symbols


FLASH = [".vector_table", ".text", ".rodata", ".data"]
RAM = [".data", ".bss", ".uninit"]


def kind_of(sym):
    if re.search(r"ferrite_firmware.*(KWS|INTENT)", sym) and "CLIP" not in sym:
        return "model"
    if re.search(r"CLIP_\d", sym):
        return "test data"
    if ("preprocess" in sym and "audio" in sym) or "microfft" in sym or "libm" in sym or "FRONTEND_TABLES" in sym:
        return "frontend"
    if re.search(r"cortex_m|panic_semihosting|__INTERRUPTS|__EXCEPTIONS|__RESET_VECTOR", sym) or sym in (
        "Reset", "HardFault", "HardFault_", "DefaultHandler", "DefaultHandler_", "DefaultPreInit", "__pre_init",
    ):
        return "harness"
    return "runtime"


def footprint(elf, log):
    sizes, symbols = sections_and_symbols(elf)
    flash = {k: 0 for k in ["model", "frontend", "runtime", "harness", "test data"]}
    for name, _, size, sec in symbols:
        if sec in FLASH:
            flash[kind_of(name)] += size
    total = sum(sizes.get(s, 0) for s in FLASH)
    # Bytes no symbol claims (literals, padding) are Ferrite's runtime; the vector table is harness.
    flash["harness"] += sizes.get(".vector_table", 0) - sum(
        s for _, _, s, sec in symbols if sec == ".vector_table")
    flash["runtime"] += total - sum(flash.values())
    bss = {"arena": 0, "op and region tables": 0, "frontend scratch": 0, "other": 0}
    for name, _, size, sec in symbols:
        if sec in (".bss", ".uninit", ".data"):
            key = ("arena" if "ARENA" in name else "op and region tables" if re.search(r"OPS|REGIONS", name)
                   else "frontend scratch" if "SCRATCH" in name else "other")
            bss[key] += size
    statics = sum(sizes.get(s, 0) for s in RAM)
    bss["other"] += statics - sum(bss.values())
    stack = None
    if log:
        peaks = [int(m) for m in re.findall(r"stack high-water mark[^:]*: (\d+) bytes", open(log).read())]
        stack = max(peaks) if peaks else None
    return total, flash, statics, bss, stack


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("elf")
    ap.add_argument("--log", help="the firmware's output (for the stack high-water mark)")
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table row set")
    ap.add_argument("--require", help="FLASH,RAM: fail unless Ferrite's flash and the RAM are at most these bytes")
    a = ap.parse_args()
    total, flash, statics, bss, stack = footprint(a.elf, a.log)
    ferrite = flash["runtime"] + flash["frontend"] + flash["model"]
    ram = statics + (stack or 0)
    if a.markdown:
        print("| part | bytes |\n|---|---:|")
        for k in ["runtime", "frontend", "model"]:
            print(f"| flash: {k} | {flash[k]:,} |")
        print(f"| **flash: Ferrite (runtime + frontend + model)** | **{ferrite:,}** |")
        print(f"| flash: demo harness, test clips | {flash['harness']:,}, {flash['test data']:,} |")
        for k, v in bss.items():
            print(f"| RAM: {k} | {v:,} |")
        print(f"| RAM: stack high-water mark | {stack:,} |" if stack is not None else "| RAM: stack | not measured |")
        print(f"| **RAM: .data + .bss + stack** | **{ram:,}** |")
    else:
        print(f"{a.elf}")
        print(f"  flash {total:,} bytes: " + ", ".join(f"{k} {v:,}" for k, v in flash.items()))
        print(f"  flash, Ferrite (runtime + frontend + model): {ferrite:,} bytes ({ferrite / 1000:.1f} kB)")
        print(f"  RAM statics {statics:,} bytes: " + ", ".join(f"{k} {v:,}" for k, v in bss.items()))
        print(f"  RAM, .data + .bss + stack high-water mark: {ram:,} bytes ({ram / 1000:.1f} kB)"
              + ("" if stack is not None else " (stack not measured: pass --log)"))
    if a.require:
        fmax, rmax = (int(x) for x in a.require.split(","))
        if stack is None:
            sys.exit("--require needs --log (the stack high-water mark)")
        if ferrite > fmax or ram > rmax:
            sys.exit(f"footprint over budget: flash {ferrite:,} (max {fmax:,}), RAM {ram:,} (max {rmax:,})")
        print(f"  within budget: flash {ferrite:,} <= {fmax:,}, RAM {ram:,} <= {rmax:,}")


if __name__ == "__main__":
    main()
