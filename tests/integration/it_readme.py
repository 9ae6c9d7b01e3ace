#!/usr/bin/python3
"""it_readme — the README's command blocks run as written (issue 14: its
own amisim recipe failed with `store ./site/./site/store: no such entry`).

Every ```sh block of README.md is split into commands (a trailing `\\`
continues a line; lines that do not start with a command are the output
shown, e.g. read's JSON). They run in a fresh folder, amisim first, with
only these substitutions: the ports (7000 and 502 -> free ports; the export
and metrics ports of the written amihead.yaml -> free ports, as two tests
at once cannot both have 5556), and the `--from` day of `amihead read`
(the README's example day -> yesterday in the meters' clock, as amisim
keeps 10 days of load records from today). Not run here: `make` lines (the
harness itself; make demo is scripts/demo.sh) and lines on /dev/tty*
(hardware), and lines on /etc/amihead (the installed package: it_service).
Each command must exit 0; `amihead run -c ./site/amihead.yaml`
must collect a cycle into ./site/store and stop cleanly on SIGTERM; a
--json read whose block shows its output must print the same keys.
"""
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ahtest import BIN, Amisim, check, fail, free_port_block  # noqa: E402
from ahtest import main  # noqa: E402

SRC = os.environ.get("AH_SRC", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                            "..", ".."))
TZ = 8 * 3600  # amisim's meters: UTC+8


def readme_commands():
    """[(argv words, output line shown after it or None)] in README order."""
    with open(os.path.join(SRC, "README.md")) as f:
        text = f.read()
    out = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        lines = block.splitlines()
        i = 0
        while i < len(lines):
            line = lines[i]
            while line.endswith("\\") and i + 1 < len(lines):
                i += 1
                line = line[:-1] + " " + lines[i].strip()
            i += 1
            words = shlex.split(line, comments=True)
            if not words or words[0] not in ("amisim", "amihead", "make"):
                if out and words and line.lstrip().startswith("{"):
                    out[-1] = (out[-1][0], line.strip())
                continue
            out.append((words, None))
    return out


def main_run(tmp):
    cmds = readme_commands()
    check(any(w[0] == "amisim" for w, _ in cmds), "README has no amisim recipe")
    port = free_port_block(2)
    mbport = free_port_block(2)  # amisim serves 2 Modbus meters by default
    yday = time.strftime("%Y-%m-%d 00:00", time.gmtime(time.time() + TZ - 86400))

    def subst(words):
        out = []
        for w in words:
            w = w.replace("127.0.0.1:7000", f"127.0.0.1:{port}")
            w = w.replace("127.0.0.1:502", f"127.0.0.1:{mbport}")
            if re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", w):
                w = yday
            out.append(w)
        for i, w in enumerate(out[:-1]):
            if w == "--port-base":
                out[i + 1] = str(port)
        return out

    def argv(words):
        return [os.path.join(BIN, words[0]), *subst(words[1:])]

    sims, ran = [], 0
    order = sorted(cmds, key=lambda c: {"amisim": 0, "amihead": 1}.get(c[0][0], 2) +
                   (0.5 if c[0][:2] == ["amihead", "read"] else 0))
    try:
        for words, shown in order:
            line = " ".join(words)
            # /etc/amihead exists once the package is installed (it_service
            # checks the package's files and unit, not this harness)
            if words[0] == "make" or any(w.startswith(("/dev/tty", "/etc/amihead"))
                                         for w in words):
                print(f"  not run here: {line}")
                continue
            if words[0] == "amisim":
                sim = Amisim(*subst(words[1:]))
                sim.proc_cwd = tmp
                os.chdir(tmp)
                sims.append(sim.__enter__())
                print(f"  ran: {line}")
                ran += 1
                if "--write-config" in words:
                    site = os.path.join(tmp, words[words.index("--write-config") + 1])
                    yaml = os.path.join(site, "amihead.yaml")
                    with open(yaml) as f:
                        text = f.read()
                    check(":0\n" not in text, "write-config wrote a port 0")
                    e = free_port_block(3)
                    text = (text.replace(":5556", f":{e}").replace(":5557", f":{e + 1}")
                            .replace(":9464", f":{e + 2}"))
                    with open(yaml, "w") as f:
                        f.write(text)
                continue
            if words[:2] == ["amihead", "run"]:
                run_as_written(tmp, argv(words))
                print(f"  ran: {line}")
                ran += 1
                continue
            if "--modbus-tcp" in words and not any("--modbus-tcp-base" in s.args
                                                  for s in sims):
                sims.append(Amisim("--concentrators", "1", "--meters", "1",
                                   "--modbus-tcp-base", str(mbport)).__enter__())
            r = subprocess.run(argv(words), capture_output=True, text=True, timeout=60,
                               cwd=tmp)
            check(r.returncode == 0, f"`{line}` exited {r.returncode}: {r.stderr}{r.stdout}")
            if shown and "--json" in words:
                got = json.loads(r.stdout.splitlines()[0])
                check(set(json.loads(shown)) == set(got),
                      f"`{line}` printed {got}, the README shows {shown}")
            print(f"  ran: {line}")
            ran += 1
    finally:
        for s in sims:
            s.__exit__(None, None, None)
    print(f"{ran} README commands ran")
    files_only(tmp)


def files_only(tmp):
    """--write-config without --port-base: no `endpoint: 127.0.0.1:0`, the
    ports the README names instead, and a config check-config accepts."""
    r = subprocess.run([os.path.join(BIN, "amisim"), "--concentrators", "2", "--meters",
                        "2", "--write-config", "./files"], cwd=tmp, capture_output=True,
                       text=True, timeout=60)
    check(r.returncode == 0, f"files-only write-config: {r.stderr}")
    with open(os.path.join(tmp, "files", "amihead.yaml")) as f:
        text = f.read()
    check(not re.search(r"endpoint: \S+:0$", text, re.M), f"port 0 written:\n{text}")
    check("endpoint: 127.0.0.1:7001" in text, f"not the README's ports:\n{text}")
    check("--port-base 7000" in r.stderr, f"no hint to serve them: {r.stderr}")
    r = subprocess.run([os.path.join(BIN, "amihead"), "check-config", "-c",
                        "./files/amihead.yaml"], cwd=tmp, capture_output=True, text=True,
                       timeout=60)
    check(r.returncode == 0, f"check-config of the files-only config: {r.stderr}{r.stdout}")


def run_as_written(tmp, cmd):
    """amihead run as the README says, in tmp: it must collect a cycle into
    the store the YAML names, then stop cleanly on SIGTERM."""
    log = os.path.join(tmp, "run.log")
    with open(log, "w") as errf:
        p = subprocess.Popen(cmd, cwd=tmp, stdout=subprocess.DEVNULL, stderr=errf)
    deadline = time.monotonic() + 120
    text = ""
    while time.monotonic() < deadline and p.poll() is None:
        with open(log) as f:
            text = f.read()
        if re.search(r"cycle .* done", text):
            break
        time.sleep(0.5)
    if p.poll() is not None:
        fail(f"`amihead run` exited {p.returncode}: {text}")
    p.send_signal(signal.SIGTERM)
    try:
        rc = p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        fail("amihead run did not stop on SIGTERM")
    with open(log) as f:
        text = f.read()
    check(re.search(r"cycle .* done", text), f"no cycle completed: {text[-2000:]}")
    check(rc == 0, f"amihead run exited {rc}: {text[-2000:]}")
    check(os.path.isdir(os.path.join(tmp, "site", "store")),
          "the store is not in ./site/store")


if __name__ == "__main__":
    main("it_readme", main_run)
