#!/usr/bin/python3
"""it_link_faults_delay — delay and jitter with reordering on a real
network path between amihead and amisim (issue 17's link-fault matrix;
linkfaults.py has the namespace and the checks, it_link_faults loss and
the partition). iptables hands the concentrator port's packets (both
ways) to nfqdelay.py over NFQUEUE, which holds each one and accepts it
later; the kernel has no sch_netem for tc netem.

  phase     simulated   each packet held
  delay     2 h         200 ms         (a request's round trip >= 400 ms)
  jitter    2 h         200 ± 150 ms   (packets overtake each other)
  recovery  2.5 h       none

1 concentrator x 4 meters at 720x, one-day backfill. Afterwards every
interval of the backfill window is stored once, registers equal to
amisim's. The jitter phase must show real reordering: packets that left
before one that came earlier (nfqdelay's count) and segments the
receiving TCP queued out of order (TCPOFOQueue in the namespace).
Needs root, `ip netns`, nft, iptables; skipped otherwise.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ahtest import check, main  # noqa: E402
from linkfaults import run_matrix  # noqa: E402

MTU = 100  # 48 bytes of payload a segment: most replies leave in pieces
PHASES = [("healthy", 3600, None),
          ("delay", 7200, {"delay_ms": 200}),
          ("healthy2", 1800, None),
          ("jitter", 7200, {"delay_ms": 200, "jitter_ms": 150}),
          ("recovery", 9000, None)]


def run(tmp):
    res = run_matrix(tmp, PHASES, 720, "2025-03-14T00:00:00Z", mtu=MTU)
    if res is None:
        return
    _, stats = res
    d, j = stats["delay"], stats["jitter"]
    check(d["held"] > 0 and d["max_hold_ms"] >= 190, f"delay phase held nothing: {d}")
    check(j["held"] > 0 and j["overtakers"] > 0, f"jitter reordered no packet: {j}")
    check(j["ofo_queued"] > 0, f"no segment reached TCP out of order: {j}")
    print(f"complete after 200 ms delay ({d['held']} packets held) and 200 ± 150 ms "
          f"jitter ({j['held']} held, {j['overtakers']} overtook an earlier one, "
          f"{j['ofo_queued']} queued out of order, {j['retrans']} retransmitted)")


if __name__ == "__main__":
    main("it_link_faults_delay", run)
