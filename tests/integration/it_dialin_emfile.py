#!/usr/bin/python3
"""it_dialin_emfile — the dial-in listener out of file descriptors (issue 15,
Fix: "accept4 failures are checked; EMFILE on the dial-in listener must not
spin: back off, log once").

The head-end runs a dlt645-listen link. Once it waits for dial-ins its
descriptor limit is lowered (prlimit) to what it holds plus two, and twelve
connections from twelve loopback sources arrive: a few are accepted, the
rest wait in the listen backlog while accept4 fails with EMFILE. Before:
accept4's failure was ignored, the listener stayed readable and the event
loop spun (a core busy, nothing in the log). Now the listener pauses with a
back-off: the head-end's CPU stays low, the log says so once per episode,
and when descriptors are free again a new dial-in is accepted.
"""
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ahtest import (Amisim, check, cpu_seconds, export_endpoints, fail,  # noqa: E402
                    free_port_block, main, run_argv, write_config)

EPOCH = "2025-03-14T00:00:00Z"
START = 1741910400  # EPOCH


def wait_log(log, pattern, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log.seek(0)
        if re.search(pattern, log.read()):
            return True
        time.sleep(0.2)
    return False


def dial(port, src):
    s = socket.socket()
    s.setblocking(False)
    s.bind((src, 0))
    try:
        s.connect(("127.0.0.1", port))
    except BlockingIOError:
        pass
    return s


def run(tmp):
    lport = free_port_block(1)
    with Amisim("--concentrators", "1", "--meters", "2", "--dial",
                f"127.0.0.1:{lport}", "--epoch", EPOCH, "--write-config", tmp):
        pass
    ep, rp = export_endpoints()
    yaml, _ = write_config(tmp, 1, ep, rp)
    log = open(os.path.join(tmp, "amihead.log"), "w+")
    p = subprocess.Popen(run_argv(yaml, 60, START), stdout=subprocess.DEVNULL, stderr=log)
    socks = []
    try:
        check(wait_log(log, r"waiting for dial-in concentrators", 30), "no listener")
        time.sleep(1)  # the store and the export settle their descriptors
        held = len(os.listdir(f"/proc/{p.pid}/fd"))
        old = resource.prlimit(p.pid, resource.RLIMIT_NOFILE)
        # the soft limit only: raising it back needs no privilege
        resource.prlimit(p.pid, resource.RLIMIT_NOFILE, (held + 2, old[1]))
        socks = [dial(lport, f"127.0.0.{k}") for k in range(2, 14)]
        time.sleep(1)
        c0, t0 = cpu_seconds(p.pid), time.monotonic()
        time.sleep(4)
        used, span = cpu_seconds(p.pid) - c0, time.monotonic() - t0
        print(f"descriptors held {held}, limit {held + 2}: {used:.2f} s CPU "
              f"in {span:.1f} s with dial-ins waiting")
        log.seek(0)
        text = log.read()
        n_said = len(re.findall(r"dial-in listener .*: cannot accept", text))
        check(n_said >= 1, f"EMFILE not said in the log: {text[-2000:]}")
        # one line per episode: an episode ends when a probe times out and
        # frees a descriptor, so a few in 6 s, never one per failed accept4
        check(n_said <= 6, f"said {n_said} times: {text[-2000:]}")
        check(used < 0.25 * span, f"the loop spins: {used:.2f} s CPU in {span:.1f} s")

        # descriptors back: a new dial-in is accepted again
        resource.prlimit(p.pid, resource.RLIMIT_NOFILE, old)
        for s in socks:
            s.close()
        socks = [dial(lport, "127.0.0.20")]
        check(wait_log(log, r"dial-in listener .*: accepting again", 15),
              "no 'accepting again' after descriptors were freed")
    finally:
        for s in socks:
            s.close()
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                fail("amihead did not stop on SIGTERM")
    log.seek(0)
    err = log.read()
    log.close()
    check(p.returncode == 0 and "Sanitizer" not in err,
          f"exit {p.returncode}: {err[-3000:]}")


if __name__ == "__main__":
    main("it_dialin_emfile", run)
