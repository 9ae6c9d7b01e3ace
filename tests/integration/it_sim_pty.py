#!/usr/bin/env python3
"""it_sim_pty — amisim's pseudo-terminal concentrator behaves like an RS-485
line: the reply starts no earlier than Td after the request, its bytes come
paced at the baud rate with 11 bits per character (8E1, protocols.md §1.1,
§1.5), it carries the same energy as the truth, and a second request sent
while the reply is still on the line is lost (one request at a time).
"""
import os
import select
import sys
import time
import tty

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ahtest  # noqa: E402
from dlt645wire import bcd_le, cs_ok, decode, find_frame, frame  # noqa: E402

EPOCH = "2025-03-14T00:00:00Z"
BAUD, TD_MS = 2400, 120


def exchange(fd, req, timeout=3.0):
    """send req; return (frame, t_first_byte, t_last_byte) relative to the
    send. t0 is read before the write: read after it, a test descheduled
    between the two would start its clock late and see the reply early
    (it once measured 214.0 ms against a 215.2 ms bound)."""
    t0 = time.monotonic()
    os.write(fd, req)
    buf = b""
    first = None
    while time.monotonic() - t0 < timeout:
        r, _, _ = select.select([fd], [], [], 0.05)
        if not r:
            continue
        chunk = os.read(fd, 512)
        if chunk and first is None:
            first = time.monotonic() - t0
        buf += chunk
        found = find_frame(buf, check=False)
        if found:
            f, at = found
            assert cs_ok(f) and buf[:at].strip(b"\xfe") == b"", buf.hex()
            return f, first, time.monotonic() - t0
    return None, first, None


def main():
    common = ["--concentrators", "1", "--meters", "3", "--seed", "5", "--epoch", EPOCH]
    with ahtest.Amisim(*common, "--pty", "--baud", str(BAUD), "--td-ms", str(TD_MS),
                       log_markers=("Sanitizer",)) as sim:
        path = sim.pty_path(0)
        assert path and path.startswith("/dev/pts/"), "no pty announced"
        check(path, common)


def check(path, common):
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
    tty.setraw(fd)
    addr = "000001000001"
    # 00010000: reply is 4 FE-less header + 8 data = 20 bytes
    f, first, last = exchange(fd, frame(addr, 0x11, bytes([0, 0, 1, 0])))
    assert f is not None, "no reply on the pty"
    assert f[8] == 0x91, f.hex()
    byte_s = 11.0 / BAUD
    # the request's own air time, Td, then the first character's 11 bits:
    # a character is on the other end after its stop bit
    req = frame(addr, 0x11, bytes([0, 0, 1, 0]))
    assert first >= TD_MS / 1000.0 + (len(req) + 1) * byte_s - 0.001, (first, len(req))
    # the whole frame takes its air time at 2400 bit/s 8E1: its last byte
    # comes no earlier than request + Td + every reply character (a lower
    # bound from the send: a loaded box only makes it later; the spread
    # last - first shrinks when the first bytes are read late together)
    on_air = (len(req) + len(f)) * byte_s
    assert last >= TD_MS / 1000.0 + on_air - 0.001, (first, last, len(f))
    assert last < TD_MS / 1000.0 + 20 * 11.0 / BAUD + len(f) * byte_s + 0.5
    v = bcd_le(decode(f)[2][4:8])
    ser = ahtest.amisim_series(common, EPOCH, "2025-03-14T00:15:00Z", meter=addr)
    lo, hi = (x["shown"]["fwd"] for x in ser)
    assert lo <= v <= hi, (v, lo, hi)

    # one request at a time: a request sent while the reply of the
    # previous one is on the line gets no answer of its own
    os.write(fd, frame(addr, 0x11, bytes([0, 1, 1, 2])))  # voltage A
    time.sleep(TD_MS / 1000.0 + 0.02)
    f2, _, _ = exchange(fd, frame(addr, 0x11, bytes([0, 2, 1, 2])))  # current A
    assert f2 is not None
    di = decode(f2)[2][:4]
    assert di == bytes([0, 1, 1, 2]), di.hex()  # the voltage reply only
    r, _, _ = select.select([fd], [], [], 0.6)
    assert not r, "the request sent over a reply was answered"
    os.close(fd)
    print("it_sim_pty: ok (Td %.0f ms, frame %.0f ms)" % (first * 1000, (last - first) * 1000))


if __name__ == "__main__":
    main()
