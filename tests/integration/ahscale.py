"""Helpers for the scale-out tests (it_scaleout*.py): a real 3-node
nats-server cluster with JetStream and a real PostgreSQL 15 instance, both
on loopback in temporary folders with free ports, both stopped and removed
on exit. PostgreSQL refuses to run as root, so it runs as `nobody`
(setpriv, which execs: the pid we hold is the postmaster's, and a signal
to it is a signal to PostgreSQL). Not a test itself."""
import base64
import glob
import json
import socket
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

from ahtest import check, fail, free_port_block

PG_BIN = (sorted(glob.glob("/usr/lib/postgresql/*/bin")) or ["/usr/bin"])[-1]


def _as_nobody(argv):
    if os.geteuid() != 0:
        return argv
    return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--",
            *argv]


class NatsCluster:
    """Three nats-server nodes n1..n3 (client, cluster and monitor port each)."""

    def __init__(self, tmp, n=3):
        self.tmp = tmp
        self.n = n
        self.procs = {}

    def __enter__(self):
        base = free_port_block(3 * self.n)
        self.client = [base + i for i in range(self.n)]
        self.route = [base + self.n + i for i in range(self.n)]
        self.http = [base + 2 * self.n + i for i in range(self.n)]
        routes = ", ".join(f"nats-route://127.0.0.1:{p}" for p in self.route)
        for i in range(self.n):
            name = f"n{i + 1}"
            d = os.path.join(self.tmp, f"nats-{name}")
            os.makedirs(d, exist_ok=True)
            conf = os.path.join(d, "nats.conf")
            with open(conf, "w") as f:
                f.write(f"""server_name: {name}
listen: 127.0.0.1:{self.client[i]}
http: 127.0.0.1:{self.http[i]}
jetstream {{ store_dir: "{d}/js", max_memory_store: 64MB, max_file_store: 2GB }}
cluster {{ name: ami, listen: 127.0.0.1:{self.route[i]}, routes: [{routes}] }}
""")
            self.start(name)
        self.wait_healthy()
        return self

    def conf(self, name):
        return os.path.join(self.tmp, f"nats-{name}", "nats.conf")

    def start(self, name):
        log = open(os.path.join(self.tmp, f"nats-{name}", "log"), "a")
        self.procs[name] = subprocess.Popen(["nats-server", "-c", self.conf(name)],
                                            stdout=log, stderr=log)

    def kill9(self, name):
        p = self.procs[name]
        p.send_signal(signal.SIGKILL)
        p.wait()

    def urls(self):
        return ",".join(f"nats://127.0.0.1:{p}" for p in self.client)

    def _get(self, i, path):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http[i]}{path}",
                                    timeout=3) as r:
            return json.loads(r.read())

    def wait_healthy(self, timeout=60):
        """Every running node answers /healthz with ok (JetStream meta
        leader known)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ok = 0
            for i in range(self.n):
                if self.procs[f"n{i + 1}"].poll() is not None:
                    continue
                try:
                    if self._get(i, "/healthz").get("status") == "ok":
                        ok += 1
                except (OSError, ValueError):
                    pass
            if ok == sum(p.poll() is None for p in self.procs.values()):
                return
            time.sleep(0.3)
        fail("nats cluster not healthy")

    def stream_leader(self, stream, timeout=30):
        """Server name of the stream's Raft leader, from /jsz."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for i in range(self.n):
                if self.procs[f"n{i + 1}"].poll() is not None:
                    continue
                try:
                    j = self._get(i, "/jsz?accounts=true&streams=true")
                except (OSError, ValueError):
                    continue
                for acc in j.get("account_details") or []:
                    for st in acc.get("stream_detail") or []:
                        leader = (st.get("cluster") or {}).get("leader")
                        if st.get("name") == stream and leader:
                            return leader
            time.sleep(0.3)
        fail(f"no leader for stream {stream}")

    def __exit__(self, *exc):
        for p in self.procs.values():
            if p.poll() is None:
                p.terminate()
        for p in self.procs.values():
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        return False


class NatsClient:
    """Just enough of the NATS client protocol (PUB/SUB/MSG/HMSG) for the
    tests to ask the JetStream API ($JS.API...) and read stored messages."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""
        self._line()  # INFO
        self.s.sendall(b'CONNECT {"verbose":false,"headers":true}\r\n'
                       b"SUB _t.inbox 1\r\nPING\r\n")
        while self._line() != b"PONG":
            pass

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(65536)
            check(chunk, "nats: connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _take(self, n):
        while len(self.buf) < n + 2:
            chunk = self.s.recv(65536)
            check(chunk, "nats: connection closed")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def request(self, subject, payload):
        """One request/reply; the reply's payload as JSON."""
        p = json.dumps(payload).encode()
        self.s.sendall(f"PUB {subject} _t.inbox {len(p)}\r\n".encode() + p + b"\r\n")
        while True:
            f = self._line().split()
            if f[:1] == [b"PING"]:
                self.s.sendall(b"PONG\r\n")
            elif f[:1] == [b"MSG"]:
                return json.loads(self._take(int(f[-1])))
            elif f[:1] == [b"HMSG"]:
                data = self._take(int(f[-1]))
                return json.loads(data[int(f[-2]):] or b"{}")
            elif f[:1] == [b"-ERR"]:
                fail(f"nats: {f}")

    def stream_messages(self, stream):
        """Every message of the stream: (stream seq, subject, headers dict,
        payload bytes), in stream order."""
        info = self.request(f"$JS.API.STREAM.INFO.{stream}", {})
        st = info.get("state") or fail(f"stream info: {info}")
        out = []
        for seq in range(st["first_seq"], st["last_seq"] + 1):
            r = self.request(f"$JS.API.STREAM.MSG.GET.{stream}", {"seq": seq})
            m = r.get("message")
            if not m:
                continue  # deleted
            hdrs = {}
            for ln in base64.b64decode(m.get("hdrs", "")).decode().split("\r\n")[1:]:
                if ": " in ln:
                    k, v = ln.split(": ", 1)
                    hdrs[k] = v
            out.append((seq, m["subject"], hdrs, base64.b64decode(m.get("data", ""))))
        return out

    def close(self):
        self.s.close()


class Postgres:
    """PostgreSQL (Debian's, PG_BIN) as `nobody` in its own temporary
    folder, trust authentication for user ami on 127.0.0.1:port."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="ahpg.")
        self.data = os.path.join(self.dir, "data")
        self.proc = None

    def __enter__(self):
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            os.chown(self.dir, nobody.pw_uid, nobody.pw_gid)
        os.chmod(self.dir, 0o755)
        r = subprocess.run(_as_nobody([os.path.join(PG_BIN, "initdb"), "-D", self.data,
                                       "-U", "ami", "--auth=trust", "-E", "UTF8",
                                       "--no-sync"]),
                           capture_output=True, text=True, timeout=120)
        check(r.returncode == 0, f"initdb: {r.stdout[-1000:]} {r.stderr[-1000:]}")
        self.port = free_port_block(1)
        self.start()
        return self

    def conninfo(self):
        return f"host=127.0.0.1 port={self.port} user=ami dbname=postgres connect_timeout=3"

    def start(self):
        self.log = open(os.path.join(self.dir, "log"), "a")
        self.proc = subprocess.Popen(
            _as_nobody([os.path.join(PG_BIN, "postgres"), "-D", self.data, "-p",
                        str(self.port), "-k", self.dir, "-c", "listen_addresses=127.0.0.1",
                        "-c", "shared_buffers=64MB"]),
            stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            r = subprocess.run([os.path.join(PG_BIN, "pg_isready"), "-h", "127.0.0.1",
                                "-p", str(self.port)], capture_output=True)
            if r.returncode == 0:
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        with open(os.path.join(self.dir, "log")) as f:
            fail(f"postgres did not start: {f.read()[-2000:]}")

    def postmaster_pid(self):
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            return int(f.readline())

    def stop(self, sig=signal.SIGINT):
        """SIGINT = PostgreSQL's fast shutdown."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def sql(self, q):
        """Rows of q as lists of strings (psql -At, '|' separated)."""
        r = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "ami",
                            "-d", "postgres", "-At", "-F", "|", "-v", "ON_ERROR_STOP=1",
                            "-c", q], capture_output=True, text=True, timeout=60)
        check(r.returncode == 0, f"psql {q!r}: {r.stderr}")
        return [ln.split("|") for ln in r.stdout.splitlines() if ln]

    def __exit__(self, *exc):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
        return False
