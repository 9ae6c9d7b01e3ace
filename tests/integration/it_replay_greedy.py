#!/usr/bin/python3
"""it_replay_greedy — replay clients that ask and never read (issue 17
item 4). A publishing head-end (test_pub --drive, the same pub_ code as
`amihead run`) holds 2,000 outbox messages; three DEALER clients with a
1-message receive queue and a 4 kB socket buffer each send 200 requests
for 1,000 messages and read nothing.

Before: every reply was queued whole for its peer (about 0.7 MB each), so
the head-end grew by hundreds of MB. Now each peer holds at most
PUB_REPLAY_HWM (4) replies; the rest are dropped unread, logged and
counted, the head-end's RSS grows by less than 60 MB, and a polite client
still gets its full reply at once.
"""
import json
import os
import subprocess
import sys
import tempfile
import shutil
import time

import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ahtest import BIN, check, fail, free_port_block  # noqa: E402

CLIENTS, REQUESTS = 3, 200


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    fail("no VmRSS")


def main():
    tmp = tempfile.mkdtemp(prefix="it_replay_greedy.")
    port = free_port_block(2)
    ep, rp = f"tcp://127.0.0.1:{port}", f"tcp://127.0.0.1:{port + 1}"
    drive = subprocess.Popen([os.path.join(BIN, "test_pub"), "--drive",
                              os.path.join(tmp, "db"), ep, rp, "2", "1000", "0"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    ctx = zmq.Context()
    try:
        deadline = time.time() + 60
        while drive.stdout.readline().strip() != "done":
            check(time.time() < deadline and drive.poll() is None, "driver not done")
        polite = ctx.socket(zmq.DEALER)
        polite.setsockopt(zmq.LINGER, 0)
        polite.connect(rp)
        polite.send(b"replay 1 1000")
        check(polite.poll(10000), "no reply before the greedy clients")
        first = polite.recv_multipart()
        size = sum(len(x) for x in first)
        time.sleep(1)
        base = rss_kb(drive.pid)

        greedy = []
        for _ in range(CLIENTS):
            d = ctx.socket(zmq.DEALER)
            d.setsockopt(zmq.LINGER, 0)
            d.setsockopt(zmq.RCVHWM, 1)
            d.setsockopt(zmq.RCVBUF, 4096)
            d.connect(rp)
            greedy.append(d)
        for d in greedy:
            for _ in range(REQUESTS):
                d.send(b"replay 1 1000")
        time.sleep(6)  # the replay thread answers what it can
        grown = rss_kb(drive.pid) - base

        polite.send(b"replay 1 1000")
        check(polite.poll(10000), "a polite client got no reply under the greedy ones")
        again = polite.recv_multipart()
        hdr = json.loads(again[0])
        check(hdr.get("status") == "ok" and len(again) == 1 + 2 * 1000,
              f"polite reply: {hdr}, {len(again)} frames")
        print(f"reply {size / 1e6:.2f} MB; {CLIENTS} x {REQUESTS} unread requests grew "
              f"the head-end by {grown / 1024:.1f} MB")
        check(grown < 60 * 1024, f"RSS grew by {grown / 1024:.1f} MB for "
              f"{CLIENTS * REQUESTS} unread replies of {size / 1e6:.2f} MB")
        for d in greedy:
            d.close()
        polite.close()
    finally:
        ctx.destroy(linger=0)
        try:
            _, err = drive.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            drive.kill()
            _, err = drive.communicate()
        shutil.rmtree(tmp, ignore_errors=True)
    check("Sanitizer" not in err, err[-3000:])
    check("replay request dropped: its peer has 4 replies unread" in err,
          f"no drop logged: {err[-2000:]}")
    print("ok")


if __name__ == "__main__":
    main()
