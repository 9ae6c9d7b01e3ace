#!/usr/bin/python3
"""scorecard — what amisim injected against what amihead found.

    scorecard.py --truth truth.json -c amihead.yaml [--billing tail.out]
                 [--amihead build/bin/amihead] [--json]

Reads amisim's ground truth ("faults"), `amihead events --json` and
`amihead districts --json` of the store the config names, and optionally
what a billing subscriber (`amihead tail --from-seq 1`, 'SEQ TOPIC BODY'
lines) received. Prints:

  - each injected fault: whether amihead found it, by which rule, and how
    many minutes after the fault began (the end of the interval that showed
    it; for a district day, the end of that local day). A meter fault is found by the first episode of its rule on that
    meter starting at or after the fault (STATUS_FAULT: the meter's own
    status words telling the same story); a theft by a LINE_LOSS /
    LINE_LOSS_SWING day of its district listing the thief, or COVER_OPEN on
    the thief; an offline concentrator by LINK_DOWN on its link, else by
    the GAP events of its meters. Link noise (lost, late, corrupted replies,
    drops) is injected at random: its line shows what completeness the
    retries and backfill achieved instead;
  - the district line-loss table, the theft's district flagged and the thief
    marked;
  - billing: messages, first and last seq, and whether the sequence is
    gapless from 1.

Exit status 0 when every scored fault was found and billing (when given)
is gapless from seq 1; 1 otherwise; 2 on bad arguments or unreadable input.
The same scoring rules as tests/integration/it_vee_score.py, for one run.
"""
import argparse
import calendar
import json
import os
import subprocess
import sys
import time

RULES = {"stopped": ["STOPPED"], "reversed": ["REVERSED"], "backwards": ["REVERSED"],
         "jumping": ["JUMPING"], "creeping": ["CREEPING"],
         "phase_imbalance": ["PHASE_IMBALANCE"], "phase_loss": ["PHASE_LOSS", "STOPPED"],
         "clock_drift": ["CLOCK_DRIFT"], "missing": ["GAP"]}
# faults the meter reports in its own status words (docs/amisim.md)
STATUS_SHOWN = {"reversed", "backwards", "phase_loss", "phase_imbalance"}
NOISE = {"no_reply", "junk", "bad_checksum", "truncated", "late_reply", "disconnect"}


def utc(s):
    return calendar.timegm(time.strptime(s.replace("Z", ""), "%Y-%m-%dT%H:%M:%S"))


def local(t, tz):
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(t + tz))


def amihead(binary, *args):
    r = subprocess.run([binary, *args], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        sys.stderr.write(f"scorecard: amihead {' '.join(args)}: {r.stderr}")
        sys.exit(2)
    return [json.loads(x) for x in r.stdout.splitlines() if x.strip()]


def score_meter_fault(f, starts):
    """(found, rule, minutes) for a meter fault from episode starts."""
    frm = utc(f["from"])
    best = None
    for rule in RULES.get(f["type"], []) + (["STATUS_FAULT"] if f["type"] in STATUS_SHOWN
                                             else []):
        for at in starts.get((f["meter"], rule), []):
            if at > frm and (best is None or at < best[1]):
                best = (rule, at)
        if best and best[0] != "STATUS_FAULT":
            break  # the fault's own rule first; the status word only without it
    if not best:
        return False, "-", None
    return True, best[0], (best[1] - frm) / 60


def score_theft(f, days, starts, meter_conc, tz):
    """The district day that lists the thief; its minutes run to the end of
    that local day, the earliest a day's loss can be known."""
    frm = utc(f["from"])
    dist = f"d{meter_conc[f['meter']]:04d}"
    for d in days:
        flags = set(d.get("flags", []))
        if d["district"] == dist and flags & {"LINE_LOSS", "LINE_LOSS_SWING"} and \
                f["meter"] in [c["meter"] for c in d.get("customers", [])]:
            rule = "LINE_LOSS" if "LINE_LOSS" in flags else "LINE_LOSS_SWING"
            day_end = utc(d["day"] + "T00:00:00Z") - tz + 86400
            return True, f"{rule} {dist} {d['day']}", max(0, day_end - frm) / 60
    for at in starts.get((f["meter"], "COVER_OPEN"), []):
        if at > frm:
            return True, "COVER_OPEN", (at - frm) / 60
    return False, "-", None


def score_offline(f, evs, meter_conc):
    frm, k = utc(f["from"]), f["concentrator"]
    downs = [utc(e["time"]) for e in evs if e.get("type") == "LINK_DOWN" and
             e.get("link") == f"c{k}" and utc(e["time"]) >= frm]
    if downs:
        return True, f"LINK_DOWN c{k}", (min(downs) - frm) / 60
    gaps = [utc(e["time"]) for e in evs if e.get("type") == "GAP" and
            meter_conc.get(e.get("meter")) == k and utc(e["time"]) >= frm]
    if gaps:
        return True, f"GAP (c{k}'s meters)", (min(gaps) - frm) / 60
    return False, "-", None


def billing(path):
    seqs, kinds = [], {}
    with open(path) as fh:
        for line in fh:
            parts = line.split(" ", 2)
            if len(parts) < 2 or not parts[0].isdigit():
                continue
            seqs.append(int(parts[0]))
            kind = parts[1].split("/")[0]
            kinds[kind] = kinds.get(kind, 0) + 1
    gapless = bool(seqs) and seqs == list(range(1, len(seqs) + 1))
    return {"messages": len(seqs), "first": seqs[0] if seqs else None,
            "last": seqs[-1] if seqs else None, "gapless_from_1": gapless,
            "by_kind": kinds}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--truth", required=True)
    ap.add_argument("-c", "--config", required=True)
    ap.add_argument("--billing")
    ap.add_argument("--amihead", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "build", "bin", "amihead"))
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    try:
        with open(a.truth) as fh:
            truth = json.load(fh)
    except (OSError, ValueError) as e:
        sys.stderr.write(f"scorecard: {a.truth}: {e}\n")
        sys.exit(2)
    tz = truth.get("tz_offset_s", 0)
    cols = truth["meter_columns"]
    meter_conc = {r[cols.index("address")]: r[cols.index("conc")] for r in truth["meters"]}
    evs = amihead(a.amihead, "events", "-c", a.config, "--json")
    days = amihead(a.amihead, "districts", "-c", a.config, "--json")
    starts = {}
    for e in evs:
        if e.get("state") == "start" and "meter" in e:
            starts.setdefault((e["meter"], e["type"]), []).append(utc(e["at"]))

    rows, noise = [], {}
    for f in truth.get("faults", []):
        t = f["type"]
        if t in NOISE:
            noise.setdefault(t, []).append(f"c{f['concentrator']}")
            continue
        if t == "theft":
            found, rule, mins = score_theft(f, days, starts, meter_conc, tz)
        elif t == "offline":
            found, rule, mins = score_offline(f, evs, meter_conc)
        elif f.get("meter"):
            found, rule, mins = score_meter_fault(f, starts)
        else:
            continue
        who = f.get("meter") or f"c{f['concentrator']}"
        rows.append({"fault": t, "where": who, "from": f.get("from"), "found": found,
                     "rule": rule, "minutes": mins})

    thieves = {f["meter"]: f"d{meter_conc[f['meter']]:04d}"
               for f in truth.get("faults", []) if f["type"] == "theft"}
    bill = billing(a.billing) if a.billing else None
    ok = all(r["found"] for r in rows) and (bill is None or bill["gapless_from_1"])

    if a.json:
        print(json.dumps({"faults": rows, "districts": days, "billing": bill, "ok": ok}))
        sys.exit(0 if ok else 1)

    print("== scorecard: amisim's truth against what amihead found")
    print(f"{'fault':<16} {'meter / link':<13} {'began (local)':<17} {'found':<6} "
          f"{'by rule':<30} after")
    for r in rows:
        began = local(utc(r["from"]), tz) if r["from"] else "-"
        after = f"{r['minutes']:.0f} min" if r["minutes"] is not None else "-"
        print(f"{r['fault']:<16} {r['where']:<13} {began:<17} "
              f"{'yes' if r['found'] else 'MISSED':<6} {r['rule']:<30} {after}")
    if noise:
        print(f"{'link noise':<16} {'+'.join(sorted(set(sum(noise.values(), [])))):<13} "
              f"{'whole run':<17} {'-':<6} {', '.join(sorted(noise))}: absorbed by retries "
              f"and backfill (see completeness)")
    found = sum(r["found"] for r in rows)
    print(f"   {found} of {len(rows)} injected faults found")

    print("\n== district line loss (local days)")
    print(f"{'day':<11} {'district':<9} {'loss %':>7}  {'flags':<28} customers listed")
    for d in days:
        loss = d.get("loss_pct")
        flags = d.get("flags", [])
        mark = "  <- theft" if d["district"] in thieves.values() and \
            {"LINE_LOSS", "LINE_LOSS_SWING"} & set(flags) else ""
        custs = []
        for c in d.get("customers", []):
            m = c["meter"]
            custs.append(f"{m} (THIEF)" if m in thieves else m)
        print(f"{d['day']:<11} {d['district']:<9} "
              f"{(f'{loss:.2f}' if isinstance(loss, (int, float)) else '-'):>7}  "
              f"{' '.join(flags) + mark:<28} {', '.join(custs[:4]) or '-'}")
    if not days:
        print("   (no district day judged yet)")
    for m, dist in sorted(thieves.items()):
        print(f"   theft: {m} in {dist}")

    if bill is not None:
        print("\n== billing received")
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(bill["by_kind"].items()))
        print(f"   {bill['messages']} messages, seq {bill['first']}..{bill['last']}, "
              f"{'gapless from seq 1' if bill['gapless_from_1'] else 'NOT gapless from 1'}"
              f" ({kinds})")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
