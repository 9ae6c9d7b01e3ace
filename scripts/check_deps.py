#!/usr/bin/env python3
"""check_deps -- no two modules may use each other (issue 15).

A *module* is a name.c and the name.h beside it in the same folder (STYLE 2:
"a module is name.h + name.c"); a header without a .c (cmd.h) or a .c
without a header (main.c) is a module on its own. A module split into
several files keeps its parts beside it: name_int.h (what the parts share,
private to the folder) marks the split, and every name_PART.c without a
name_PART.h of its own is a part of name (src/config/config_yaml.c is part
of src/config/config). Modules are named by their path without the
extension: src/headend/scheduler.

Module A *uses* module B when
  - a file of A includes B's header ("B.h", found in any folder of the tree), or
  - A's object file needs a symbol (nm: undefined) that only B's object
    defines (nm: global T/D/B/R), i.e. A calls a function of B or reads
    its data without including its header.

The check fails, printing each cycle (A -> B -> ... -> A) with the file and
the reason for each step, when the use graph has one; uses listed in
ALLOWED (an edge and why it is tolerated for now) are left out of the graph.
It also fails when a file includes another folder's private header
(name_int.h: the furniture of one folder, e.g. src/config/config_int.h).

Usage: check_deps.py [--src DIR] [--build DIR] [--graph] [--self-test]
  --src    the source tree (default: this script's parent folder)
  --build  a CMake build tree with the object files (default: SRC/build);
           without one only includes are checked
  --graph  print every use (A -> B, why) and exit 0
  --self-test  first build a small tree with one circle by include and one
           by call (and a clean one) and make sure the check sees exactly those
"""
import argparse
import os
import re
import subprocess
import sys
from collections import defaultdict

# Uses tolerated for now, each with why; the coordinator drops an entry when
# the work named in it lands. An entry is (user, used).
ALLOWED = {
}

TREE_DIRS = ("src", "sim")
INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def module_of(rel, split=()):
    """The module of a file; split holds the modules that have a name_int.h."""
    stem = os.path.splitext(rel)[0]
    if stem.endswith("_int") and stem[:-4] in split:
        return stem[:-4]
    for m in split:
        if stem.startswith(m + "_") and os.sep not in stem[len(m) + 1:]:
            return m
    return stem


def scan_sources(src):
    """{module: [rel file, ...]} and {header basename: module}."""
    rels = []
    for top in TREE_DIRS:
        for root, _dirs, names in os.walk(os.path.join(src, top)):
            rels += [os.path.relpath(os.path.join(root, n), src) for n in sorted(names)
                     if n.endswith((".c", ".h"))]
    stems = {os.path.splitext(r)[0] for r in rels}
    split = {s[:-4] for s in stems if s.endswith("_int")}
    # name_PART.c with its own name_PART.h is a module of its own
    owned = {s for s in stems if s + ".h" in rels and s + ".c" in rels}

    def mod(rel):
        m = module_of(rel, split)
        stem = os.path.splitext(rel)[0]
        return stem if stem in owned and not stem.endswith("_int") else m

    files = defaultdict(list)
    headers = {}
    for rel in rels:
        m = mod(rel)
        files[m].append(rel)
        n = os.path.basename(rel)
        if n.endswith(".h"):
            if n in headers and headers[n] != m:
                sys.exit("check_deps: header name %s in two folders (%s, %s): "
                         "includes are by name" % (n, headers[n], rel))
            headers[n] = m
    return files, headers, mod


def include_uses(src, files, headers):
    """[(user, used, why)] and [private-header violations]."""
    uses, bad = [], []
    for mod, rels in files.items():
        for rel in rels:
            with open(os.path.join(src, rel), encoding="utf-8", errors="replace") as f:
                text = f.read()
            for inc in INCLUDE_RE.findall(text):
                base = os.path.basename(inc)
                used = headers.get(base)
                if used is None or used == mod:
                    continue
                if base.endswith("_int.h") and os.path.dirname(used) != os.path.dirname(mod):
                    bad.append("%s includes %s, the private header of %s/" %
                               (rel, inc, os.path.dirname(used)))
                uses.append((mod, used, "%s includes %s" % (rel, inc)))
    return uses, bad


def object_files(src, build, mod):
    """{module: object path} from CMake's CMakeFiles/<target>.dir/<rel>.c.o."""
    objs = {}
    cm = os.path.join(build, "CMakeFiles")
    if not os.path.isdir(cm):
        return objs
    for t in sorted(os.listdir(cm)):
        tdir = os.path.join(cm, t)
        if not t.endswith(".dir") or not os.path.isdir(tdir):
            continue
        for root, _dirs, names in os.walk(tdir):
            for n in names:
                if not n.endswith(".c.o"):
                    continue
                rel = os.path.relpath(os.path.join(root, n), tdir)[:-2]  # x.c
                if rel.split(os.sep)[0] in TREE_DIRS and os.path.exists(
                        os.path.join(src, rel)):
                    objs.setdefault(mod(rel), set()).add(os.path.join(root, n))
    return objs


def nm_symbols(path):
    """(defined globals, undefined) of one object file."""
    out = subprocess.run(["nm", "-P", path], capture_output=True, text=True,
                         check=True).stdout
    defined, undefined = set(), set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        name, kind = parts[0], parts[1]
        if kind == "U":
            undefined.add(name)
        elif kind in "TDBRCVW":
            defined.add(name)
    return defined, undefined


def symbol_uses(objs):
    owner = {}
    need = {}
    for mod, paths in objs.items():
        need[mod] = set()
        defined = set()
        for path in sorted(paths):
            d, u = nm_symbols(path)
            need[mod] |= u
            defined |= d
        need[mod] -= defined  # a split module's parts call each other
        for s in defined:
            owner.setdefault(s, set()).add(mod)
    uses = []
    for mod, u in need.items():
        for s in sorted(u):
            o = owner.get(s)
            if not o or len(o) != 1:
                continue
            used = next(iter(o))
            if used != mod:
                uses.append((mod, used, "%s calls %s()" % (mod, s)))
    return uses


def cycles(edges):
    """Strongly connected components of more than one module (Tarjan), each
    with one cycle through it."""
    graph = defaultdict(set)
    for a, b in edges:
        graph[a].add(b)
        graph.setdefault(b, set())
    index, low, stack, on, comps = {}, {}, [], set(), []
    counter = [0]

    def visit(v):  # iterative: the tree has a few hundred modules
        work = [(v, iter(sorted(graph[v])))]
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        while work:
            node, it = work[-1]
            child = next(it, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                if len(comp) > 1:
                    comps.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    out = []
    for comp in comps:
        members = set(comp)
        start = comp[0]
        # shortest way back to start inside the component (BFS)
        prev, frontier, seen = {}, [start], {start}
        found = None
        while frontier and not found:
            nxt = []
            for a in frontier:
                for b in sorted(graph[a]):
                    if b not in members:
                        continue
                    if b == start:
                        found = a
                        break
                    if b not in seen:
                        seen.add(b)
                        prev[b] = a
                        nxt.append(b)
                if found:
                    break
            frontier = nxt
        path = [start]
        node = found
        back = []
        while node != start:
            back.append(node)
            node = prev[node]
        path += reversed(back)
        path.append(start)
        out.append((comp, path))
    return out


def self_test():
    """The check must fail on a circle it is built to find: by include, by a
    call through a hand-written declaration, by a private header."""
    import shutil
    import tempfile
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    root = tempfile.mkdtemp(prefix="check_deps.")
    try:
        def tree(name, files):
            src = os.path.join(root, name)
            for rel, text in files.items():
                os.makedirs(os.path.join(src, os.path.dirname(rel)), exist_ok=True)
                with open(os.path.join(src, rel), "w") as f:
                    f.write(text)
            for rel in files:
                if rel.endswith(".c"):
                    obj = os.path.join(src, "build/CMakeFiles/t.dir", rel + ".o")
                    os.makedirs(os.path.dirname(obj), exist_ok=True)
                    subprocess.run([cc, "-c", "-w", "-I", os.path.join(src, "src/a"),
                                    "-I", os.path.join(src, "src/b"),
                                    os.path.join(src, rel), "-o", obj], check=True)
            r = subprocess.run([sys.executable, os.path.abspath(__file__), "--src", src],
                               capture_output=True, text=True)
            return r.returncode, r.stdout
        base = {"src/a/a.h": "int a_f(void);\n", "src/b/b.h": "int b_f(void);\n",
                "src/b/b.c": '#include "b.h"\nint b_f(void) { return 1; }\n'}
        clean = dict(base, **{"src/a/a.c": '#include "a.h"\n#include "b.h"\n'
                              "int a_f(void) { return b_f(); }\n"})
        by_inc = dict(clean, **{"src/b/b.c": '#include "b.h"\n#include "a.h"\n'
                                "int b_f(void) { return 1; }\n"})
        by_call = dict(clean, **{"src/b/b.c": '#include "b.h"\nint a_f(void);\n'
                                 "int b_f(void) { return a_f() * 0 + 1; }\n"})
        private = dict(clean, **{"src/a/a_int.h": "int a_g(void);\n",
                                 "src/b/b.c": '#include "b.h"\n#include "a_int.h"\n'
                                 "int b_f(void) { return 1; }\n"})
        checks = [("clean", clean, 0, None),
                  ("by include", by_inc, 1, "src/b/b.c includes a.h"),
                  ("by call", by_call, 1, "src/b/b calls a_f()"),
                  ("private header", private, 1, "the private header of src/a")]
        for name, files, want_rc, want_text in checks:
            rc, out = tree(name.replace(" ", "_"), files)
            if rc != want_rc or (want_text and want_text not in out):
                print("check_deps: self-test '%s' failed (exit %d):\n%s" % (name, rc, out))
                return 1
        print("check_deps: self-test passed (clean, by include, by call, private header)")
        return 0
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--src", default=here)
    ap.add_argument("--build", default=None)
    ap.add_argument("--graph", action="store_true")
    ap.add_argument("--self-test", action="store_true")
    a = ap.parse_args()
    if a.self_test and self_test():
        return 1
    build = a.build or os.path.join(a.src, "build")

    files, headers, mod = scan_sources(a.src)
    uses, private = include_uses(a.src, files, headers)
    objs = object_files(a.src, build, mod)
    uses += symbol_uses(objs)

    why = defaultdict(list)
    for u, v, w in uses:
        why[(u, v)].append(w)
    if a.graph:
        for (u, v) in sorted(why):
            print("%s -> %s  (%s)" % (u, v, why[(u, v)][0]))
        return 0

    edges = [e for e in why if e not in ALLOWED]
    stale = [e for e in ALLOWED if e not in why]
    found = cycles(edges)
    status = 0
    print("check_deps: %d modules, %d uses (%d from object files in %s), %d allowed"
          % (len(files), len(why), sum(len(p) for p in objs.values()),
             build if objs else "-",
             len(ALLOWED) - len(stale)))
    for e in stale:
        print("check_deps: note: allowed use %s -> %s is gone: drop it from ALLOWED"
              % e)
    for p in private:
        print("check_deps: FAIL private header: " + p)
        status = 1
    for comp, path in found:
        status = 1
        print("check_deps: FAIL modules use each other: " + " -> ".join(path))
        for x, y in zip(path, path[1:]):
            print("    %s -> %s: %s" % (x, y, "; ".join(why[(x, y)][:3])))
        if len(comp) > len(path) - 1:
            print("    (the circle holds %d modules: %s)" % (len(comp), ", ".join(comp)))
    if not objs:
        print("check_deps: note: no object files under %s: calls not checked" % build)
    return status


if __name__ == "__main__":
    sys.exit(main())
