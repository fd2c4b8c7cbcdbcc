"""How bench_serving.py reports: medians over its rounds, one line per target, the summary table
with the targets of issues 13 and 16, and the per-request budget at c=1."""

from __future__ import annotations

import numpy as np


def medians(rounds: list[dict]) -> dict:
    """Each figure's median over the rounds; the ratios are the medians of each round's own ratio (a
    round measures the floor and /predict a moment apart, under the same load)."""
    def middle(values: list[float]) -> float:
        return float(np.median(values))

    out: dict = {"load": middle([r["load"] for r in rounds]), "loads": [r["load"] for r in rounds]}
    for target in ("floor", "predict", "reasons"):
        out[target] = {key: middle([r[target][key] for r in rounds]) for key in rounds[0][target]}
        out[f"{target}_rate"] = middle([r[f"{target}_rate"] for r in rounds])
    out["p99_ratio"] = middle([r["predict"]["p99"] / r["floor"]["p99"] for r in rounds])
    out["share"] = middle([r["predict_rate"] / r["floor_rate"] for r in rounds])
    out["reasons_ratio"] = middle([r["reasons"]["p99"] / r["predict"]["p99"] for r in rounds])
    return out


def load_range(rounds: list[dict]) -> str:
    loads = [r["load"] for r in rounds]
    return f"{min(loads):.1f}" if max(loads) - min(loads) < 0.05 else f"{min(loads):.1f}-{max(loads):.1f}"


def rounds_note(repeats: int, text: str = "") -> str:
    return (text or f", medians of {repeats} rounds") if repeats > 1 else ""


def figures_line(figures: dict[str, float], rate: float) -> str:
    line = (f"p50 {figures['p50']:6.2f} ms  p99 {figures['p99']:6.2f} ms  {rate:7,.0f}/s  "
            f"server CPU {figures['cpu_us']:4.0f} us/request")
    if "loop_us" in figures and figures["threads_us"] >= 1:
        line += f" (loop {figures['loop_us']:.0f}, other threads {figures['threads_us']:.0f})"
    if "store_us" in figures:
        line += f" + redis-server {figures['store_us']:.0f}"
    return line


def summary(rows: list[dict]) -> None:
    """One table of every figure and whether the targets hold (#13: /predict p99 <= 2x the floor's at
    c=1 and 8, throughput >= 50 %; #16: p99 with reasons <= 1.5x without, at c=1 and 8)."""
    print("\nstore   c    load  floor p50/p99 ms  /predict p50/p99 ms  p99 ratio  floor/s  /predict/s  share  target"
          "  CPU us floor//predict  reasons p99 ms  ratio  target")
    for r in rows:
        ratio, share = r["p99_ratio"], r["share"]
        target = (ratio <= 2.0 if r["c"] in (1, 8) else True) and share >= 0.5
        loads = load_range([{"load": x} for x in r["loads"]])
        line = (f"{r['store']:<6} {r['c']:>3} {loads:>7}  {r['floor']['p50']:6.2f} / {r['floor']['p99']:6.2f}  "
                f"{r['predict']['p50']:7.2f} / {r['predict']['p99']:6.2f}   x{ratio:5.2f}  {r['floor_rate']:7,.0f}"
                f"  {r['predict_rate']:9,.0f}   {share:4.0%}  {'ok' if target else 'MISSED':<6}"
                f"  {r['floor']['cpu_us']:6.0f} / {r['predict']['cpu_us']:5.0f}")
        if "reasons" in r:
            slower = r["reasons_ratio"]
            verdict = ('ok' if slower <= 1.5 else 'MISSED') if r["c"] in (1, 8) else ''
            line += (f"      {r['reasons']['p99']:7.2f}    x{slower:4.2f}  {verdict:<6}"
                     f"  (CPU {r['reasons']['cpu_us']:.0f} us)")
        print(line)
    for r in rows:
        if r["c"] == 1:
            print(budget(r))


def budget(row: dict) -> str:
    """At c=1 one client waits for each answer: a request's period (1 / throughput) is the client's own time
    plus the server's. Half the floor's throughput means a period of at most twice the floor's; what the
    floor's period holds beyond its server CPU (the client, the wake-ups) is spent by /predict too, so
    /predict's server side (its CPU and its own waits) must fit in the rest."""
    floor_us, predict_us = 1e6 / row["floor_rate"], 1e6 / row["predict_rate"]
    outside = floor_us - row["floor"]["cpu_us"]  # the client and the wake-ups, per request
    allowed = 2 * floor_us - outside
    spent = predict_us - outside
    return (f"{row['store']} c=1: a request every {floor_us:.0f} us at the floor ({row['floor']['cpu_us']:.0f} us "
            f"server CPU, {outside:.0f} us client and wake-ups), every {predict_us:.0f} us on /predict; 50 % needs "
            f"<= {2 * floor_us:.0f} us, i.e. /predict's server side <= {allowed:.0f} us against {spent:.0f} us now "
            f"({row['predict']['cpu_us']:.0f} us of it CPU): {max(spent - allowed, 0):.0f} us to cut")
