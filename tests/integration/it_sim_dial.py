#!/usr/bin/env python3
"""it_sim_dial — with --dial, every concentrator connects out to the
head-end, answers 13H read-address with its own address on that connection,
answers its meters' reads, and dials again after the head-end drops it.
"""
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ahtest  # noqa: E402
from dlt645wire import WILDCARD, Link  # noqa: E402


def ask(c, addr, ctrl, data):
    p = Link(c).ask(addr, ctrl, data, timeout=2)
    assert p, "no reply"
    return p


def main():
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(8)
    ls.settimeout(5)
    port = ls.getsockname()[1]
    with ahtest.Amisim("--concentrators", "3", "--meters", "2",
                       "--dial", "127.0.0.1:%d" % port, "--epoch", "2025-03-14T00:00:00Z",
                       log_markers=("Sanitizer",)):
        check(ls)


def check(ls):
    seen = {}
    for _ in range(3):
        c, _ = ls.accept()
        c.settimeout(2)
        a, ctrl, data = ask(c, WILDCARD, 0x13, b"")
        assert ctrl == 0x93 and data[::-1].hex() == a
        k = int(a) - 1
        m = "%06d000001" % (k + 1)
        a2, ctrl, data = ask(c, m, 0x11, bytes([0, 0, 1, 0]))
        assert a2 == m and ctrl == 0x91 and len(data) == 8
        seen[a] = c
    assert sorted(seen) == ["000000000001", "000000000002", "000000000003"], seen
    # drop concentrator 2: it dials again and identifies itself
    seen["000000000002"].close()
    c, _ = ls.accept()
    c.settimeout(2)
    a, ctrl, _ = ask(c, WILDCARD, 0x13, b"")
    assert a == "000000000002", a
    print("it_sim_dial: ok")


if __name__ == "__main__":
    main()
