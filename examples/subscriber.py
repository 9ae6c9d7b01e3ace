#!/usr/bin/python3
"""amihead export subscriber for billing integrators (docs/wire-format.md).

Same behaviour as `amihead tail`: subscribes to the PUB endpoint, detects
sequence gaps (one counter across all topics) and fills them from the
replay endpoint, and prints every message once, in sequence order, as one
JSON line. When nothing arrives for a while it asks the replay endpoint
for "info" and fetches anything it has not seen. Needs python3-zmq
(Debian); run with /usr/bin/python3.

  subscriber.py --endpoint tcp://127.0.0.1:5556 --replay tcp://127.0.0.1:5557 \
      [--from-seq N] [--topic read/] [--server-key FILE --client-key FILE.key_secret]
      [--until-seq N] [--count N]
"""
import argparse
import json
import sys

import zmq

MAX_PER_REQUEST = 1000  # WIRE_REPLAY_MAX_COUNT


def load_key(arg):
    """A Z85 key given inline (40 characters) or in a key file."""
    if len(arg) == 40:
        return arg.encode()
    with open(arg) as f:
        return f.read().strip().encode()


class Subscriber:
    def __init__(self, a):
        self.ctx = zmq.Context()
        self.topic = (a.topic or "").encode()
        self.sub = self.ctx.socket(zmq.SUB)
        self.dealer = self.ctx.socket(zmq.DEALER) if a.replay else None
        for s in (self.sub, self.dealer):
            if s is None:
                continue
            s.setsockopt(zmq.LINGER, 0)
            if a.server_key:
                secret = load_key(a.client_key)
                s.curve_serverkey = load_key(a.server_key)
                s.curve_secretkey = secret
                s.curve_publickey = zmq.curve_public(secret)
        self.sub.setsockopt(zmq.SUBSCRIBE, self.topic)
        self.sub.connect(a.endpoint)
        if self.dealer:
            self.dealer.connect(a.replay)
        self.expect = a.from_seq or 0
        self.lost = 0
        self.timeout_ms = 2000

    def request(self, req, first=None):
        """Send one request, return (header, [(topic, body), ...]) or None."""
        self.dealer.send(req.encode())
        poller = zmq.Poller()
        poller.register(self.dealer, zmq.POLLIN)
        while poller.poll(self.timeout_ms):
            frames = self.dealer.recv_multipart()
            hdr = json.loads(frames[0])
            if first is not None and hdr.get("status") == "ok" and hdr.get("first") != first:
                continue  # a late answer to an earlier request
            if first is None and len(frames) != 1:
                continue
            pairs = list(zip(frames[1::2], frames[2::2]))
            return hdr, pairs
        return None

    def fill(self, last):
        """Messages expect..last from replay, in order, filtered by topic."""
        out = []
        while self.expect <= last:
            hi = min(last, self.expect + MAX_PER_REQUEST - 1)
            r = self.request(f"replay {self.expect} {hi}", self.expect)
            if r is None:
                raise TimeoutError("replay endpoint did not answer")
            hdr, pairs = r
            if hdr["status"] == "ok":
                for i, (t, b) in enumerate(pairs):
                    if json.loads(b)["seq"] != hdr["first"] + i:
                        raise ValueError("replay out of order")
                    if t.startswith(self.topic):
                        out.append((t, b))
                self.expect = hdr["last"] + 1
            elif hdr["status"] == "expired" and hdr["oldest"] > self.expect:
                print(f"subscriber: {self.expect}..{hdr['oldest'] - 1} expired",
                      file=sys.stderr)
                self.lost += hdr["oldest"] - self.expect
                self.expect = hdr["oldest"]
            else:
                raise RuntimeError(f"replay refused: {hdr}")
        return out

    def catch_up(self):
        r = self.request("info")
        if r is None:
            return []
        hdr = r[0]
        if self.expect == 0:
            self.expect = hdr["next"]
        return self.fill(hdr["next"] - 1) if hdr["next"] > self.expect else []

    def messages(self):
        """Yield (topic, body bytes) in sequence order, each once."""
        if self.dealer and self.expect:
            yield from self.catch_up()
        while True:
            if not self.sub.poll(500):
                if self.dealer and self.expect:
                    yield from self.catch_up()
                continue
            topic, body = self.sub.recv_multipart()
            seq = json.loads(body)["seq"]
            if self.expect == 0:
                self.expect = seq
            if seq < self.expect:
                continue  # already delivered through replay
            if seq > self.expect:
                if self.dealer:
                    yield from self.fill(seq - 1)
                else:
                    self.lost += seq - self.expect
            self.expect = seq + 1
            yield topic, body


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--endpoint", required=True)
    p.add_argument("--replay")
    p.add_argument("--from-seq", type=int, default=0)
    p.add_argument("--topic", default="")
    p.add_argument("--server-key")
    p.add_argument("--client-key", help="this subscriber's NAME.key_secret")
    p.add_argument("--until-seq", type=int, default=0)
    p.add_argument("--count", type=int, default=0)
    a = p.parse_args()
    if bool(a.server_key) != bool(a.client_key):
        p.error("--server-key and --client-key go together")
    s = Subscriber(a)
    n = 0
    try:
        for topic, body in s.messages():
            sys.stdout.write(body.decode() + "\n")
            sys.stdout.flush()
            n += 1
            seq = json.loads(body)["seq"]
            if (a.until_seq and seq >= a.until_seq) or (a.count and n >= a.count):
                break
    except KeyboardInterrupt:
        pass
    return 3 if s.lost else 0


if __name__ == "__main__":
    sys.exit(main())
