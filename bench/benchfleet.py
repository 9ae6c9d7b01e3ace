"""make bench: amisim serving a fleet and `amihead run` collecting it, as
the fleet benchmarks (polling, latency-bound, serial) start them."""
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
os.environ.setdefault("AH_BIN", os.environ.get("BIN", os.path.join(HERE, "..", "build",
                                                                   "bin")))
from ahtest import BIN, configure, iso  # noqa: E402

EPOCH = 1741910400 + 3 * 86400


class Fleet:
    """amisim SIM_ARGS from EPOCH at SCALE writing its config to tmp, the
    head-end configured with SCHEDULE and run on amisim's clock; .sim and
    .ah are the processes (amisim's stdout a text pipe), .mport the metrics
    port, .log the head-end's log. Both are stopped on exit."""

    def __init__(self, tmp, sim_args, scale, schedule):
        self.tmp, self.sim_args, self.scale, self.schedule = tmp, sim_args, scale, schedule
        self.sim = self.ah = None

    def __enter__(self):
        self.sim = subprocess.Popen(
            [os.path.join(BIN, "amisim"), *self.sim_args, "--epoch", iso(EPOCH),
             "--time-scale", str(self.scale), "--write-config", self.tmp],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        for ln in self.sim.stdout:
            if ln.strip() == "ready":
                break
        self.yaml, self.mport = configure(self.tmp, self.schedule)
        self.log = os.path.join(self.tmp, "run.log")
        with open(self.log, "w") as lf:
            self.ah = subprocess.Popen(
                [os.path.join(BIN, "amihead"), "run", "-c", self.yaml, "--epoch", iso(EPOCH),
                 "--time-scale", str(self.scale)], stdout=subprocess.DEVNULL, stderr=lf)
        return self

    def wait_scheduler(self, timeout=120):
        """Until the head-end's scheduler starts (its " meters; store " line)."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            with open(self.log, errors="replace") as f:
                if " meters; store " in f.read():
                    return True
            time.sleep(0.05)
        return False

    def __exit__(self, *exc):
        for p in (self.ah, self.sim):
            if p:
                p.terminate()
                p.wait(timeout=120)
        return False
