"""Reports: result.json, summary.md and PNG plots in the --out directory.

Plots need matplotlib, which is optional: without it the JSON and Markdown are written and the
plots are skipped with a one-line notice.
"""

from __future__ import annotations

import json
import os
import platform
import time
from typing import Any

PLOTS_NEED = "plots need matplotlib (pip install matplotlib)"


def environment() -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in load],
    }


def _num(x: Any, digits: int = 0) -> str:
    if x is None:
        return "—"
    if isinstance(x, float) and digits:
        return f"{x:,.{digits}f}"
    return f"{x:,.0f}" if isinstance(x, (int, float)) else str(x)


def perf_table(rows: list[dict[str, Any]]) -> str:
    """case | workload | nodes | pods | Shoal pods/s | kube-scheduler threshold | ratio | valid"""
    lines = [
        "| case | workload | nodes | pods | Shoal pods/s | kube-scheduler threshold | ratio | valid |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        if r.get("status") != "ran":
            lines.append(f"| {r['case']} | {r['workload']} | — | — | skipped | {_num(r.get('threshold'))} | — | — |")
            continue
        valid = {True: "yes", False: f"**no** ({r['problem_count']})", None: "not checked"}[r.get("placements_valid")]
        pods = f"{r['pods']:,}" + (f" ({r['placed']:,} placed)" if r.get("placed") != r["pods"] else "")
        lines.append(
            f"| {r['case']} | {r['workload']} | {r['nodes']:,} | {pods} | {_num(r['pods_per_second'])} | "
            f"{_num(r.get('threshold'))} | {_num(r.get('ratio'), 1) if r.get('ratio') else '—'} | {valid} |"
        )
    return "\n".join(lines)


def perf_summary(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    out = [
        "# shoal bench perf-config",
        "",
        (
            f"Configuration: `{meta['config']}`, scale {meta['scale']}, library mode "
            f"(equivalence classes {'on' if meta.get('equivalence', True) else 'off'}); {meta['env']['date']}, "
            f"{meta['env']['cpus']} CPUs, load average {meta['env']['load_average'][0]}."
        ),
        "",
        perf_table(rows),
        "",
    ]
    if not any(r.get("threshold") for r in rows):
        out += ["The configuration states no `threshold` for any workload, so the ratio column is empty.", ""]
    pct = [r for r in rows if r.get("percentiles")]
    if pct:
        out += ["## Throughput percentiles", "", "| case | p50 | p90 | p99 | basis |", "|---|---:|---:|---:|---|"]
        out += [f"| {r['name']} | {_num(r['percentiles']['p50'])} | {_num(r['percentiles']['p90'])} | {_num(r['percentiles']['p99'])} | {r['percentiles_basis']} |" for r in pct]
        out.append("")
    else:
        out += [
            (
                "No throughput percentiles: each case's measured pods are placed in well under a second, so there "
                "is no per-second series as scheduler_perf samples it (`--window N` times calls of N pods instead)."
            ),
            "",
        ]
    listed = [r for r in rows if r.get("unsupported") or r.get("notes")]
    if listed:
        out += ["## Not supported, per case", ""]
        for r in listed:
            out.append(f"- **{r['name']}**" + (" (skipped)" if r.get("status") != "ran" else ""))
            out += [f"  - {u}" for u in dict.fromkeys(r.get("unsupported", []) + r.get("notes", []))]
        out.append("")
    bad = [r for r in rows if r.get("placements_valid") is False]
    for r in bad:
        out += [f"## Invalid placements: {r['name']}", ""] + [f"- {p}" for p in r["problems"]] + [""]
    return "\n".join(out)


def scale_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| nodes | pods | equivalence classes | pods/s | ns per node per pod | valid |", "|---:|---:|---|---:|---:|---|"]
    for r in rows:
        valid = {True: "yes", False: "**no**", None: "not checked"}[r.get("placements_valid")]
        lines.append(f"| {r['nodes']:,} | {r['pods']:,} | {'on' if r['equivalence'] else 'off'} | {_num(r['pods_per_second'])} | {r['ns_per_node_per_pod']} | {valid} |")
    return "\n".join(lines)


def write_json(out_dir: str, payload: dict[str, Any]) -> str:
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "result.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(payload, f, indent=2)
        f.write("\n")
    return path


def write_text(out_dir: str, name: str, text: str) -> str:
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text if text.endswith("\n") else text + "\n")
    return path


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_throughput(out_dir: str, rows: list[dict[str, Any]]) -> str | None:
    """Horizontal bars: Shoal's pods/s per case (log scale), thresholds as marks when stated."""
    plt = _pyplot()
    if plt is None:
        return None
    ran = [r for r in rows if r.get("status") == "ran" and r.get("pods_per_second")]
    if not ran:
        return None
    fig, ax = plt.subplots(figsize=(9, 0.28 * len(ran) + 1.5))
    names = [r["name"] for r in ran]
    colors = ["tab:blue" if r.get("placements_valid") is not False else "tab:red" for r in ran]
    ax.barh(names, [r["pods_per_second"] for r in ran], color=colors, label="Shoal (library mode)")
    marked = [(i, r["threshold"]) for i, r in enumerate(ran) if r.get("threshold")]
    if marked:
        ax.scatter([t for _, t in marked], [i for i, _ in marked], marker="|", s=200, color="black", label="kube-scheduler threshold")
    ax.set_xscale("log")
    ax.invert_yaxis()
    ax.set_xlabel("pods per second (log)")
    ax.tick_params(axis="y", labelsize=7)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title("scheduler_perf cases: placement throughput")
    fig.tight_layout()
    path = os.path.join(out_dir, "throughput.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_scaling(out_dir: str, rows: list[dict[str, Any]]) -> str | None:
    """pods/s against nodes, one line with and one without equivalence classes (log-log)."""
    plt = _pyplot()
    if plt is None or not rows:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for eq, label in ((True, "equivalence classes"), (False, "full scan per pod")):
        pts = sorted((r["nodes"], r["pods_per_second"]) for r in rows if r["equivalence"] is eq)
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("nodes")
    ax.set_ylabel("pods per second")
    ax.set_title(f"placement throughput against cluster size ({rows[0]['pods']:,} pods)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = os.path.join(out_dir, "scaling.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
