#!/usr/bin/python3
"""manpages — amihead(1) and amisim(1) from one source: each program's own
usage text (`--help`, and `amihead <command> --help` for every command the
top-level help lists) framed by the sections of packaging/man.txt. The
usage text lives in the code, so the man page cannot drift from it.

usage: manpages.py AMIHEAD_BIN AMISIM_BIN SECTIONS_FILE OUTDIR VERSION
"""
import os
import re
import subprocess
import sys


def help_of(argv):
    r = subprocess.run(argv + ["--help"], capture_output=True, text=True, timeout=30)
    return (r.stdout or r.stderr).rstrip("\n")


def roff_text(s):
    """Escape text for roff: backslashes, and a leading dot or quote."""
    s = s.replace("\\", "\\e")
    return "\n".join(("\\&" + ln if ln[:1] in (".", "'") else ln) for ln in s.split("\n"))


def sections(path):
    """packaging/man.txt: '== program SECTION' headers, text below each."""
    out, cur = {}, None
    with open(path) as f:
        for ln in f:
            m = re.match(r"^== (\S+) (.+?)\s*$", ln)
            if m:
                cur = (m.group(1), m.group(2))
                out.setdefault(cur[0], []).append((cur[1], []))
            elif cur:
                out[cur[0]][-1][1].append(ln.rstrip("\n"))
    return out


def page(name, summary, usage, extra, version):
    lines = [f'.TH {name.upper()} 1 "" "{name} {version}" "User Commands"',
             ".SH NAME", f"{name} \\- {summary}", ".SH SYNOPSIS", ".nf",
             roff_text(usage[0][1]), ".fi"]
    for title, body in extra:
        lines.append(f".SH {title}")
        if title == "COMMANDS":
            for cmd, text in usage[1:]:
                lines += [f".SS {cmd}", ".nf", roff_text(text), ".fi"]
        paras = "\n".join(body).strip("\n").split("\n\n")
        for p in paras:
            if p.strip():
                lines += [".PP", roff_text(p)]
    return "\n".join(lines) + "\n"


def main():
    amihead, amisim, secfile, outdir, version = sys.argv[1:6]
    sec = sections(secfile)
    top = help_of([amihead])
    cmds = re.findall(r"^  ([a-z][a-z-]+)\s{2,}", top, re.M)
    usage = [("amihead", top)] + [(c, help_of([amihead, c])) for c in cmds
                                  if c != "version"]
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, "amihead.1"), "w") as f:
        f.write(page("amihead", "open AMI head-end: collect, validate, store and "
                     "publish smart-meter reads", usage, sec["amihead"], version))
    with open(os.path.join(outdir, "amisim.1"), "w") as f:
        f.write(page("amisim", "simulated fleet of DL/T 645 and Modbus meters behind "
                     "concentrators", [("amisim", help_of([amisim]))], sec["amisim"],
                     version))


if __name__ == "__main__":
    main()
