#!/usr/bin/env python3
"""Instruction mix of the innermost loops of an aarch64 binary's kernel functions.

Usage: arm64-instruction-mix.py DISASSEMBLY.s [FUNCTION-FILTER ...]
DISASSEMBLY.s: `aarch64-linux-gnu-objdump -d --no-show-raw-insn` output. Symbols are demangled with
swift-demangle (if found). An innermost loop is the address range of a backward branch that holds
no other backward branch. Per loop: instructions, and how many are NEON vector (v-register) ops,
int8/int16 dot-product and widening multiplies, float multiply-adds, and scalar arithmetic.
"""
import collections, re, shutil, subprocess, sys

INT_DOT = {"sdot", "udot", "usdot", "sudot"}
WIDEN_MUL = {"smull", "smull2", "umull", "umull2", "smlal", "smlal2", "umlal", "umlal2", "smlsl", "smlsl2"}
PAIRWISE = {"addp", "saddlp", "sadalp", "uaddlp", "uadalp"}
FMA = {"fmla", "fmls", "fmadd", "fmsub", "fnmadd", "fnmsub"}
FP = {"fadd", "fsub", "fmul", "fdiv", "fmax", "fmin", "fmaxnm", "fminnm", "fcmgt", "fcmge", "fcmeq", "fcmp", "fcsel",
      "scvtf", "ucvtf", "fcvtzs", "fcvtns", "frintn"}
LOADSTORE = re.compile(r"^(ld|st)")


def demangle(names):
    tool = shutil.which("swift-demangle")
    if not tool or not names:
        return {n: n for n in names}
    out = subprocess.run([tool, "--simplified", "--compact"], input="\n".join(names), capture_output=True, text=True).stdout
    lines = out.splitlines()
    return dict(zip(names, lines)) if len(lines) == len(names) else {n: n for n in names}


def parse(path):
    functions = collections.OrderedDict()
    current = None
    for line in open(path):
        m = re.match(r"^([0-9a-f]+) <(.+)>:$", line)
        if m:
            current = m.group(2)
            functions[current] = []
            continue
        m = re.match(r"^\s+([0-9a-f]+):\s+(\S+)\s*(.*)$", line)
        if m and current:
            functions[current].append((int(m.group(1), 16), m.group(2), m.group(3)))
    return functions


def classify(insns):
    c = collections.Counter()
    for _, op, args in insns:
        c["total"] += 1
        vector = bool(re.search(r"\bv\d+\.", args)) or (op.startswith(("ld1", "st1", "ld2", "st2")) and "v" in args)
        if vector:
            c["neon"] += 1
        if op in INT_DOT:
            c["sdot/udot"] += 1
        elif op in WIDEN_MUL:
            c["smull/smlal"] += 1
        elif op in PAIRWISE:
            c["addp"] += 1
        elif op in ("mul", "mla") and vector:
            c["vector mul"] += 1
        elif op in FMA:
            c["fmla" if vector else "scalar fmadd"] += 1
        elif op in FP:
            c["vector fp" if vector else "scalar fp"] += 1
        elif op in ("mul", "madd", "msub", "smull", "umulh", "smulh", "sdiv", "udiv") and not vector:
            c["scalar mul/div"] += 1
        if LOADSTORE.match(op):
            c["ld/st"] += 1
    return c


def innermost_loops(insns):
    addresses = [a for a, _, _ in insns]
    loops = []
    for i, (address, op, args) in enumerate(insns):
        if not (op.startswith("b.") or op in ("b", "cbz", "cbnz", "tbz", "tbnz")):
            continue
        m = re.search(r"\b([0-9a-f]+) <", args)
        if not m:
            continue
        target = int(m.group(1), 16)
        if addresses[0] <= target <= address:
            loops.append((target, address))
    inner = [l for l in loops if not any(o != l and l[0] <= o[0] and o[1] <= l[1] for o in loops)]
    return [[x for x in insns if lo <= x[0] <= hi] for lo, hi in sorted(set(inner))]


def main():
    path, filters = sys.argv[1], sys.argv[2:]
    functions = parse(path)
    names = demangle(list(functions))
    keys = ["total", "neon", "sdot/udot", "smull/smlal", "addp", "vector mul", "fmla", "vector fp", "scalar fp",
            "scalar fmadd", "scalar mul/div", "ld/st"]
    for raw, insns in functions.items():
        name = names.get(raw, raw)
        if filters and not any(f in name for f in filters):
            continue
        loops = innermost_loops(insns)
        whole = classify(insns)
        print(f"{name}  [{len(insns)} instructions, {whole['sdot/udot']} sdot/udot, {whole['smull/smlal']} smull/smlal, "
              f"{whole['fmla']} fmla]")
        for loop in loops:
            c = classify(loop)
            mix = ", ".join(f"{k} {c[k]}" for k in keys[1:] if c[k])
            print(f"    loop {loop[0][0]:x}: {c['total']} insns: {mix}")


if __name__ == "__main__":
    main()
