#!/usr/bin/env python3
"""Tables for bench/compare.sh: every run, then midge / Mosquitto ratios against the targets.

Input: a JSON-lines file, one `midge bench --json` object per line (or a failure marker).
"""
import json
import sys


def load(path):
    runs = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                runs.append(json.loads(line))
    return runs


def fmt_rate(v):
    if v is None:
        return "-"
    if v >= 1e6:
        return f"{v / 1e6:.2f}M"
    if v >= 1e4:
        return f"{v / 1e3:.1f}k"
    return f"{v:.0f}"


def fmt_us(v):
    if not v:
        return "-"
    return f"{v / 1000:.1f}ms" if v >= 10_000 else f"{v:.0f}us"


def fmt_pct(v):
    return "-" if v is None else f"{v:.0f}%"


def key(r):
    return (r.get("scenario"), r.get("qos"))


def all_runs(runs):
    print(f"{'scenario':<8} {'qos':>3} {'broker':<10} {'sent/s':>9} {'recv/s':>9} {'losses':>7} "
          f"{'dups':>5} {'p50':>8} {'p99':>8} {'p99.9':>8} {'gen cpu':>7} {'brk cpu':>7} {'RSS/conn':>9}")
    for r in runs:
        if r.get("failed"):
            print(f"{r['scenario']:<8} {r['qos']:>3} {r['broker']:<10} FAILED")
            continue
        lat = r.get("latency_us", {})
        conns = r.get("conns") or {}
        per = conns.get("broker_rss_per_conn_bytes")
        per_s = "-" if per is None else f"{per:.0f} B"
        if r["scenario"] == "conns":
            sent = fmt_rate(conns.get("connects_per_sec")) + "c"
            recv = f"{conns.get('connected')}/{conns.get('attempted')}"
            lat = {}
        else:
            sent, recv = fmt_rate(r["sent_per_sec"]), fmt_rate(r["received_per_sec"])
        print(f"{r['scenario']:<8} {r['qos']:>3} {r['broker']:<10} {sent:>9} {recv:>9} "
              f"{r.get('losses', 0):>7} {r.get('dups', 0):>5} {fmt_us(lat.get('p50')):>8} "
              f"{fmt_us(lat.get('p99')):>8} {fmt_us(lat.get('p999')):>8} "
              f"{fmt_pct(r.get('generator_cpu_pct')):>7} {fmt_pct(r.get('broker_cpu_pct')):>7} "
              f"{per_s:>9}")


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def median(values):
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def combine(rs):
    """Several rounds of one (scenario, qos, broker): medians of the compared metrics,
    losses and duplicates summed; failed if any round failed."""
    if any(r.get("failed") for r in rs):
        return {"failed": True}
    return {
        "received_per_sec": median(r["received_per_sec"] for r in rs),
        "latency_us": {"p99": median(r["latency_us"]["p99"] for r in rs)},
        "conns": {
            "broker_rss_per_conn_bytes": median(
                (r.get("conns") or {}).get("broker_rss_per_conn_bytes") for r in rs),
            "connects_per_sec": median(
                (r.get("conns") or {}).get("connects_per_sec") for r in rs),
        },
        "losses": sum(r.get("losses", 0) for r in rs),
        "dups": sum(r.get("dups", 0) for r in rs),
        "rounds": len(rs),
    }


def ratios(runs, base="mosquitto"):
    grouped = {}
    for r in runs:
        grouped.setdefault(key(r), {}).setdefault(r["broker"], []).append(r)
    by = {k: {b: combine(rs) for b, rs in v.items()} for k, v in grouped.items()}
    others = sorted({r["broker"] for r in runs} - {base})
    print()
    print(f"ratios against {base}, medians over rounds (ok = target met)")
    print(f"{'scenario':<8} {'qos':>3} {'broker':<10} {'metric':<16} {'value':>8}  target")
    for (scenario, qos), rs in by.items():
        b = rs.get(base)
        for name in others:
            r = rs.get(name)
            if r is None or b is None or r.get("failed") or b.get("failed"):
                print(f"{scenario:<8} {qos:>3} {name:<10} {'(run failed)':<16}")
                continue
            if scenario == "conns":
                v = ratio((r.get("conns") or {}).get("broker_rss_per_conn_bytes"),
                          (b.get("conns") or {}).get("broker_rss_per_conn_bytes"))
                line(scenario, qos, name, "RSS/conn", v, "<= 1.5", v is not None and v <= 1.5)
                v = ratio((r.get("conns") or {}).get("connects_per_sec"),
                          (b.get("conns") or {}).get("connects_per_sec"))
                line(scenario, qos, name, "connects/s", v, ">= 1.2", v is not None and v >= 1.2)
            elif scenario == "latency":
                v = ratio(r["latency_us"]["p99"], b["latency_us"]["p99"])
                line(scenario, qos, name, "p99 latency", v, "<= 1.0", v is not None and v <= 1.0)
            else:
                v = ratio(r["received_per_sec"], b["received_per_sec"])
                line(scenario, qos, name, "throughput", v, ">= 2.0", v is not None and v >= 2.0)
            if qos and qos > 0 and scenario != "conns":
                lost = r.get("losses", 0) + r.get("dups", 0)
                print(f"{'':<8} {'':>3} {name:<10} {'losses+dups':<16} {lost:>8}  == 0 "
                      f"{'ok' if lost == 0 else 'MISSED'}")


def against_rumqttd(runs):
    """Issue 15: fan-out 1→64 QoS 0 at least rumqttd's, in the same run."""
    grouped = {}
    for r in runs:
        grouped.setdefault(key(r), {}).setdefault(r["broker"], []).append(r)
    rs = grouped.get(("fanout", 0), {})
    if "midge" in rs and "rumqttd" in rs:
        m, q = combine(rs["midge"]), combine(rs["rumqttd"])
        if not m.get("failed") and not q.get("failed"):
            v = ratio(m["received_per_sec"], q["received_per_sec"])
            print()
            print("midge against rumqttd, medians over rounds")
            line("fanout", 0, "midge", "throughput", v, ">= 1.0 rumqttd",
                 v is not None and v >= 1.0)


def line(scenario, qos, name, metric, v, target, ok):
    val = "-" if v is None else f"{v:.2f}x"
    print(f"{scenario:<8} {qos:>3} {name:<10} {metric:<16} {val:>8}  {target} "
          f"{'ok' if ok else 'MISSED'}")


def main():
    if len(sys.argv) != 2:
        print("usage: table.py RESULTS.jsonl", file=sys.stderr)
        sys.exit(2)
    runs = load(sys.argv[1])
    all_runs(runs)
    ratios(runs)
    against_rumqttd(runs)


if __name__ == "__main__":
    main()
