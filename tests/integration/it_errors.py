#!/usr/bin/python3
"""it_errors — precise errors (issue 14, item 6): address in use,
permission denied and a missing parent folder each name the path or port
(store folder; export, metrics and dial-in listen ports)
and the real cause, never "input/output error"; check-config warns about
the same before a run (storage.path creatable and writable, listen ports
free) and still exits 0, as they are warnings.

Permission is tested as uid 65534 (nobody, via setpriv) when the test runs
as root, which ignores folder modes; as another user, directly.
"""
import os
import re
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ahtest import BIN, check, free_port_block  # noqa: E402
from ahtest import main  # noqa: E402

UNTIL = "2025-01-01T00:00:00Z"


def ah(*args, as_nobody=False):
    cmd = [os.path.join(BIN, "amihead"), *args]
    if as_nobody:
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def set_key(yaml, pattern, repl):
    with open(yaml) as f:
        text = f.read()
    text, n = re.subn(pattern, repl, text, count=1, flags=re.M)
    check(n == 1, f"no {pattern} in the config")
    with open(yaml, "w") as f:
        f.write(text)


def no_eio(r, what):
    check("input/output error" not in r.stderr, f"{what}: {r.stderr}")


def run(tmp):
    os.chmod(tmp, 0o755)  # nobody reads the config
    r = subprocess.run([os.path.join(BIN, "amisim"), "--concentrators", "1", "--meters", "2",
                        "--write-config", tmp], capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, f"amisim: {r.stderr}")
    yaml = os.path.join(tmp, "amihead.yaml")
    for f in os.listdir(tmp):
        os.chmod(os.path.join(tmp, f), 0o644)
    base = free_port_block(4)
    set_key(yaml, r"tcp://127\.0\.0\.1:5556", f"tcp://127.0.0.1:{base}")
    set_key(yaml, r"tcp://127\.0\.0\.1:5557", f"tcp://127.0.0.1:{base + 1}")
    set_key(yaml, r"listen: 127\.0\.0\.1:9464", f"listen: 127.0.0.1:{base + 2}")

    # a missing parent folder: named, in check-config (warning) and run
    missing = os.path.join(tmp, "no", "such", "store")
    set_key(yaml, r"^  path: .*$", f"  path: {missing}")
    r = ah("check-config", "-c", yaml)
    check(r.returncode == 0, f"check-config with warnings exits 0: {r.stderr}")
    check(f"storage.path {missing}: parent folder {os.path.join(tmp, 'no', 'such')} does "
          "not exist" in r.stderr, f"check-config: {r.stderr}")
    r = ah("run", "-c", yaml, "--until", UNTIL)
    check(r.returncode == 1 and f"parent folder {os.path.join(tmp, 'no', 'such')} does not "
          "exist" in r.stderr, f"run: {r.returncode} {r.stderr}")
    no_eio(r, "missing parent")
    r = ah("query", "-c", yaml, "--meter", "000001000001")
    check(r.returncode == 1 and "does not exist" in r.stderr, f"query: {r.stderr}")

    # permission denied: a folder the head-end may not write in
    ro = os.path.join(tmp, "ro")
    os.mkdir(ro, 0o555)
    set_key(yaml, r"^  path: .*$", f"  path: {ro}/store")
    nobody = os.geteuid() == 0
    r = ah("check-config", "-c", yaml, as_nobody=nobody)
    check(r.returncode == 0 and f"storage.path {ro}/store: permission denied: cannot create "
          f"a folder in {ro}" in r.stderr, f"check-config: {r.stderr}")
    r = ah("run", "-c", yaml, "--until", UNTIL, as_nobody=nobody)
    check(r.returncode == 1 and f"store {ro}/store: permission denied" in r.stderr,
          f"run: {r.returncode} {r.stderr}")
    no_eio(r, "permission")

    # address in use: the export port and the metrics port, named
    set_key(yaml, r"^  path: .*$", f"  path: {tmp}/store")
    held = []
    for port in (base, base + 2):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen()
        held.append(s)
    try:
        r = ah("check-config", "-c", yaml)
        check(r.returncode == 0, f"check-config: {r.stderr}")
        check(f"export.pub tcp://127.0.0.1:{base}: port {base} on 127.0.0.1 is in use"
              in r.stderr, f"check-config, pub: {r.stderr}")
        check(f"metrics.listen 127.0.0.1:{base + 2}: port {base + 2} on 127.0.0.1 is in use"
              in r.stderr, f"check-config, metrics: {r.stderr}")
        check(f"replay tcp://127.0.0.1:{base + 1}" not in r.stderr,
              f"a free port warned about: {r.stderr}")
        r = ah("run", "-c", yaml, "--until", UNTIL)
        check(r.returncode == 1 and f"export.pub tcp://127.0.0.1:{base}: port {base} on "
              "127.0.0.1 is in use" in r.stderr, f"run: {r.returncode} {r.stderr}")
        no_eio(r, "address in use")
        # metrics only: an error at start like the export port (issue 18:
        # an operator who configured metrics expects them there)
        held[0].close()
        r = ah("run", "-c", yaml, "--until", UNTIL)
        check(r.returncode == 1, f"run with metrics port busy: {r.returncode} {r.stderr}")
        check(f"metrics.listen 127.0.0.1:{base + 2}: port {base + 2} on 127.0.0.1 is in use"
              in r.stderr, f"run, metrics: {r.stderr}")
        no_eio(r, "metrics in use")
    finally:
        for s in held:
            s.close()
    # a dial-in listener on a port in use: named too
    with open(yaml) as f:
        text = f.read()
    dial = text.replace("    type: dlt645-tcp\n    endpoint: 127.0.0.1:7000\n",
                        f"    type: dlt645-listen\n    listen: 127.0.0.1:{base + 3}\n"
                        f"    address: \"000000000001\"\n")
    check(dial != text, f"no dlt645-tcp link c0 to turn into a dial-in one:\n{text}")
    dyaml = os.path.join(tmp, "dial.yaml")
    with open(dyaml, "w") as f:
        f.write(dial)
    os.chmod(dyaml, 0o644)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", base + 3))
    s.listen()
    try:
        r = ah("check-config", "-c", dyaml)
        check(r.returncode == 0 and f"link c0 listen 127.0.0.1:{base + 3}: port {base + 3} "
              "on 127.0.0.1 is in use" in r.stderr, f"check-config, dial-in: {r.stderr}")
        r = ah("run", "-c", dyaml, "--until", UNTIL)
        check(r.returncode == 1 and f"dial-in listen 127.0.0.1:{base + 3}: port {base + 3} "
              "on 127.0.0.1 is in use" in r.stderr, f"run, dial-in: {r.returncode} {r.stderr}")
    finally:
        s.close()

    # all free: no warning at all
    r = ah("check-config", "-c", yaml)
    check(r.returncode == 0 and "warning" not in r.stderr, f"clean check-config: {r.stderr}")


if __name__ == "__main__":
    main("it_errors", run)
