#!/usr/bin/env python3
"""Summarizes bench/run.sh results (standard library only).

  summarize.py alloc-csv COUNTERS.csv SUBJECT     -> one JSON line: bytes allocated during the load
  summarize.py table RUNS.jsonl ALLOC.jsonl       -> the Markdown results table
"""
import csv
import json
import os
import statistics
import sys

# (comparison, baseline, subject, minimum throughput ratio, p99 bound in ms at 32 connections or None)
COMPARISONS = [
    ("/execute echo (demo) vs plain Kestrel echo", "kestrel_echo", "execute_demo", 0.5, 5.0),
    ("proxied (demo) vs plain YARP", "plain_yarp", "proxied_demo", 0.85, None),
    ("proxied (clawshield, approval per request) vs plain YARP", "plain_yarp", "proxied_clawshield", 0.5, None),
    ("/execute echo: Redis store vs embedded store", "execute_demo", "execute_redis", 0.8, None),
]
ALLOC_BUDGET = 2048  # bytes per proxied request over plain YARP
# The plain YARP run given the same requests as each gateway subject.
SAME_REQUESTS = {"proxied_demo": "plain_yarp", "proxied_clawshield": "plain_yarp_approval"}


def alloc_csv(path, subject):
    """dotnet.gc.heap.total_allocated is cumulative; dotnet-counters reports it per 1 s interval.
    The collection starts 3 s before the load: the smallest of those first intervals is the
    process's idle allocation rate (EventPipe's own session included), subtracted from every
    interval; the rest summed is what the load allocated."""
    values = []
    with open(path, newline="") as f:
        for row in csv.reader(f):
            if len(row) >= 5 and row[0] != "Timestamp" and "total_allocated" in row[2] and row[3] == "Rate":
                values.append(float(row[4]))
    idle = min(values[:2]) if len(values) >= 2 else 0.0
    total = sum(max(v - idle, 0.0) for v in values)
    print(json.dumps({"subject": subject, "allocated_bytes": total, "idle_bytes_per_s": idle, "samples": len(values)}))


def median(values):
    return statistics.median(values) if values else float("nan")


def table(runs_path, alloc_path):
    runs = [json.loads(line) for line in open(runs_path) if line.strip()]
    measured = [r for r in runs if r["tag"].startswith("round")]
    conns_levels = sorted({r["conns"] for r in measured})
    # An approval used again is void only where approvals are checked: plain YARP forwards them unread.
    void = [r for r in runs if r["result"]["non2xx"] or (r["result"]["pool_wraps"] and r["subject"] != "plain_yarp_approval") or r["result"]["timeouts"]
            or r["result"]["connect_errors"] or r["result"]["read_errors"] or r["result"]["write_errors"]]

    # A void run measured something else than the subject (refusals answered fast, reused
    # approvals): listed below, left out of the medians and ratios.
    def stats(subject, conns):
        rs = [r["result"] for r in measured if r["subject"] == subject and r["conns"] == conns and r not in void]
        return {
            "n": len(rs),
            "rps": median([r["rps"] for r in rs]),
            "p50": median([r["p50_us"] / 1000 for r in rs]),
            "p99": median([r["p99_us"] / 1000 for r in rs]),
            "rps_all": [round(r["rps"]) for r in rs],
        }

    print("## Throughput and latency (medians of the rounds)")
    print()
    print("| subject | conns | runs | req/s (median) | req/s per run | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|---|---:|---:|")
    subjects = ["kestrel_echo", "execute_demo", "execute_redis", "plain_yarp", "proxied_demo", "proxied_clawshield"]
    for conns in conns_levels:
        for s in subjects:
            st = stats(s, conns)
            if st["n"]:
                print(f"| {s} | {conns} | {st['n']} | {st['rps']:.0f} | {' / '.join(map(str, st['rps_all']))} | {st['p50']:.2f} | {st['p99']:.2f} |")
    print()
    print("## Ratios against the targets")
    print()
    print("| comparison | conns | ratio (median req/s) | target | met? | subject p99 ms |")
    print("|---|---:|---:|---|---|---:|")
    for name, base, subj, target, p99_bound in COMPARISONS:
        for conns in conns_levels:
            b, s = stats(base, conns), stats(subj, conns)
            if not (b["n"] and s["n"]):
                continue
            ratio = s["rps"] / b["rps"]
            ok = ratio >= target
            target_text = f">= {target}x"
            if p99_bound is not None and conns == 32:
                ok = ok and s["p99"] <= p99_bound
                target_text += f", p99 <= {p99_bound:g} ms"
            print(f"| {name} | {conns} | {ratio:.2f}x | {target_text} | {'yes' if ok else 'NO'} | {s['p99']:.2f} |")
    print()

    if os.path.exists(alloc_path):
        allocs = {a["subject"]: a for a in (json.loads(line) for line in open(alloc_path) if line.strip())}
        alloc_runs = {r["subject"]: r["result"] for r in runs if r["tag"] == "alloc"}
        print("## Allocated bytes per request (whole process, during 32-connection load)")
        print()
        print("Each gateway subject is compared with plain YARP given the same requests (`plain_yarp_approval`: the")
        print("clawshield requests, approval header included); the last column keeps plain YARP given the demo requests.")
        print()
        print("| subject | requests | bytes allocated | bytes / request | over plain YARP, same requests | target | over plain YARP, demo requests |")
        print("|---|---:|---:|---:|---:|---|---:|")
        per = {}
        for s in ["kestrel_echo", "plain_yarp", "plain_yarp_approval", "proxied_demo", "proxied_clawshield"]:
            if s in allocs and s in alloc_runs and alloc_runs[s]["requests"]:
                per[s] = allocs[s]["allocated_bytes"] / alloc_runs[s]["requests"]
        for s, v in per.items():
            over_demo = v - per["plain_yarp"] if "plain_yarp" in per else float("nan")
            same, target = "", ""
            if s in SAME_REQUESTS and SAME_REQUESTS[s] in per:
                over = v - per[SAME_REQUESTS[s]]
                same = f"{over:+.0f}"
                target = f"<= YARP + {ALLOC_BUDGET} B: {'yes' if over <= ALLOC_BUDGET else 'NO'}"
            print(f"| {s} | {alloc_runs[s]['requests']} | {allocs[s]['allocated_bytes']:.0f} | {v:.0f} | {same} | {target} | {over_demo:+.0f} |")
        print()

    if void:
        print("## Runs with errors (non-2xx, socket errors, timeouts or an exhausted approval pool)")
        print()
        print("Void: left out of the medians and ratios above.")
        print()
        for r in void:
            print(f"- {r['tag']} {r['subject']} c={r['conns']}: {json.dumps(r['result'])}")
        print()
    else:
        print("Every run: all responses 2xx, no socket errors, no timeouts, no approval reused.")
        print()


if __name__ == "__main__":
    if sys.argv[1] == "alloc-csv":
        alloc_csv(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "table":
        table(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
