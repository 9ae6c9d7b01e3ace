#!/usr/bin/python3
"""it_link_faults — packet loss and a partition on a real network path
between amihead and amisim (issue 17's link-fault matrix; linkfaults.py
has the namespace and the checks; it_link_faults_delay has delay and
jitter):

  phase     simulated   nftables rule on the concentrator's port
  loss      2 h         numgen random mod 10 0 drop   (10 % of packets, both ways)
  partition 2 h         drop                          (every packet)
  recovery  2.5 h       none

1 concentrator x 4 meters at 720x, one-day backfill. Afterwards every
interval of the backfill window is stored once, registers equal to
amisim's. Needs root, `ip netns`, nft; skipped otherwise.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ahtest import check, main  # noqa: E402
from linkfaults import run_matrix  # noqa: E402

PHASES = [("healthy", 3600, None),
          ("loss", 7200, {"nft": "numgen random mod 10 0 drop"}),
          ("healthy2", 1800, None),
          ("partition", 7200, {"nft": "drop"}),
          ("recovery", 9000, None)]


def run(tmp):
    res = run_matrix(tmp, PHASES, 720, "2025-03-14T00:00:00Z")
    if res is None:
        return
    err, stats = res
    timeouts = err.count("no valid reply")
    check(timeouts >= 1, f"the partition failed no request: were the rules applied? "
          f"{err[-2000:]}")
    check(stats["loss"]["retrans"] > 0, f"10 % loss retransmitted nothing: {stats}")
    print(f"complete after 10 % loss ({stats['loss']['retrans']} segments retransmitted) "
          f"and a 2 h partition ({timeouts} failed-request lines logged)")


if __name__ == "__main__":
    main("it_link_faults", run)
