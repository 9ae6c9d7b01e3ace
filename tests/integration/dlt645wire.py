"""DL/T 645 on the wire, as the integration tests' master side sees it:
build a request frame (FE wake-up, +33H data, CS), find and decode the
frames a concentrator sends back, BCD values, time fields, load-record
blocks, and a socket read that stops at the first whole frame.

Test-side only: it judges nothing by itself (the tests assert) and starts
no process (ahtest.py does that). Clause references are to
reference/protocols.md."""
import socket
import time

PREAMBLE = b"\xfe" * 4  # master wakes the receiver with 4 x FE (§1.2)
START, END = 0x68, 0x16  # frame start and end bytes (§1.2)
OFFSET = 0x33  # every DATA byte +33H on transmit, -33H on receive (§1.2)
HEADER = 10  # 68 A0..A5 68 C L (§1.2)
MIN_FRAME = HEADER + 2  # header, CS and 16 around an empty DATA field
WILDCARD = "aaaaaaaaaaaa"  # 13H read address goes to AA..AA (§1.3, §1.4)


def bcd(n):
    """One packed-BCD byte for 0..99 (§2.2)."""
    return ((n // 10) << 4) | (n % 10)


def bcd_le(b, sign=False):
    """Packed BCD, low byte first (§2.2); with sign, the top bit of the
    last byte is the minus sign."""
    b = bytearray(b)
    neg = bool(sign and b[-1] & 0x80)
    if neg:
        b[-1] &= 0x7F
    v = int(bytes(b[::-1]).hex())
    return -v if neg else v


def di_bytes(di):
    """A 2007 DI as sent: DI0 first (§2.1)."""
    return di.to_bytes(4, "little")


def frame(addr, c, data):
    """The request a master sends: FE wake-up, 68 A0..A5 68 C L DATA CS 16
    with the address low byte first and DATA +33H (§1.2)."""
    a = bytes.fromhex(addr)[::-1]
    d = bytes((x + OFFSET) & 0xFF for x in data)
    f = bytes([START]) + a + bytes([START, c, len(d)]) + d
    return PREAMBLE + f + bytes([sum(f) & 0xFF, END])


def cs_ok(f):
    """CS is the byte sum from the first 68 to before CS; 16 ends (§1.2)."""
    return sum(f[:-2]) & 0xFF == f[-2] and f[-1] == END


def find_frame(buf, check=True):
    """The first whole frame in buf, skipping any bytes before its 68
    (§1.2: a parser skips leading bytes until 68), as (frame, offset);
    None when buf holds none yet. With check, frames with a bad CS or end
    byte are passed over."""
    i = buf.find(bytes([START]))
    while i >= 0 and len(buf) - i >= MIN_FRAME:
        if buf[i + 7] == START:
            n = MIN_FRAME + buf[i + 9]
            if len(buf) - i < n:
                return None
            f = buf[i:i + n]
            if not check or cs_ok(f):
                return f, i
        i = buf.find(bytes([START]), i + 1)
    return None


def decode(f):
    """(address, control code, DATA with 33H taken off) of one frame."""
    return (f[1:7][::-1].hex(), f[8],
            bytes((x - OFFSET) & 0xFF for x in f[HEADER:-2]))


def parse(buf):
    """decode() of the first frame in buf with a good CS, or None."""
    found = find_frame(buf)
    return decode(found[0]) if found else None


def tm5(local_s):
    """mm hh DD MM YY (YYMMDDhhmm sent low byte first, §2.1, §2.9) of
    meter-local seconds."""
    t = time.gmtime(local_s)
    return bytes([bcd(t.tm_min), bcd(t.tm_hour), bcd(t.tm_mday), bcd(t.tm_mon),
                  bcd(t.tm_year % 100)])


def hms_s(b):
    """Seconds of the day from ss mm hh (hhmmss low byte first, §2.7)."""
    return bcd_le(b[2:3]) * 3600 + bcd_le(b[1:2]) * 60 + bcd_le(b[0:1])


def recv_frame(sock, timeout, check=True):
    """Read sock until it holds a whole frame (see find_frame), the peer
    closes, or timeout seconds pass: (bytes read, whether it closed)."""
    buf = b""
    end = time.time() + timeout
    closed = False
    while time.time() < end:
        sock.settimeout(max(0.01, end - time.time()))
        try:
            chunk = sock.recv(4096)
        except socket.timeout:
            break
        except ConnectionResetError:
            closed = True
            break
        if not chunk:
            closed = True
            break
        buf += chunk
        if find_frame(buf, check):
            break
    return buf, closed


def load_records(payload):
    """Load-record blocks of a 06000001 reply after its DI (§2.9), classes
    1..4 enabled: record time, phase voltages (0.1 V) and currents (mA,
    signed; None where FF-filled), forward and reverse active (0.01 kWh).
    Asserts each block's A0 A0 start, CS and E5 end."""
    out = []
    i = 0
    while i < len(payload):
        assert payload[i:i + 2] == b"\xa0\xa0", payload[i:].hex()
        ll = payload[i + 2]
        rec = payload[i:i + 3 + ll]
        assert sum(rec) & 0xFF == payload[i + 3 + ll] and payload[i + 4 + ll] == 0xE5
        body = rec[8:]
        volts = [None if body[2 * j:2 * j + 2] == b"\xff\xff"
                 else bcd_le(body[2 * j:2 * j + 2]) for j in range(3)]
        curr = [None if body[6 + 3 * j:9 + 3 * j] == b"\xff\xff\xff"
                else bcd_le(body[6 + 3 * j:9 + 3 * j], True) for j in range(3)]
        # class 1: 3 V (2) 3 I (3) f (2) AA; class 2: 8 x 3 AA; class 3: 4 x 2 AA
        k = 6 + 9 + 2 + 1 + 24 + 1 + 8 + 1
        out.append({"t": rec[3:8], "fwd": bcd_le(body[k:k + 4]),
                    "rev": bcd_le(body[k + 4:k + 8]), "volt": volts, "curr": curr})
        i += 5 + ll
    return out


class Link:
    """A master on one TCP connection to a concentrator."""

    def __init__(self, sock, timeout=1.5):
        self.s = sock
        self.timeout = timeout

    @classmethod
    def connect(cls, port, timeout=1.5):
        return cls(socket.create_connection(("127.0.0.1", port), timeout=3), timeout)

    def ask(self, addr, c, data, timeout=None):
        """Send one request; decode() of the reply, or None on silence."""
        self.s.sendall(frame(addr, c, data))
        buf, _ = recv_frame(self.s, self.timeout if timeout is None else timeout)
        return parse(buf)

    def read(self, addr, di, extra=b""):
        """11H read with 12H follow-ups (§1.6): (last control code, DATA
        after the DI), or (control code, DATA) of an abnormal reply."""
        p = self.ask(addr, 0x11, di_bytes(di) + extra)
        assert p, "no reply to %08X from %s" % (di, addr)
        _, c, data = p
        assert data[:4] == di_bytes(di) or c & 0x40, data.hex()
        if c & 0x40:
            return c, data
        payload = data[4:]
        seq = 0
        while c & 0x20:
            seq += 1
            p = self.ask(addr, 0x12, di_bytes(di) + bytes([seq]))
            assert p, "no follow-up %d" % seq
            _, c, data = p
            assert c & 0x1F == 0x12 and data[-1] == seq, (hex(c), data.hex())
            payload += data[4:-1]
        return c, payload

    def value(self, addr, di, extra=b""):
        """read() that must end in a normal reply: the DATA after the DI."""
        c, payload = self.read(addr, di, extra)
        assert not c & 0x40, "abnormal reply to %08X: %s" % (di, payload.hex())
        return payload
