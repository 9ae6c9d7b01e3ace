#!/usr/bin/env python3
"""it_sim_pty — amisim's pseudo-terminal concentrator behaves like an RS-485
line: the reply starts no earlier than Td after the request, its bytes come
paced at the baud rate with 11 bits per character (8E1, protocols.md §1.1,
§1.5), it carries the same energy as the truth, and a second request sent
while the reply is still on the line is lost (one request at a time).
"""
import json, os, select, subprocess, sys, termios, time, tty

BIN = os.environ.get("AH_BIN", "build/bin")
AMISIM = os.path.join(BIN, "amisim")
EPOCH = "2025-03-14T00:00:00Z"
EPOCH_S = 1741910400
BAUD, TD_MS = 2400, 120


def frame(addr, c, data):
    a = bytes.fromhex(addr)[::-1]
    d = bytes((x + 0x33) & 0xFF for x in data)
    f = b"\x68" + a + b"\x68" + bytes([c, len(d)]) + d
    return b"\xfe" * 4 + f + bytes([sum(f) & 0xFF, 0x16])


def complete(buf):
    i = buf.find(b"\x68")
    if i < 0 or len(buf) - i < 12:
        return None
    L = buf[i + 9]
    if len(buf) - i < 12 + L:
        return None
    f = buf[i:i + 12 + L]
    assert sum(f[:-2]) & 0xFF == f[-2] and f[-1] == 0x16, f.hex()
    return f


def exchange(fd, req, timeout=3.0):
    """send req; return (frame, t_first_byte, t_last_byte) relative to send end"""
    os.write(fd, req)
    t0 = time.monotonic()
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
        f = complete(buf)
        if f:
            return f, first, time.monotonic() - t0
    return None, first, None


def main():
    common = ["--concentrators", "1", "--meters", "3", "--seed", "5", "--epoch", EPOCH]
    p = subprocess.Popen([AMISIM] + common + ["--pty", "--baud", str(BAUD),
                                              "--td-ms", str(TD_MS)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        path = None
        deadline = time.time() + 10
        while time.time() < deadline:
            line = p.stdout.readline().strip()
            if line.startswith("pty 0 "):
                path = line.split()[2]
            if line == "ready" or not line:
                break
        assert path and path.startswith("/dev/pts/"), "no pty announced"
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(fd)
        addr = "000001000001"
        # 00010000: reply is 4 FE-less header + 8 data = 20 bytes
        f, first, last = exchange(fd, frame(addr, 0x11, bytes([0, 0, 1, 0])))
        assert f is not None, "no reply on the pty"
        assert f[8] == 0x91, f.hex()
        byte_s = 11.0 / BAUD
        assert first >= TD_MS / 1000.0 - 0.005, first
        # the whole frame takes its air time at 2400 bit/s 8E1
        assert last - first >= (len(f) - 2) * byte_s, (first, last, len(f))
        assert last < TD_MS / 1000.0 + 20 * 11.0 / BAUD + len(f) * byte_s + 0.5
        data = bytes((x - 0x33) & 0xFF for x in f[10:-2])
        v = int(data[4:8][::-1].hex())
        ser = subprocess.run([AMISIM] + common + ["--series", "%s,2025-03-14T00:15:00Z" % EPOCH,
                                                  "--series-meter", addr],
                             capture_output=True, text=True, check=True).stdout.splitlines()
        lo, hi = (json.loads(x)["shown"]["fwd"] for x in ser)
        assert lo <= v <= hi, (v, lo, hi)

        # one request at a time: a request sent while the reply of the
        # previous one is on the line gets no answer of its own
        os.write(fd, frame(addr, 0x11, bytes([0, 1, 1, 2])))  # voltage A
        time.sleep(TD_MS / 1000.0 + 0.02)
        f2, _, _ = exchange(fd, frame(addr, 0x11, bytes([0, 2, 1, 2])))  # current A
        assert f2 is not None
        di = bytes((x - 0x33) & 0xFF for x in f2[10:14])
        assert di == bytes([0, 1, 1, 2]), di.hex()  # the voltage reply only
        r, _, _ = select.select([fd], [], [], 0.6)
        assert not r, "the request sent over a reply was answered"
        os.close(fd)
        print("it_sim_pty: ok (Td %.0f ms, frame %.0f ms)" % (first * 1000, (last - first) * 1000))
    finally:
        p.terminate()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
        err = p.stderr.read()
        if "Sanitizer" in err:
            print(err, file=sys.stderr)
            sys.exit(1)


if __name__ == "__main__":
    main()
