"""A hostile concentrator for the integration tests: a TCP proxy between
amihead (which connects to it as a dlt645-tcp endpoint) and a real amisim
concentrator, that rewrites or adds to what amisim answers.

- rewrite(frame) -> bytes: each whole frame amisim sends passes through it
  (return the frame unchanged, a changed one, or b"" to drop it);
- junk(): bytes to send to amihead unasked, called every 10 ms while the
  proxy runs (b"" for none).

Test-side only, bounded: one connection at a time, stops at stop() or after
`limit_s` seconds. Not a test itself (CTest runs only it_*.py)."""
import select
import socket
import threading
import time

from dlt645wire import find_frame


class HostileProxy(threading.Thread):
    def __init__(self, upstream, rewrite=None, junk=None, limit_s=300):
        super().__init__(daemon=True)
        host, port = upstream.rsplit(":", 1)
        self.upstream = (host, int(port))
        self.rewrite = rewrite or (lambda f: f)
        self.junk = junk or (lambda: b"")
        self.limit_s = limit_s
        self.halt = threading.Event()
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(4)
        self.port = self.ls.getsockname()[1]
        self.junk_sent = 0
        self.frames = 0

    def endpoint(self):
        return f"127.0.0.1:{self.port}"

    def run(self):
        deadline = time.monotonic() + self.limit_s
        while not self.halt.is_set() and time.monotonic() < deadline:
            r, _, _ = select.select([self.ls], [], [], 0.1)
            if not r:
                continue
            down, _ = self.ls.accept()
            try:
                up = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                down.close()
                continue
            self.pump(down, up, deadline)
            down.close()
            up.close()
        self.ls.close()

    def pump(self, down, up, deadline):
        buf = b""
        next_junk = time.monotonic()
        while not self.halt.is_set() and time.monotonic() < deadline:
            r, _, _ = select.select([down, up], [], [], 0.01)
            for s in r:
                try:
                    data = s.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    return
                if s is down:
                    up.sendall(data)
                    continue
                buf += data
                while True:
                    found = find_frame(buf)
                    if not found:
                        break
                    f, i = found
                    buf = buf[i + len(f):]
                    self.frames += 1
                    out = self.rewrite(f)
                    if out:
                        down.sendall(out)
            if time.monotonic() >= next_junk:
                next_junk += 0.01
                j = self.junk()
                if j:
                    try:
                        down.sendall(j)
                    except OSError:
                        return
                    self.junk_sent += len(j)

    def stop(self):
        self.halt.set()
        self.join(timeout=10)


def reframe(f, data):
    """The frame f with its DATA replaced (33H added, CS recomputed)."""
    from dlt645wire import OFFSET
    d = bytes((x + OFFSET) & 0xFF for x in data)
    head = bytes(f[:9]) + bytes([len(d)])
    body = head + d
    return body + bytes([sum(body) & 0xFF, 0x16])
