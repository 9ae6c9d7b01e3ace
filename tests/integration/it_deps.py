#!/usr/bin/python3
"""it_deps — every Python module the tests, examples and scripts import and
every program they start comes from a Debian package that scripts/deps.sh
installs (issue 14: on a fresh machine pymodbus's serial server needed
serial_asyncio, python3-serial-asyncio, which deps.sh did not list).

Three checks, each failing with the package to add:
  1. every package named in NEEDS is in deps.sh's PKGS list (a package
     removed from deps.sh fails here even on a machine that still has it);
  2. every module imports under /usr/bin/python3 (the tests' interpreter)
     and every program is on PATH;
  3. every top-level module imported by a .py under tests/, examples/,
     scripts/ and bench/ (and the Python inside the .sh tests) is the
     standard library, a local helper, or in NEEDS — so a new import
     cannot slip past this table.
Programs from Debian's Essential set (coreutils, grep, sed, mawk, ...) are
on every Debian machine and are only looked up, not required in deps.sh.
"""
import ast
import importlib
import os
import re
import shutil
import sys

SRC = os.environ.get("AH_SRC", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                            "..", ".."))
DEPS_SH = os.environ.get("AH_DEPS_SH", os.path.join(SRC, "scripts", "deps.sh"))

# module or program -> Debian package. Submodules that are imported lazily
# inside a package (pymodbus.server -> serial_asyncio) are named explicitly.
MODULES = {
    "zmq": "python3-zmq",
    "jsonschema": "python3-jsonschema",
    "serial": "python3-serial",
    "serial_asyncio": "python3-serial-asyncio",
    "pymodbus": "python3-pymodbus",
    "pymodbus.server": "python3-pymodbus",
    "pymodbus.datastore": "python3-pymodbus",
    "pymodbus.framer.rtu_framer": "python3-pymodbus",
}
PROGRAMS = {
    "python3": "python3",
    "socat": "socat",
    "mbpoll": "mbpoll",
    "cmake": "cmake",
    "ctest": "cmake",
    "clang": "clang",
    "cc": "build-essential",
    "make": "build-essential",
    "pkg-config": "pkg-config",
}
ESSENTIAL = ["sh", "timeout", "od", "awk", "sed", "grep", "mktemp", "seq", "head",
             "tail", "cut", "kill", "sleep", "cat", "rm", "dirname", "setpriv"]


def deps_packages():
    with open(DEPS_SH) as f:
        text = f.read()
    m = re.search(r'^PKGS="([^"]*)"', text, re.M)
    if not m:
        raise SystemExit(f"FAIL: {DEPS_SH} has no PKGS=\"...\" list")
    return set(m.group(1).split())


def imported_modules():
    """{top-level module: first file importing it} over the project's Python."""
    out = {}
    local = set()
    files = []
    for top in ("tests", "examples", "scripts", "bench"):
        for dirpath, _, names in os.walk(os.path.join(SRC, top)):
            for n in names:
                p = os.path.join(dirpath, n)
                if n.endswith(".py"):
                    local.add(n[:-3])
                    files.append(p)
                elif n.endswith(".sh"):
                    files.append(p)
    for p in files:
        with open(p, errors="replace") as f:
            text = f.read()
        if p.endswith(".sh"):
            # only the Python in here-documents (python3 - <<'PY' ... PY)
            heredocs = re.findall(r"<<\s*'?(\w+)'?\n(.*?)\n\1", text, re.S)
            text = "\n".join(body for _, body in heredocs
                             if re.search(r"^\s*(import|from) ", body, re.M))
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue  # a shell here-document that is not Python
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module]
            else:
                continue
            for name in names:
                mod = name.split(".")[0]
                if mod not in local:
                    out.setdefault(mod, os.path.relpath(p, SRC))
    return out


def main():
    pkgs = deps_packages()
    problems = []
    for what, table in (("python module", MODULES), ("program", PROGRAMS)):
        for name, pkg in sorted(table.items()):
            if pkg not in pkgs:
                problems.append(f"{what} {name}: Debian package {pkg} is not in "
                                f"scripts/deps.sh")
    for name, pkg in sorted(MODULES.items()):
        try:
            importlib.import_module(name)
        except Exception as e:  # noqa: BLE001 - any failure to import is the finding
            problems.append(f"python module {name} does not import "
                            f"({type(e).__name__}: {e}): install {pkg} (scripts/deps.sh)")
    for name, pkg in sorted(PROGRAMS.items()):
        if not shutil.which(name):
            problems.append(f"program {name} not found: install {pkg} (scripts/deps.sh)")
    for name in ESSENTIAL:
        if not shutil.which(name):
            problems.append(f"program {name} not found (Debian Essential)")
    stdlib = set(sys.stdlib_module_names)
    known = {m.split(".")[0] for m in MODULES}
    for mod, where in sorted(imported_modules().items()):
        if mod not in stdlib and mod not in known:
            problems.append(f"python module {mod} (imported by {where}) has no Debian "
                            f"package in tests/integration/it_deps.py's MODULES")
    print(f"deps: {len(pkgs)} packages in scripts/deps.sh, {len(MODULES)} modules, "
          f"{len(PROGRAMS) + len(ESSENTIAL)} programs checked")
    for p in problems:
        print(f"FAIL: {p}")
    if problems:
        sys.exit(1)
    print("ok")


if __name__ == "__main__":
    main()
