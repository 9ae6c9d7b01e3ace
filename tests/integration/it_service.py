#!/usr/bin/python3
"""it_service — amihead as a systemd service (issue 18 #1).

Install: `make install PREFIX=…` (cmake --install of the release tree
configured for a temporary prefix) puts binaries, man pages, completion,
config and unit under the prefix, the unit and config pointing there; the
man page (made from --help) covers SIGHUP, report and --log-format.

Package: the release tree (AH_RELEASE_BIN/..) is configured for /usr and
packed by CPack into a temporary directory; `dpkg-deb -c` must list the
binaries, both man pages, bash completion, the unit, the two conffiles and
/var/lib/amihead; the control archive carries conffiles and the maintainer
scripts that make the `amihead` user. The unit, inside the unpacked
package (a root with the host's own units beside it), must pass
`systemd-analyze verify` without a word; a copy with a typo must not (the
check can fail).

Notify: `amihead run` with NOTIFY_SOCKET on a datagram socket of the test
and WATCHDOG_USEC=1.5 s sends READY=1 (with MAINPID) once collecting,
WATCHDOG=1 at least every 0.5 s, STATUS= with the cycle count and the
completeness, RELOADING=1 then READY=1 on SIGHUP, STOPPING=1 on SIGTERM.
"""
import os
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ahtest import Sim, check, fail  # noqa: E402
from ahtest import export_endpoints, main, run_argv, write_config  # noqa: E402

SRC = os.environ.get("AH_SRC", os.path.join(os.path.dirname(__file__), "..", ".."))
RELEASE = os.path.dirname(os.environ.get("AH_RELEASE_BIN",
                                         os.path.join(SRC, "build", "bin")))


def package(tmp):
    check(os.path.exists(os.path.join(RELEASE, "CMakeCache.txt")),
          f"no release tree at {RELEASE} (make build)")
    # make install PREFIX=…: everything under the prefix, paths in the
    # unit and the config pointing there
    inst = os.path.join(tmp, "inst")
    for argv in (["cmake", "-S", SRC, "-B", RELEASE, f"-DCMAKE_INSTALL_PREFIX={inst}"],
                 ["cmake", "--build", RELEASE, "--target", "amihead", "amisim", "manpages"],
                 ["cmake", "--install", RELEASE]):
        r = subprocess.run(argv, capture_output=True, text=True)
        check(r.returncode == 0, f"{argv}: {r.stdout[-1500:]}{r.stderr[-1500:]}")
    for want in ("bin/amihead", "bin/amisim", "etc/amihead/amihead.yaml",
                 "etc/amihead/meters.csv", "lib/systemd/system/amihead.service",
                 "share/man/man1/amihead.1", "share/bash-completion/completions/amihead"):
        check(os.path.exists(os.path.join(inst, want)), f"make install: no {want}")
    with open(os.path.join(inst, "lib/systemd/system/amihead.service")) as f:
        check(f"ExecStart={inst}/bin/amihead run -c {inst}/etc/amihead/amihead.yaml"
              in f.read(), "installed unit does not point into the prefix")
    with open(os.path.join(inst, "etc/amihead/amihead.yaml")) as f:
        check(f"path: {inst}/var/lib/amihead/store" in f.read(), "installed config")
    r = subprocess.run(["bash", "-n", os.path.join(inst, "share/bash-completion/completions/amihead")],
                       capture_output=True, text=True)
    check(r.returncode == 0, f"bash completion: {r.stderr}")
    man = subprocess.run(["man", "-l", os.path.join(inst, "share/man/man1/amihead.1")],
                         capture_output=True, text=True, env=dict(os.environ, MANWIDTH="100"))
    check(man.returncode == 0 and "SIGHUP" in man.stdout and "report" in man.stdout and
          "--log-format" in man.stdout, f"man page: {man.stdout[:300]}{man.stderr[-300:]}")

    r = subprocess.run(["cmake", "-S", SRC, "-B", RELEASE, "-DCMAKE_INSTALL_PREFIX=/usr"],
                       capture_output=True, text=True)
    check(r.returncode == 0, f"cmake: {r.stderr[-2000:]}")
    r = subprocess.run(["cmake", "--build", RELEASE, "--target", "amihead", "amisim",
                        "manpages"], capture_output=True, text=True)
    check(r.returncode == 0, f"build: {r.stdout[-2000:]}{r.stderr[-2000:]}")
    out = os.path.join(tmp, "deb")
    r = subprocess.run(["cpack", "-G", "DEB", "--config",
                        os.path.join(RELEASE, "CPackConfig.cmake"), "-B", out],
                       capture_output=True, text=True)
    check(r.returncode == 0, f"cpack: {r.stdout[-2000:]}{r.stderr[-2000:]}")
    debs = [f for f in os.listdir(out) if f.endswith(".deb")]
    check(len(debs) == 1, f"cpack made {debs}")
    deb = os.path.join(out, debs[0])

    listing = subprocess.run(["dpkg-deb", "-c", deb], capture_output=True, text=True).stdout
    paths = {ln.split()[-1].lstrip(".") for ln in listing.splitlines()}
    for want in ("/usr/bin/amihead", "/usr/bin/amisim",
                 "/usr/share/man/man1/amihead.1", "/usr/share/man/man1/amisim.1",
                 "/usr/share/bash-completion/completions/amihead",
                 "/usr/share/bash-completion/completions/amisim",
                 "/usr/lib/systemd/system/amihead.service",
                 "/etc/amihead/amihead.yaml", "/etc/amihead/meters.csv",
                 "/var/lib/amihead/"):
        check(want in paths, f"package lacks {want}: {sorted(paths)}")
    ctl = os.path.join(tmp, "ctl")
    subprocess.run(["dpkg-deb", "-e", deb, ctl], check=True)
    with open(os.path.join(ctl, "conffiles")) as f:
        check(f.read().split() == ["/etc/amihead/amihead.yaml", "/etc/amihead/meters.csv"],
              "conffiles")
    with open(os.path.join(ctl, "postinst")) as f:
        check("adduser --system" in f.read(), "postinst makes no system user")
    with open(os.path.join(ctl, "control")) as f:
        check("libsystemd0" in f.read(), "control: no libsystemd0 dependency")

    root = os.path.join(tmp, "root")
    subprocess.run(["dpkg-deb", "-x", deb, root], check=True)
    units = os.path.join(root, "usr/lib/systemd/system")
    unit = os.path.join(units, "amihead.service")
    with open(unit) as f:
        text = f.read()
    for want in ("Type=notify", "WatchdogSec=", "ExecReload=/bin/kill -HUP $MAINPID",
                 "ProtectSystem=strict", "ReadWritePaths=/var/lib/amihead",
                 "NoNewPrivileges=yes", "User=amihead",
                 "ExecStart=/usr/bin/amihead run -c /etc/amihead/amihead.yaml"):
        check(want in text, f"unit lacks {want}")
    # the packaged config passes check-config as it is
    r = subprocess.run([os.path.join(root, "usr/bin/amihead"), "check-config", "-c",
                        os.path.join(root, "etc/amihead/amihead.yaml")],
                       capture_output=True, text=True)
    check(r.returncode == 0, f"packaged config: {r.stdout}{r.stderr}")
    # the unit is verified in the package's root, the host's units beside it
    os.symlink("usr/lib", os.path.join(root, "lib"))
    os.makedirs(os.path.join(root, "bin"))
    shutil.copy(shutil.which("kill"), os.path.join(root, "bin", "kill"))
    subprocess.run(["cp", "-an", "/lib/systemd/system/.", units + "/"], check=True)
    env = dict(os.environ, MANPATH=os.path.join(root, "usr/share/man"))

    def verify(path):
        return subprocess.run(["systemd-analyze", "verify", f"--root={root}", path],
                              capture_output=True, text=True, env=env)
    r = verify(unit)
    check(r.returncode == 0 and not (r.stdout + r.stderr).strip(),
          f"systemd-analyze verify: {r.returncode}: {r.stdout}{r.stderr}")
    bad = os.path.join(units, "amihead-typo.service")
    with open(bad, "w") as f:
        f.write(text.replace("/usr/bin/amihead run", "/usr/bin/amihaed run"))
    r = verify(bad)
    check(r.returncode != 0 or (r.stdout + r.stderr).strip(),
          "systemd-analyze verify accepted a unit whose binary does not exist")
    print(f"package: {debs[0]}, {len(paths)} paths, unit verified")


def notify(tmp):
    sock_path = os.path.join(tmp, "notify.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    srv.bind(sock_path)
    srv.settimeout(0.2)
    msgs = []

    def pump(seconds, until=None):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                d = srv.recv(4096).decode()
                msgs.append((time.monotonic(), d))
                if until and until(d):
                    return True
            except socket.timeout:
                pass
        return False

    with Sim(tmp, "--concentrators", "1", "--meters", "3", "--faults", "none",
             "--time-scale", "360", "--epoch", "2025-03-14T00:00:00Z",
             "--write-config", tmp) as sim:
        yaml, _ = write_config(tmp, 1, *export_endpoints(),
                               replace=[("listen: 127.0.0.1:9464", 'listen: ""')])
        env = dict(os.environ, NOTIFY_SOCKET=sock_path, WATCHDOG_USEC="1500000")
        p = subprocess.Popen(run_argv(yaml, 360, sim.sim_now()), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
        try:
            check(pump(30, lambda d: "READY=1" in d), f"no READY=1: {msgs}")
            ready = [d for _, d in msgs if "READY=1" in d][0]
            check(f"MAINPID={p.pid}" in ready, f"READY without MAINPID: {ready!r}")
            n0 = len(msgs)
            pump(4)
            dogs = [t for t, d in msgs[n0:] if "WATCHDOG=1" in d]
            check(len(dogs) >= 8, f"{len(dogs)} WATCHDOG=1 in 4 s, want >= 8")
            gaps = [b - a for a, b in zip(dogs, dogs[1:])]
            check(max(gaps) < 0.75, f"watchdog gap {max(gaps):.2f} s, limit 1.5 s")
            status = [d for _, d in msgs if "STATUS=cycle" in d]
            check(status and "completeness" in status[-1], f"STATUS: {status[-1:]}")
            p.send_signal(1)  # SIGHUP: a reload of the same, valid config
            check(pump(30, lambda d: "READY=1" in d and "reloaded" in d),
                  f"no READY=1 after the reload: {msgs[-5:]}")
            check(any("RELOADING=1" in d for _, d in msgs), "no RELOADING=1")
            p.terminate()
            check(pump(30, lambda d: "STOPPING=1" in d), "no STOPPING=1")
            _, err = p.communicate(timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
                p.communicate()
        check(p.returncode == 0, f"exit {p.returncode}: {err[-2000:]}")
        check("Sanitizer" not in err, err[-3000:])
        print(f"notify: {len(msgs)} datagrams, {len(dogs)} watchdog pings in 4 s")


def run(tmp):
    package(tmp)
    notify(tmp)


if __name__ == "__main__":
    main("it_service", run)
