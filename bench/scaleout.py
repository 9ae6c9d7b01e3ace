#!/usr/bin/python3
"""make bench, scale-out part: starts a real 3-node nats-server cluster
(JetStream) and PostgreSQL 15 on loopback in temporary folders
(tests/integration/ahscale.py), runs build/bin/scaleout_bench against them
and removes everything again."""
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from ahscale import NatsCluster, Postgres  # noqa: E402

BIN = os.environ.get("BIN", os.path.join(HERE, "..", "build", "bin"))

tmp = tempfile.mkdtemp(prefix="scaleout_bench.")
try:
    with NatsCluster(tmp) as nc, Postgres() as pg:
        env = dict(os.environ, AH_NATS_URLS=nc.urls(), AH_PG_CONNINFO=pg.conninfo())
        rc = subprocess.run([os.path.join(BIN, "scaleout_bench")], env=env,
                            timeout=600).returncode
finally:
    shutil.rmtree(tmp, ignore_errors=True)
sys.exit(rc)
