#!/usr/bin/env python3
"""it_sim_dial — with --dial, every concentrator connects out to the
head-end, answers 13H read-address with its own address on that connection,
answers its meters' reads, and dials again after the head-end drops it.
"""
import os, socket, subprocess, sys, time

BIN = os.environ.get("AH_BIN", "build/bin")


def frame(addr, c, data):
    a = bytes.fromhex(addr)[::-1]
    d = bytes((x + 0x33) & 0xFF for x in data)
    f = b"\x68" + a + b"\x68" + bytes([c, len(d)]) + d
    return b"\xfe" * 4 + f + bytes([sum(f) & 0xFF, 0x16])


def ask(c, addr, ctrl, data):
    c.sendall(frame(addr, ctrl, data))
    buf = b""
    end = time.time() + 2
    while time.time() < end:
        buf += c.recv(512)
        i = buf.find(b"\x68")
        if i >= 0 and len(buf) >= i + 12 and len(buf) >= i + 12 + buf[i + 9]:
            f = buf[i:i + 12 + buf[i + 9]]
            assert sum(f[:-2]) & 0xFF == f[-2]
            return f[1:7][::-1].hex(), f[8], bytes((x - 0x33) & 0xFF for x in f[10:-2])
    raise AssertionError("no reply")


def main():
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(8)
    ls.settimeout(5)
    port = ls.getsockname()[1]
    p = subprocess.Popen([os.path.join(BIN, "amisim"), "--concentrators", "3", "--meters", "2",
                          "--dial", "127.0.0.1:%d" % port, "--epoch", "2025-03-14T00:00:00Z"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        seen = {}
        for _ in range(3):
            c, _ = ls.accept()
            c.settimeout(2)
            a, ctrl, data = ask(c, "aaaaaaaaaaaa", 0x13, b"")
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
        a, ctrl, _ = ask(c, "aaaaaaaaaaaa", 0x13, b"")
        assert a == "000000000002", a
        print("it_sim_dial: ok")
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
