"""Write an amihead.yaml + meters.csv for a city-sized inventory: link c0
is a live amisim concentrator (its own --write-config rows), every other
link a concentrator that refuses connections (port 1 of its own
loopback address: distinct endpoints), so the
head-end carries the whole inventory while only one link answers."""
import os
import subprocess


def write_city(amisim, d, n_meters, per_link, port, store, pub_port, replay_port,
               extra_yaml=""):
    """Returns the YAML path. amisim serves --concentrators 1 --meters
    per_link on port (seed 1), whose rows become link c0."""
    os.makedirs(d, exist_ok=True)
    sub = os.path.join(d, "live")
    subprocess.run([amisim, "--concentrators", "1", "--meters", str(per_link),
                    "--write-config", sub], check=True, capture_output=True)
    with open(os.path.join(sub, "meters.csv")) as f:
        rows = [ln for ln in f.read().splitlines() if ln and not ln.startswith("#")]
    header, live = rows[0], rows[1:]
    n_links = (n_meters - len(live) + per_link - 1) // per_link + 1
    with open(os.path.join(d, "meters.csv"), "w") as f:
        f.write(header + "\n")
        for r in live:
            f.write(r + "\n")
        left = n_meters - len(live)
        k = 1
        while left > 0:
            for j in range(min(per_link, left)):
                a = "%06d%06d" % (k + 1, j + 1)
                f.write("%s,dlt645-2007,c%d,%s,,,1P2W,1,1,5.0,60.0,220.0,d%05d,C,"
                        "%s,no\n" % (a, k, a, k, "district" if j == 0 else "customer"))
            left -= min(per_link, left)
            k += 1
    links = ["  - name: c0\n    type: dlt645-tcp\n    endpoint: 127.0.0.1:%d\n" % port]
    for k in range(1, n_links):
        links.append("  - name: c%d\n    type: dlt645-tcp\n    endpoint: 127.1.%d.%d:1\n"
                     % (k, k // 250, k % 250 + 1))
    y = os.path.join(d, "amihead.yaml")
    with open(y, "w") as f:
        f.write("headend:\n  id: city\n  timezone: Asia/Shanghai\n  log_level: info\n"
                "inventory: meters.csv\nstorage:\n  path: %s\n  sync: true\n"
                "schedule:\n  interval_min: 15\n  backfill_days: 0\n  stagger_s: 0\n"
                "  timeout_ms: 2000\n  retries: 1\n"
                "links:\n%s"
                "export:\n  pub: tcp://127.0.0.1:%d\n  replay: tcp://127.0.0.1:%d\n%s"
                % (store, "".join(links), pub_port, replay_port, extra_yaml))
    return y
