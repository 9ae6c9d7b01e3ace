#!/usr/bin/python3
"""it_scaleout — two head-ends into one 3-node NATS JetStream cluster (R3
stream) and one PostgreSQL 15, through `amihead bridge` and `amihead sink`,
with every fault of issue 19 on the way, checked against the head-ends'
outboxes and amisim's truth.

Real servers only: ahscale.NatsCluster (3 nats-server nodes, JetStream,
loopback, free ports) and ahscale.Postgres (initdb + postgres as nobody).

Two amisim fleets A and B (1 concentrator x 8 meters + district meter each,
no faults, different seeds, so the SAME meter addresses carry different
values: a mix-up of head-ends shows), 360x, one day of backfill (a burst of
~850 messages per head-end in the first seconds), each read by its own
`amihead run` (head-end ids hx-a, hx-b), each with its own bridge.

Faults, in order, while the feed runs:
 1. the sink starts with the test hook AMIHEAD_SINK_DIE_AFTER_COMMIT=3: it
    SIGKILLs itself after its 3rd commit, before the ack; started again;
 2. kill -9 of bridge A during the backfill burst (mid-batch); a second
    bridge for A runs meanwhile (a stale / second writer must be refused
    by the expected-last-subject-sequence check, and never double a read);
    bridge A is started again;
 3. kill -9 of the stream's Raft leader (found through /jsz), started
    again after the others carried on;
 4. kill -9 of head-end B (`amihead run`), started again on its store;
 5. PostgreSQL stopped (fast shutdown) for 3 s, then started again.
Then both head-ends stop (SIGTERM), the bridges and the sink drain.

Two forged batches (bodies that do not match their headers; no headers)
are published straight to the stream: the sink must refuse both, with the
reason, write nothing of them and carry on.

Checks, per head-end:
- the stream itself (read back through the JetStream API): the head-end's
  batches chain 1..last with no overlap and no hole, each once, in order;
- the sink's cursor equals the head-end's last sequence (replay "info"),
  and no feed break was recorded: cursors gapless;
- every message of the head-end's outbox (replay 1..next-1) is in the
  database exactly once: reads, anomalies, gaps, district days, by seq;
- ami_reads holds every clean read the head-end stored (its RocksDB store,
  read directly: no fault bit, or released), but a meter's last few that
  a head-end holds back at its final stop; every read has the import and
  export registers of amisim's truth for THAT fleet (exact decimals);
- bridges and sink exit 0 on SIGTERM, no sanitizer report.
Prints the counts as a note.
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from decimal import Decimal

import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ahscale import NatsClient, NatsCluster, Postgres  # noqa: E402
from ahtest import store_outbox, store_reads  # noqa: E402
from ahtest import BIN, Sim, check, fail, free_port_block, iso  # noqa: E402
from ahtest import export_endpoints, main, meter_ids, run_argv, write_config  # noqa: E402

SCALE = 360
EPOCH = "2025-03-14T02:00:00Z"
STEP = 900
FAULT_BITS = (1 << 24) - 1  # vee.h bits 0..23: a validation rule's verdict
RELEASED = 1 << 27
procs = []


def amihead_bg(args, log, env=None):
    p = subprocess.Popen([os.path.join(BIN, "amihead"), *args], stdout=subprocess.DEVNULL,
                         stderr=open(log, "a"), env=env)
    procs.append(p)
    return p


def stop(p, what, want_zero=True):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            fail(f"{what} ignored SIGTERM")
    if want_zero:
        check(p.returncode == 0, f"{what}: exit {p.returncode}")


def kill9(p):
    p.send_signal(signal.SIGKILL)
    p.wait()


def replay_next(rp):
    """The head-end's next sequence (replay "info")."""
    d = zmq.Context.instance().socket(zmq.DEALER)
    d.setsockopt(zmq.LINGER, 0)
    d.connect(rp)
    d.send(b"info")
    check(d.poll(10000), "replay info: no answer")
    nxt = json.loads(d.recv_multipart()[0])["next"]
    d.close()
    return nxt


def outbox(d):
    """Every message a stopped head-end published, from its store's outbox
    (`amihead query --outbox`): {seq: body}."""
    return {seq: json.loads(body, parse_float=Decimal)
            for seq, _topic, body in store_outbox(os.path.join(d, "amihead.yaml"))}


def nats_publish(port, subject, headers, payload):
    """One message through the NATS client protocol (HPUB), for batches no
    bridge would send; PING/PONG makes sure the server has it."""
    hdr = "NATS/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    hb, pb = hdr.encode(), payload.encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.recv(4096)  # INFO
        s.sendall(b'CONNECT {"verbose":false,"headers":true}\r\n' +
                  f"HPUB {subject} {len(hb)} {len(hb) + len(pb)}\r\n".encode() + hb + pb +
                  b"\r\nPING\r\n")
        got = b""
        while b"PONG" not in got:
            chunk = s.recv(4096)
            check(chunk, f"nats closed: {got!r}")
            got += chunk
        check(b"-ERR" not in got, f"nats: {got!r}")


def clean_reads(d):
    """{meter: set of interval ends} of the reads a stopped head-end stored
    as billable: no fault bit, or released (the ones it publishes)."""
    return {m: {t for t, r in iv.items() if not r[1] & FAULT_BITS or r[1] & RELEASED}
            for m, iv in store_reads(os.path.join(d, "amihead.yaml")).items()}


class HeadEnd:
    def __init__(self, tmp, name, seed, nats_urls):
        self.name, self.seed = name, seed
        self.dir = os.path.join(tmp, name)
        os.makedirs(self.dir)
        self.fleet = ["--concentrators", "1", "--meters", "8", "--seed", str(seed)]
        self.sim = Sim(self.dir, *self.fleet, "--faults", "none", "--time-scale",
                       str(SCALE), "--epoch", EPOCH, "--write-config", self.dir)
        self.nats_urls = nats_urls

    def __enter__(self):
        self.sim.__enter__()
        self.ep, self.rp = export_endpoints()
        self.yaml, _ = write_config(self.dir, 1, self.ep, self.rp, replace=[
            ("id: amihead-sim", f"id: {self.name}"),
            ("127.0.0.1:9464", f"127.0.0.1:{free_port_block(1)}")])
        self.bridge_yaml = os.path.join(self.dir, "bridge.yaml")
        with open(self.bridge_yaml, "w") as f:
            f.write(f"headend: {self.name}\nfeed: {self.ep}\nreplay: {self.rp}\n"
                    f"nats: {self.nats_urls}\nbatch_max: 64\nbatch_ms: 20\n")
        self.start = self.sim.sim_now()
        self.run = self.start_run(self.start)
        return self

    def start_run(self, epoch):
        return amihead_bg(run_argv(self.yaml, SCALE, epoch)[1:],
                          os.path.join(self.dir, "run.log"))

    def bridge(self, tag):
        return amihead_bg(["bridge", "-c", self.bridge_yaml],
                          os.path.join(self.dir, f"bridge-{tag}.log"))

    def __exit__(self, *exc):
        if self.run.poll() is None:
            kill9(self.run)
        self.sim.__exit__(*exc)
        return False


def wait_for(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.3)
    fail(f"timed out: {what}")


def log_text(path):
    with open(path) as f:
        return f.read()


def run(tmp):
    stream_batches = {}
    with NatsCluster(tmp) as nc, Postgres() as pg:
        sink_yaml = os.path.join(tmp, "sink.yaml")
        with open(sink_yaml, "w") as f:
            f.write(f"nats: {nc.urls()}\npostgres: \"{pg.conninfo()}\"\n"
                    "ack_wait_ms: 2000\nfetch: 16\n")
        sink_log = os.path.join(tmp, "sink.log")
        env = dict(os.environ, AMIHEAD_SINK_DIE_AFTER_COMMIT="3")
        sink = amihead_bg(["sink", "-c", sink_yaml], sink_log, env=env)

        with HeadEnd(tmp, "hx-a", 1, nc.urls()) as a, \
                HeadEnd(tmp, "hx-b", 2, nc.urls()) as b:
            ba = a.bridge("1")
            bb = b.bridge("1")

            def cursor(h):
                r = pg.sql(f"SELECT last_seq FROM ami_cursor WHERE headend = '{h}'")
                return int(r[0][0]) if r else 0

            # 1. the sink kills itself between commit and ack
            wait_for(lambda: sink.poll() is not None, 60, "sink test hook")
            check(sink.returncode == -signal.SIGKILL, f"sink exit {sink.returncode}")
            sink = amihead_bg(["sink", "-c", sink_yaml], sink_log)

            # batches no bridge would send: bodies that do not match their
            # headers, and no headers at all; both are refused, nothing of
            # them is written, and the real head-ends are not held up
            forged = ('[{"type":"read","headend":"hx-z","seq":1,"end":"2025-03-14T00:00:00Z"},'
                      '{"type":"read","headend":"hx-z","seq":3,"end":"2025-03-14T00:15:00Z"}]')
            nats_publish(nc.client[0], "ami.feed.hx-z",
                         {"Ami-Headend": "hx-z", "Ami-Prev": "0", "Ami-First": "1",
                          "Ami-Last": "2"}, forged)
            nats_publish(nc.client[1], "ami.feed.hx-z", {"X": "y"}, "garbage")

            # 2. a second bridge for A beside the first: each batch is
            # stored once (the other's copy is a duplicate or refused); then
            # kill -9 of bridge A while it publishes, and a restart
            wait_for(lambda: cursor("hx-a") > 0, 60, "first batches of A")
            ba2 = a.bridge("second")
            time.sleep(5)
            stop(ba2, "second bridge A")
            kill9(ba)
            ba = a.bridge("2")

            # 3. kill -9 the stream leader, start it again later
            leader = nc.stream_leader("AMI")
            nc.kill9(leader)
            time.sleep(3)
            nc.start(leader)

            # 4. kill -9 head-end B, start it again on its store
            kill9(b.run)
            time.sleep(1)
            b.run = b.start_run(b.sim.sim_now())

            # 5. PostgreSQL restarted under the sink
            time.sleep(2)
            pm = pg.postmaster_pid()
            pg.stop()
            time.sleep(3)
            pg.start()
            check(pg.postmaster_pid() != pm, "postgres did not restart")
            nc.wait_healthy()

            # every fault behind: the feed catches up with what each head-end
            # has published by now, while both still run
            time.sleep(4)
            for h in (a, b):
                nxt = replay_next(h.rp)
                wait_for(lambda: cursor(h.name) >= nxt - 1, 90,
                         f"sink cursor of {h.name} at {nxt - 1} (now {cursor(h.name)})")
            # both head-ends stop; their last messages reach the database
            for h in (a, b):
                stop(h.run, f"amihead run {h.name}")
            want = {h.name: outbox(h.dir) for h in (a, b)}
            for h in (a, b):
                last = len(want[h.name])
                check(sorted(want[h.name]) == list(range(1, last + 1)),
                      f"{h.name}: outbox not 1..{last}")
                wait_for(lambda: cursor(h.name) == last, 30,
                         f"sink cursor of {h.name} at {last} (now {cursor(h.name)})")
            stop(ba, "bridge A")
            stop(bb, "bridge B")

            # the stream itself holds every message of each head-end once,
            # in order: its batches chain first = previous last + 1, from 1
            # to the head-end's last, each one's Ami-Prev the one before
            nc_client = NatsClient(nc.client[2])
            stored = nc_client.stream_messages("AMI")
            nc_client.close()
            for h in (a, b):
                chain = [(int(hd["Ami-Prev"]), int(hd["Ami-First"]), int(hd["Ami-Last"]),
                          data) for _, subj, hd, data in stored
                         if subj == f"ami.feed.{h.name}"]
                check(chain, f"{h.name}: nothing in the stream")
                last = 0
                for prev, first, lst, data in chain:
                    check(prev == last and first == last + 1,
                          f"{h.name}: stream batch {first}-{lst} after {last} (prev {prev})")
                    bodies = json.loads(data)
                    check([x["seq"] for x in bodies] == list(range(first, lst + 1)),
                          f"{h.name}: batch {first}-{lst} bodies out of order")
                    last = lst
                check(last == len(want[h.name]),
                      f"{h.name}: stream ends at {last}, outbox at {len(want[h.name])}")
                stream_batches[h.name] = len(chain)
            stop(sink, "sink")
            logs = [os.path.join(h.dir, f) for h in (a, b) for f in os.listdir(h.dir)
                    if f.startswith("bridge-")] + [sink_log]
            for path in logs:
                check("Sanitizer" not in log_text(path), f"{path}: {log_text(path)[-3000:]}")
            alog = "".join(log_text(p) for p in logs if "hx-a" in p)
            check("refused" in alog or "already stored" in alog,
                  "two bridges for hx-a never met: the test did not test")
            last = log_text(sink_log).strip().splitlines()[-1]
            check(re.search(r" [1-9]\d* reconnects", last),
                  f"the sink never met the PostgreSQL restart: {last}")
            truth = {h.name: h.fleet for h in (a, b)}
            clean = {h.name: clean_reads(h.dir) for h in (a, b)}
            meters = {h.name: meter_ids(h.dir) for h in (a, b)}

        for table in ("ami_reads", "ami_cursor", "ami_anomalies", "ami_gaps",
                      "ami_district_days", "ami_feed_breaks"):
            check(pg.sql(f"SELECT count(*) FROM {table} WHERE headend = 'hx-z'") == [["0"]],
                  f"a forged batch reached {table}")
        slog = log_text(sink_log)
        check(" rejected: element 1: seq is not 2" in slog and
              "rejected: Ami-* headers missing" in slog,
              f"forged batches not rejected with their reasons: {slog[-2000:]}")
        check(pg.sql("SELECT count(*) FROM ami_feed_breaks") == [["0"]],
              f"feed breaks: {pg.sql('SELECT * FROM ami_feed_breaks')}")
        note = []
        for h, msgs in want.items():
            check(cursor(h) == len(msgs), f"{h}: cursor {cursor(h)}, want {len(msgs)}")
            tables = {"read": "ami_reads", "anomaly": "ami_anomalies", "gap": "ami_gaps",
                      "daily": "ami_district_days"}
            counts = {}
            for typ, table in tables.items():
                rows = pg.sql(f"SELECT seq FROM {table} WHERE headend = '{h}'")
                seqs = [int(r[0]) for r in rows]
                exp = sorted(s for s, m in msgs.items() if m["type"] == typ)
                check(sorted(seqs) == exp,
                      f"{h} {table}: {len(seqs)} rows ({len(set(seqs))} distinct), "
                      f"outbox has {len(exp)}; missing {sorted(set(exp) - set(seqs))[:5]}")
                counts[typ] = len(seqs)
            check(sum(counts.values()) == len(msgs), f"{h}: unknown message types")
            check(counts["read"] > 500, f"{h}: only {counts['read']} reads")

            # every interval of every meter once, values from amisim's truth
            rows = pg.sql("SELECT meter, extract(epoch FROM interval_end)::bigint, "
                          "import_kwh, export_kwh, quality FROM ami_reads "
                          f"WHERE headend = '{h}'")
            got = {}
            for m, t, imp, exp_kwh, q in rows:
                check((m, int(t)) not in got, f"{h}: {m} {t} twice")
                got[(m, int(t))] = (Decimal(imp), Decimal(exp_kwh), int(q))
            lo = min(t for _, t in got)
            hi = max(t for _, t in got)
            ser = subprocess.run([os.path.join(BIN, "amisim"), *truth[h], "--series",
                                  f"{iso(lo)},{iso(hi)}"], capture_output=True,
                                 text=True, timeout=60, check=True).stdout
            series = {}
            for line in ser.splitlines():
                s = json.loads(line)
                series[(s["meter"], s["t_s"])] = s["true"]
            for m in meters[h]:
                ends = sorted(t for mm, t in got if mm == m)
                # every clean read the head-end stored is in the database
                # (but a meter's last few, which the head-end may hold back
                # at its final stop: docs/operations.md)
                mine = clean[h].get(m, {})
                held = [t for t in mine if (m, t) not in got]
                check(all(t > max(mine) - 3 * STEP for t in held),
                      f"{h} {m}: clean reads not in the database: "
                      f"{[iso(t) for t in sorted(held)[:5]]}")
                for t in ends:
                    imp, exp_kwh, q = got[(m, t)]
                    tr = series[(m, t)]
                    check(imp == Decimal(tr["fwd"]) / 100 and
                          exp_kwh == Decimal(tr["rev"]) / 100,
                          f"{h} {m} {iso(t)}: {imp}/{exp_kwh} kWh, amisim's truth "
                          f"{tr['fwd']}/{tr['rev']} x 0.01")
                    check(q & ((1 << 24) - 1) == 0, f"{h} {m} {iso(t)}: quality {q:#x}")
            note.append(f"{h}: {len(msgs)} messages ({counts}), {len(got)} reads of "
                        f"{len(meters[h])} meters, cursor {cursor(h)}")
        batches = pg.sql("SELECT headend, batches FROM ami_cursor ORDER BY 1")
        print("note: " + "; ".join(note) + f"; batches applied {batches}, "
              f"in the stream {stream_batches} (each message once, in order)")
        print("note: " + log_text(sink_log).strip().splitlines()[-1])


if __name__ == "__main__":
    try:
        main("it_scaleout", run)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
