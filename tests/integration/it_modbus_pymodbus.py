#!/usr/bin/python3
"""amihead read against an independent Modbus slave: python3-pymodbus 3.0.

An SDM630 (reference/protocols.md §4.2: FC 04, float32 ABCD) is played by a
pymodbus server, first over Modbus TCP on a free loopback port, then over
RTU 9600 8N1 through a socat PTY pair (§6.3). amihead must read every
quantity of its sdm630 map, in at most 80 registers per request (§4.1), and
fail clearly (non-zero exit, message naming the link and unit) for a wrong
unit id, a dead port and an exception reply.

Runs /usr/bin/python3 on purpose: Debian's python3-pymodbus lives there.
Environment: AH_BIN (directory holding amihead).
"""
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ahtest import free_port_block  # noqa: E402

# SDM630 test meter: PDU address -> value (§4.2 register table).
SDM630 = {
    0x0000: ("voltage_l1", 230.1),
    0x0002: ("voltage_l2", 231.2),
    0x0004: ("voltage_l3", 229.8),
    0x0006: ("current_l1", 5.25),
    0x0008: ("current_l2", 4.87),
    0x000A: ("current_l3", 6.02),
    0x000C: ("active_power_l1", 1180.5),
    0x000E: ("active_power_l2", 1090.3),
    0x0010: ("active_power_l3", 1350.75),
    0x0012: ("apparent_power_l1", 1208.0),
    0x0014: ("apparent_power_l2", 1125.9),
    0x0016: ("apparent_power_l3", 1383.4),
    0x0018: ("reactive_power_l1", 256.4),
    0x001A: ("reactive_power_l2", -281.2),
    0x001C: ("reactive_power_l3", 298.1),
    0x001E: ("power_factor_l1", 0.977),
    0x0020: ("power_factor_l2", -0.968),
    0x0022: ("power_factor_l3", 0.976),
    0x0024: ("phase_angle_l1", 12.3),
    0x0026: ("phase_angle_l2", -14.5),
    0x0028: ("phase_angle_l3", 12.6),
    0x0034: ("active_power_total", 3621.55),
    0x0038: ("apparent_power_total", 3717.3),
    0x003C: ("reactive_power_total", 273.3),
    0x003E: ("power_factor_total", 0.974),
    0x0046: ("frequency", 50.02),
    0x0048: ("import_active_energy", 12345.67),
    0x004A: ("export_active_energy", 321.5),
    0x004C: ("import_reactive_energy", 2345.6),
    0x004E: ("export_reactive_energy", 78.9),
    0x00C8: ("voltage_l1_l2", 398.6),
    0x00CA: ("voltage_l2_l3", 400.1),
    0x00CC: ("voltage_l3_l1", 397.9),
    0x00E0: ("current_n", 0.8),
    0x0156: ("total_active_energy", 12667.17),
    0x0158: ("total_reactive_energy", 2424.5),
}

AMIHEAD_TIMEOUT = 20  # seconds for one amihead run
failures = []
helpers = []  # subprocesses to kill on exit


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


# --------------------------------------------------------------------------
# Server side (run as a child: this file --serve tcp PORT LOG | rtu PTY LOG)


def serve(kind, where, log_path):
    from pymodbus.datastore import (
        ModbusSequentialDataBlock,
        ModbusServerContext,
        ModbusSlaveContext,
    )
    from pymodbus.framer.rtu_framer import ModbusRtuFramer
    from pymodbus.server import StartSerialServer, StartTcpServer

    log = open(log_path, "a", buffering=1)

    class LoggingSlave(ModbusSlaveContext):
        """Records every answered read so the test can check request packing."""

        def getValues(self, fc_as_hex, address, count=1):
            log.write(f"{fc_as_hex} {address} {count}\n")
            return super().getValues(fc_as_hex, address, count)

    ir = ModbusSequentialDataBlock(0, [0] * 0x200)
    for addr, (_, value) in SDM630.items():
        hi, lo = struct.unpack(">HH", struct.pack(">f", value))  # ABCD
        ir.setValues(addr, [hi, lo])
    slave = LoggingSlave(
        ir=ir,
        hr=ModbusSequentialDataBlock(0, [0] * 0x200),
        di=ModbusSequentialDataBlock(0, [0]),
        co=ModbusSequentialDataBlock(0, [0]),
        zero_mode=True,
    )
    # Only unit 1 exists; pymodbus 3.0 ignores other unit ids on TCP and RTU.
    context = ModbusServerContext(slaves={1: slave}, single=False)
    if kind == "tcp":
        StartTcpServer(context=context, address=("127.0.0.1", int(where)))
    else:
        StartSerialServer(
            context=context,
            framer=ModbusRtuFramer,
            port=where,
            baudrate=9600,
            bytesize=8,
            parity="N",
            stopbits=1,
        )


# --------------------------------------------------------------------------
# Test side


def start_helper(argv):
    p = subprocess.Popen(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    helpers.append(p)
    return p


def kill_helpers():
    for p in helpers:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(timeout=3)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def wait_until(cond, seconds, what):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise RuntimeError("timed out waiting for " + what)


def tcp_listening(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def has_open(pid, path):
    """True when process pid holds path (a PTY) open."""
    target = os.path.realpath(path)
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            if os.path.realpath(f"/proc/{pid}/fd/{fd}") == target:
                return True
    except OSError:
        pass
    return False


def amihead(*args):
    argv = [os.path.join(os.environ["AH_BIN"], "amihead"), "read", *args]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=AMIHEAD_TIMEOUT)
    print("  $ " + " ".join(argv[1:]) + f"  -> exit {r.returncode}", flush=True)
    if r.stderr.strip():
        print("    stderr: " + r.stderr.strip(), flush=True)
    return r


def f32(v):
    return struct.unpack(">f", struct.pack(">f", v))[0]


def check_sdm630_json(r, label):
    check(r.returncode == 0, f"{label}: exit 0")
    lines = r.stdout.splitlines()
    check(len(lines) == 1, f"{label}: exactly one JSON line")
    try:
        obj = json.loads(r.stdout)
    except ValueError:
        check(False, f"{label}: output is JSON")
        return
    check(obj.get("map") == "sdm630", f'{label}: "map" is "sdm630"')
    check(obj.get("unit_id") == 1, f'{label}: "unit_id" is 1')
    bad = []
    for _, (name, value) in SDM630.items():
        got = obj.get(name)
        # float32 carries 24 bits: allow one ulp around the float32 value.
        if not isinstance(got, (int, float)) or abs(got - f32(value)) > abs(value) * 2**-23:
            bad.append(f"{name}={got!r} (want {value})")
    check(not bad, f"{label}: all 36 SDM630 quantities match " + ", ".join(bad))
    check(len(obj) == len(SDM630) + 2, f"{label}: no extra keys ({len(obj)})")
    # Shortest-decimal decoding: 43 66 19 9A reads as 230.1, not 230.100006.
    check(obj.get("voltage_l1") == 230.1, f"{label}: voltage_l1 is exactly 230.1 (§4.6)")


def check_packing(log_path, label):
    with open(log_path) as f:
        reqs = [tuple(int(x) for x in line.split()) for line in f if line.strip()]
    counts = [c for (_, _, c) in reqs]
    check(reqs and all(fc == 4 for (fc, _, _) in reqs), f"{label}: FC 04 only")
    check(all(c <= 80 for c in counts), f"{label}: every request <= 80 registers {counts}")
    # 0x0000..0x004F (80), 0x00C8..0x00E1 (26), 0x0156..0x0159 (4).
    check(
        sorted(reqs) == [(4, 0x0000, 80), (4, 0x00C8, 26), (4, 0x0156, 4)],
        f"{label}: sdm630 packed into 3 requests {reqs}",
    )


def test_tcp(tmp):
    port = free_port_block(1)
    log = os.path.join(tmp, "tcp.log")
    srv = start_helper([sys.executable, __file__, "--serve", "tcp", str(port), log])
    wait_until(lambda: tcp_listening(port) or srv.poll() is not None, 15, "pymodbus TCP")
    check(srv.poll() is None, "pymodbus TCP server is up")
    open(log, "w").close()  # drop the readiness probe's (non-)traffic

    target = f"127.0.0.1:{port}"
    r = amihead("--modbus-tcp", target, "--unit", "1", "--map", "sdm630", "--json")
    check_sdm630_json(r, "TCP")
    check_packing(log, "TCP")

    r = amihead("--modbus-tcp", target, "--unit", "1", "--map", "sdm630")
    check(r.returncode == 0 and "voltage_l1" in r.stdout and " V" in r.stdout,
          "TCP: human table lists voltage_l1 with its unit")

    r = amihead("--modbus-tcp", target, "--unit", "7", "--map", "sdm630", "--json",
                "--timeout-ms", "500", "--retries", "0")
    check(r.returncode == 1 and r.stdout == "", "TCP wrong unit 7: exit 1, nothing on stdout")
    # pymodbus 3.0's socket framer drops requests for unknown unit ids
    # ("Not a valid unit id ... ignoring"), so the master sees silence.
    check(f"tcp:127.0.0.1:{port} unit 7" in r.stderr and "timed out" in r.stderr,
          "TCP wrong unit 7: message names link and unit, 'timed out'")

    # The test meter's holding registers end at 0x01FF: DTSU666's 0x101E is
    # answered with exception 02 (§4.6 "01 84 02" in its FC 03 form).
    r = amihead("--modbus-tcp", target, "--unit", "1", "--map", "dtsu666",
                "--timeout-ms", "500", "--retries", "0")
    check(r.returncode == 1 and "illegal data address" in r.stderr,
          "TCP exception 02: exit 1, 'illegal data address'")

    dead = free_port_block(1)
    r = amihead("--modbus-tcp", f"127.0.0.1:{dead}", "--unit", "1", "--map", "sdm630",
                "--json", "--timeout-ms", "500", "--retries", "0")
    check(r.returncode == 1 and f"127.0.0.1:{dead} unit 1" in r.stderr
          and "refused" in r.stderr, "TCP dead port: exit 1, 'connection refused'")

    r = amihead("--modbus-tcp", target, "--unit", "1", "--map", "nosuchmeter")
    check(r.returncode == 2, "unknown map: usage error, exit 2")
    r = amihead("--modbus-tcp", target, "--unit", "1x", "--map", "sdm630")
    check(r.returncode == 2, "unit '1x': usage error, exit 2")


def test_rtu(tmp):
    if not shutil.which("socat"):
        check(False, "socat is installed")
        return
    a, b = os.path.join(tmp, "ptyA"), os.path.join(tmp, "ptyB")
    start_helper(["timeout", "120", "socat", f"pty,raw,echo=0,link={a}",
                  f"pty,raw,echo=0,link={b}"])
    wait_until(lambda: os.path.exists(a) and os.path.exists(b), 10, "socat PTYs")
    log = os.path.join(tmp, "rtu.log")
    open(log, "w").close()
    srv = start_helper([sys.executable, __file__, "--serve", "rtu", a, log])
    wait_until(lambda: has_open(srv.pid, a) or srv.poll() is not None, 15,
               "pymodbus serial server")
    check(srv.poll() is None, "pymodbus RTU server is up on the PTY")

    r = amihead("--modbus-rtu", b, "--baud", "9600", "--parity", "none", "--unit", "1",
                "--map", "sdm630", "--json")
    check_sdm630_json(r, "RTU")
    check_packing(log, "RTU")

    # pymodbus' RTU framer drops frames for other units: the master times out.
    t0 = time.monotonic()
    r = amihead("--modbus-rtu", b, "--unit", "9", "--map", "sdm630", "--json",
                "--timeout-ms", "300", "--retries", "1")
    took = time.monotonic() - t0
    check(r.returncode == 1 and f"rtu:{b}@9600 unit 9" in r.stderr
          and "timed out" in r.stderr, "RTU wrong unit 9: exit 1, 'timed out'")
    check(took < 5, f"RTU wrong unit 9: bounded by timeout x retries ({took:.2f} s)")

    r = amihead("--modbus-rtu", os.path.join(tmp, "no-such-tty"), "--unit", "1",
                "--map", "sdm630")
    check(r.returncode == 1 and "no-such-tty" in r.stderr, "RTU missing tty: exit 1")
    r = amihead("--modbus-rtu", b, "--unit", "0", "--map", "sdm630")
    check(r.returncode == 2, "RTU unit 0 (broadcast): usage error, exit 2")


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "--serve":
        serve(sys.argv[2], sys.argv[3], sys.argv[4])
        return 0
    if "AH_BIN" not in os.environ:
        print("AH_BIN not set", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    tmp = tempfile.mkdtemp(prefix="it_modbus_")
    try:
        for test in (test_tcp, test_rtu):
            try:
                test(tmp)
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                check(False, f"{test.__name__}: {e}")
            finally:
                kill_helpers()
                helpers.clear()
    finally:
        kill_helpers()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
