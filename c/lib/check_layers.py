#!/usr/bin/env python3
"""check-layers: the library's object files must call each other only
downward.  The layers are read from the comment in c/lib/internal.h
("Prototypes by file, in layer order"); the calls from `nm` of each
object (a U symbol of one object defined as T/D/B/R in another).  Fails
on a call to a higher layer, on a cycle, and on an object no layer names.
Usage: check_layers.py INTERNAL_H OBJ..."""
import collections
import os
import re
import subprocess
import sys


def layers_from(header):
    text = open(header).read()
    block = text[text.index("in layer order"):]
    block = block[:block.index("*/")]
    layer, out = None, {}
    for line in block.splitlines():
        m = re.match(r"^ \*\s+(\d+)\s+(.*)$", line)
        if m:
            layer, rest = int(m.group(1)), m.group(2)
        elif layer is not None and re.match(r"^ \*\s{4,}\S", line):
            rest = line[2:].strip()
        else:
            continue
        for name in re.findall(r"([a-z_]+)\.c\b", rest.split("  ")[0]):
            out[name] = layer
    return out


def main(argv):
    layers = layers_from(argv[1])
    top = max(layers.values()) + 1
    layers.setdefault("api", top)       # generated wrappers: the top layer
    defs, uses = {}, collections.defaultdict(set)
    for obj in argv[2:]:
        name = os.path.basename(obj)[:-2]
        out = subprocess.run(["nm", obj], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            f = line.split()
            if len(f) == 3 and f[1] in "TDBRC":
                defs[f[2]] = name
            elif len(f) == 2 and f[0] == "U":
                uses[name].add(f[1])
    errors = []
    graph = collections.defaultdict(set)
    for obj in sorted(set(defs.values()) | set(uses)):
        if obj not in layers:
            errors.append(f"{obj}.o: not in any layer of {argv[1]}")
    for src in sorted(uses):
        for sym in sorted(uses[src]):
            dst = defs.get(sym)
            if dst is None or dst == src:
                continue
            graph[src].add(dst)
            if layers.get(dst, -1) > layers.get(src, top):
                errors.append(f"{src}.c (layer {layers.get(src)}) calls {sym} in {dst}.c (layer {layers.get(dst)})")
    # Cycles (also within one layer).
    state = {}
    def visit(n, path):
        state[n] = 1
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                errors.append("cycle: " + " -> ".join(path[path.index(m):] + [m]))
            elif m not in state:
                visit(m, path + [m])
        state[n] = 2
    for n in sorted(graph):
        if n not in state:
            visit(n, [n])
    if errors:
        print("check-layers: FAILED", *errors, sep="\n  ")
        return 1
    edges = sum(len(v) for v in graph.values())
    print(f"check-layers: {len(layers)} files in {top + 1} layers, {edges} calls between files, all downward, no cycle")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
