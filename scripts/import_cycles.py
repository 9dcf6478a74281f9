#!/usr/bin/env python3
"""Lists import cycles between the files of each crate (a `use crate::…` or `super::…` path
that reaches another file, including through lib.rs re-exports). ARCHITECTURE.md promises none.
Usage: python3 scripts/import_cycles.py   (exit 1 when a cycle exists)"""
import pathlib, re, sys

root = pathlib.Path(__file__).resolve().parent.parent
bad = False
for lib in sorted(list(root.glob("crates/*/src/lib.rs")) + list(root.glob("services/*/src/lib.rs")) + list(root.glob("services/*/src/main.rs"))):
    src = lib.parent
    files = {}
    for f in src.rglob("*.rs"):
        rel = f.relative_to(src).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "mod":
            parts = parts[:-1]
        if parts in (["lib"], ["main"]):
            parts = []
        files[tuple(parts)] = f
    def resolve(mod, path):
        # longest prefix of path that is a file
        best = ()
        for i in range(len(path) + 1):
            if tuple(path[:i]) in files:
                best = tuple(path[:i])
        return best
    edges = {k: set() for k in files}
    for mod, f in files.items():
        text = f.read_text()
        # strip test modules: their imports are not the file's
        text = re.split(r"#\[cfg\(test\)\]\s*mod tests", text)[0]
        for m in re.finditer(r"\buse\s+((?:crate|super|self|\w+)(?:::\w+)*)(?:::\{([^;]*)\})?", text, re.S):
            head = m.group(1).split("::")
            if head[0] not in ("crate", "super", "self"):
                # a path relative to this module: one of its own children, or an external crate
                if tuple(list(mod) + head[:1]) not in files:
                    continue
                head = ["self"] + head
            if head[0] == "self":
                base = list(mod) + head[1:]
            elif head[0] == "crate":
                base = head[1:]
            else:
                base = list(mod[:-1]) if mod else []
                h = head[1:]
                while h and h[0] == "super":
                    base = base[:-1]; h = h[1:]
                base = base + h
            targets = [base]
            if m.group(2):
                targets = [base + [t.strip().split("::")[0]] for t in m.group(2).split(",") if t.strip() and t.strip() != "self"]
            for t in targets:
                r = resolve(mod, t)
                if r != mod and not (len(r) < len(mod) and mod[:len(r)] == r and r != ()):
                    edges[mod].add(r)
    # cycles of length 2+ via DFS
    seen_cycles = set()
    def dfs(node, stack):
        global bad
        for n in edges.get(node, ()):
            if n in stack:
                cyc = stack[stack.index(n):]
                key = frozenset(cyc)
                if key not in seen_cycles:
                    seen_cycles.add(key)
                    names = [("/".join(c) or lib.name) for c in cyc]
                    print(f"{src.parent.relative_to(root)}: {' -> '.join(names)} -> {names[0]}")
                    bad = True
            elif len(stack) < 12:
                dfs(n, stack + [n])
    for k in files:
        dfs(k, [k])
sys.exit(1 if bad else 0)
