#!/usr/bin/env python3
"""long_functions -- list C functions longer than a limit, and files too.

Issue 15's bar: no function over ~80 lines except table definitions, no
source file over ~900 lines except the DI table. A function is counted
from the line of its opening brace to its closing brace (both included),
as the tree's clang-format lays them out: the brace of a function body
alone in column 0. Initialised tables (`= {` at the top level) are data,
not functions, and are not counted.

Usage: long_functions.py [--max N] [--file-max N] [PATH ...]
  PATH       files or folders (default: src/ and sim/ of this tree)
  --max      longest function allowed (default 80)
  --file-max longest file allowed (default 900; src/protocols/dlt645_di.c,
             the DI table, is exempt)
Prints one line per offender, longest first: "lines  file:line  name".
Exit status 1 when there is one, so it can gate a change.
"""
import argparse
import os
import re
import sys

FILE_EXEMPT = {"src/protocols/dlt645_di.c"}
NAME_RE = re.compile(r"([A-Za-z_]\w*)\s*\([^;]*$")


def functions(path):
    """[(name, first line, length)] of the function bodies in one C file."""
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().split("\n")
    out = []
    i = 0
    while i < len(lines):
        if lines[i] == "{":
            # the signature ends on the line above: walk up to its start
            j = i - 1
            sig = []
            while j >= 0 and lines[j].strip() and not lines[j].startswith(("}", "#")):
                sig.insert(0, lines[j])
                if re.match(r"^[A-Za-z_]", lines[j]):
                    break
                j -= 1
            text = " ".join(s.strip() for s in sig)
            m = NAME_RE.search(text.split("(")[0] + "(") if "(" in text else None
            k = i + 1
            while k < len(lines) and lines[k] != "}":
                k += 1
            if m and "=" not in text.split("(")[0]:
                out.append((m.group(1), j + 1, k - i + 1))
            i = k
        i += 1
    return out, len(lines) - (1 if lines and lines[-1] == "" else 0)


def walk(paths):
    for p in paths:
        if os.path.isfile(p):
            yield p
            continue
        for root, _dirs, names in os.walk(p):
            for n in sorted(names):
                if n.endswith(".c"):
                    yield os.path.join(root, n)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--max", type=int, default=80)
    ap.add_argument("--file-max", type=int, default=900)
    ap.add_argument("paths", nargs="*")
    a = ap.parse_args()
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    paths = a.paths or [os.path.join(here, "src"), os.path.join(here, "sim")]
    long_fn, long_file = [], []
    for path in walk(paths):
        rel = os.path.relpath(path, here)
        fns, n = functions(path)
        if n > a.file_max and rel not in FILE_EXEMPT:
            long_file.append((n, rel))
        for name, line, length in fns:
            if length > a.max:
                long_fn.append((length, "%s:%d" % (rel, line), name))
    for n, rel in sorted(long_file, reverse=True):
        print("%5d  %s  (file over %d lines)" % (n, rel, a.file_max))
    for length, where, name in sorted(long_fn, reverse=True):
        print("%5d  %s  %s()" % (length, where, name))
    print("long_functions: %d function(s) over %d lines, %d file(s) over %d lines"
          % (len(long_fn), a.max, len(long_file), a.file_max), file=sys.stderr)
    return 1 if long_fn or long_file else 0


if __name__ == "__main__":
    sys.exit(main())
