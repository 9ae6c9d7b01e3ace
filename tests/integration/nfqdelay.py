#!/usr/bin/python3
"""nfqdelay — hold packets for delay ± jitter at the packet level, the part
of tc netem this kernel lacks (no sch_netem; nft's `queue` expression is not
built either, but iptables' NFQUEUE target and nfnetlink_queue are).

An iptables rule (`-j NFQUEUE --queue-num N --queue-bypass`) hands matching
packets to this program over nfnetlink; each is held for
delay + uniform(-jitter, +jitter) ms and then accepted. Verdicts are issued
by due time, not by arrival, so with jitter larger than the gap between
packets they leave out of order: the kernel's TCP sees real reordering,
duplicate ACKs and retransmits. Not a test itself (CTest runs it_*);
it_link_faults runs it inside its network namespace.

  nfqdelay.py --queue N --delay-ms D [--jitter-ms J] [--seed S]

Prints "bound" once the queue is bound, and on SIGTERM (after releasing
every held packet at its due time) one JSON line of counts: packets held,
packets that left before one that arrived earlier (overtakers), the
largest hold. Only the standard library: the nfnetlink messages are
packed here (linux/netfilter/nfnetlink_queue.h).
"""
import argparse
import ctypes
import heapq
import json
import random
import select
import signal
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET, NFQNL_MSG_VERDICT, NFQNL_MSG_CONFIG = 0, 1, 2
NFQA_PACKET_HDR = 1
NFQA_VERDICT_HDR = 2
NFQA_CFG_CMD, NFQA_CFG_PARAMS, NFQA_CFG_QUEUE_MAXLEN = 1, 2, 3
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_META = 1
NLM_F_REQUEST, NLM_F_ACK = 1, 4
NLMSG_ERROR = 2
NF_ACCEPT = 1


def attr(kind, payload):
    n = 4 + len(payload)
    return struct.pack("=HH", n, kind) + payload + b"\0" * ((4 - n % 4) % 4)


def message(msg, queue, attrs, flags=NLM_F_REQUEST, seq=0):
    # nfgenmsg: family, version, res_id (the queue number, big-endian)
    body = struct.pack("=BB", socket.AF_UNSPEC, 0) + struct.pack("!H", queue) + attrs
    return struct.pack("=IHHII", 16 + len(body), (NFNL_SUBSYS_QUEUE << 8) | msg,
                       flags, seq, 0) + body


def messages(buf):
    off = 0
    while off + 16 <= len(buf):
        n, kind, _, _, _ = struct.unpack_from("=IHHII", buf, off)
        if n < 16:
            break
        yield kind, buf[off + 16:off + n]
        off += (n + 3) & ~3


def attrs(body):
    off = 4  # past nfgenmsg
    while off + 4 <= len(body):
        n, kind = struct.unpack_from("=HH", body, off)
        if n < 4:
            break
        yield kind & 0x3fff, body[off + 4:off + n]
        off += (n + 3) & ~3


def configure(sock, queue):
    """Bind the queue, ask for metadata only, room for 8,192 held packets;
    each request acknowledged (an error here means no NFQUEUE support)."""
    reqs = [attr(NFQA_CFG_CMD, struct.pack("=BB", NFQNL_CFG_CMD_BIND, 0) + struct.pack("!H", 0)),
            attr(NFQA_CFG_PARAMS, struct.pack("!IB", 0, NFQNL_COPY_META)),
            attr(NFQA_CFG_QUEUE_MAXLEN, struct.pack("!I", 8192))]
    for seq, a in enumerate(reqs, 1):
        sock.send(message(NFQNL_MSG_CONFIG, queue, a, NLM_F_REQUEST | NLM_F_ACK, seq))
        for kind, body in messages(sock.recv(65536)):
            if kind == NLMSG_ERROR:
                err = struct.unpack_from("=i", body)[0]
                if err:
                    sys.exit(f"nfqdelay: queue {queue} config step {seq}: errno {-err}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--queue", type=int, required=True)
    ap.add_argument("--delay-ms", type=float, required=True)
    ap.add_argument("--jitter-ms", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    # a test that fails half way never stops us: go with it (PR_SET_PDEATHSIG)
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):
        pass

    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind((0, 0))
    configure(sock, a.queue)
    print("bound", flush=True)

    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    held = []          # heap of (due, arrival number, packet id)
    arrived = 0
    overtakers = 0
    max_hold = 0.0
    while True:
        now = time.monotonic()
        while held and held[0][0] <= now:
            due, n, pid, t_in = heapq.heappop(held)
            sock.send(message(NFQNL_MSG_VERDICT, a.queue,
                              attr(NFQA_VERDICT_HDR, struct.pack("!II", NF_ACCEPT, pid))))
            # a packet leaving while one that came before it is still held
            if any(h[1] < n for h in held):
                overtakers += 1
            max_hold = max(max_hold, now - t_in)
        if stopping and not held:
            break
        timeout = max(0.0, held[0][0] - now) if held else 0.2
        try:
            ready, _, _ = select.select([sock], [], [], timeout)
        except InterruptedError:
            continue
        if not ready:
            continue
        try:
            buf = sock.recv(1 << 16)
        except OSError as e:  # ENOBUFS: the kernel dropped messages; keep going
            print(f"nfqdelay: recv: {e}", file=sys.stderr, flush=True)
            continue
        t_in = time.monotonic()
        for kind, body in messages(buf):
            if kind != (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
                continue
            for k, v in attrs(body):
                if k == NFQA_PACKET_HDR:
                    pid = struct.unpack_from("!I", v)[0]
                    hold = max(0.0, a.delay_ms + rng.uniform(-a.jitter_ms, a.jitter_ms)) / 1e3
                    heapq.heappush(held, (t_in + hold, arrived, pid, t_in))
                    arrived += 1
    print(json.dumps({"held": arrived, "overtakers": overtakers,
                      "max_hold_ms": round(max_hold * 1e3, 1)}), flush=True)


if __name__ == "__main__":
    main()
