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
        "cpu_model": cpu_model(),
        "memory_gib": memory_gib(),
        "load_average": [round(x, 2) for x in load],
    }


def cpu_model() -> str:
    """The first `model name` of /proc/cpuinfo (the platform's processor name elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_gib() -> float | None:
    """MemTotal of /proc/meminfo in GiB (None where there is no /proc)."""
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / (1 << 20), 1)
    except OSError:
        pass
    return None


def _num(x: Any, digits: int = 0) -> str:
    if x is None:
        return "—"
    if isinstance(x, float) and digits:
        return f"{x:,.{digits}f}"
    return f"{x:,.0f}" if isinstance(x, (int, float)) else str(x)


def perf_table(rows: list[dict[str, Any]]) -> str:
    """case | workload | nodes | pods | Shoal pods/s | latency p50 / p99 | kube-scheduler threshold | ratio | target | valid;
    a threshold the configuration does not state carries a [n] pointing at threshold_notes()."""
    marks = _source_marks(rows)
    lines = [
        "| case | workload | nodes | pods | Shoal pods/s | latency p50 / p99 ms | kube-scheduler threshold | ratio | target | valid |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in rows:
        threshold = _num(r.get("threshold")) + (f" [{marks[_source_key(r)]}]" if _source_key(r) in marks else "")
        if r.get("status") != "ran":
            lines.append(f"| {r['case']} | {r['workload']} | — | — | {r.get('status', 'skipped')} | — | {threshold} | — | — | — |")
            continue
        valid = {True: "yes", False: f"**no** ({r['problem_count']})", None: "not checked"}[r.get("placements_valid")]
        pods = f"{r['pods']:,}" + (f" ({r['placed']:,} placed)" if r.get("placed") != r["pods"] else "")
        lines.append(
            f"| {r['case']} | {r['workload']} | {r['nodes']:,} | {pods} | {_num(r['pods_per_second'])} | {_latency(r)} | "
            f"{threshold} | {_num(r.get('ratio'), 1) if r.get('ratio') else '—'} | {_target(r)} | {valid} |"
        )
    return "\n".join(lines)


def _target(r: dict[str, Any]) -> str:
    if not r.get("target") or r.get("target_met") is None:
        return f"{r['target']}x" if r.get("target") else "—"
    return f"{r['target']}x: " + ("met" if r["target_met"] else "**missed**")


def _source_key(r: dict[str, Any]) -> tuple[str, str] | None:
    src = r.get("threshold_source") or {}
    return (src["path"], src["commit"]) if src.get("from") == "upstream" else None


def _source_marks(rows: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
    """Each upstream file the thresholds came from -> its footnote number, in order of appearance."""
    keys = [k for k in (_source_key(r) for r in rows) if k]
    return {k: i + 1 for i, k in enumerate(dict.fromkeys(keys))}


def threshold_notes(rows: list[dict[str, Any]]) -> str:
    """Where the thresholds come from (one line per upstream file) and how many targets are met."""
    if not any(r.get("threshold") for r in rows):
        return ("The configuration states no `threshold` for any workload, so the ratio column is empty "
                "(`--thresholds upstream` takes kube-scheduler's published ones).")
    out = []
    for (path, commit), n in _source_marks(rows).items():
        mine = [r for r in rows if _source_key(r) == (path, commit)]
        out.append(f"- [{n}] {mine[0]['threshold_source']['repo']} `{path}` @{commit[:8]}: kube-scheduler's threshold for the "
                   "upstream workload of that name, run here with its params on this configuration's own workloadTemplate; "
                   "not stated by the configuration")
        by_gates: dict[str, list[str]] = {}
        for r in mine:
            gates = ", ".join(f"{k}={str(v).lower()}" for k, v in sorted(r["threshold_source"]["feature_gates"].items()))
            if gates:
                by_gates.setdefault(gates, []).append(r["name"])
        out += [f"  - upstream runs {', '.join(names)} with {gates} (the variant without a feature-gate suffix)"
                for gates, names in by_gates.items()]
        out += [f"  - {r['name']}: {r['threshold_source']['note']}" for r in mine if r["threshold_source"].get("note")]
    judged = [r for r in rows if r.get("target_met") is not None]
    if judged:
        missed = [r for r in judged if not r["target_met"]]
        out += [""] if out else []
        out.append(f"Targets (tracker issue 8): 100x kube-scheduler's threshold for the basic, node-affinity, taint and spreading cases, "
                   f"10x for the others; met by {len(judged) - len(missed)} of {len(judged)} thresholded workloads"
                   + ("; missed by " + ", ".join(f"{r['name']} ({r['ratio']}x of {r['target']}x)" for r in missed) if missed else "")
                   + ".")
    return "\n".join(out)


def perf_summary(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    out = [
        "# shoal bench perf-config",
        "",
        (
            f"Configuration: `{meta['config']}`, scale {meta['scale']}, {meta.get('mode', 'library')} mode "
            f"(equivalence classes {'on' if meta.get('equivalence', True) else 'off'}, thresholds {meta.get('thresholds', 'file')}); "
            f"{machine_line(meta['env'])}."
        ),
        "",
        perf_table(rows),
        "",
        "Latency: " + _latency_basis(rows),
        "",
    ]
    out += [threshold_notes(rows), ""]
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


def _latency(r: dict[str, Any]) -> str:
    lat = r.get("latency_ms")
    return f"{lat['p50']:,.1f} / {lat['p99']:,.1f}" if lat else "—"


def _latency_basis(rows: list[dict[str, Any]]) -> str:
    bases = list(dict.fromkeys(r["latency_basis"] for r in rows if r.get("latency_basis")))
    return "; ".join(bases) if bases else "not measured."


def machine_line(env: dict[str, Any]) -> str:
    return (f"{env['date']}, {env['cpus']} CPUs ({env.get('cpu_model', '?')}), {env.get('memory_gib', '?')} GiB, "
            f"load average {env['load_average'][0]}")


def scale_table(rows: list[dict[str, Any]]) -> str:
    cluster = any(r.get("mode") == "cluster" for r in rows)
    if cluster:
        lines = ["| nodes | pods | pods bound/s | per-second p50 / p99 | latency p50 / p99 ms | all Running after s | valid |",
                 "|---:|---:|---:|---:|---:|---:|---|"]
    else:
        lines = ["| nodes | pods | equivalence classes | pods/s | latency p50 / p99 ms | ns per node per pod | valid |",
                 "|---:|---:|---|---:|---:|---:|---|"]
    for r in rows:
        valid = {True: "yes", False: "**no**", None: "not checked"}[r.get("placements_valid")]
        pods = f"{r['pods']:,}" + (f" ({r['placed']:,} placed)" if r.get("placed", r["pods"]) != r["pods"] else "")
        if cluster:
            pct = r.get("percentiles")
            per_second = f"{pct['p50']:,.0f} / {pct['p99']:,.0f}" if pct else "—"
            lines.append(f"| {r['nodes']:,} | {pods} | {_num(r['pods_per_second'])} | {per_second} | "
                         f"{_latency(r)} | {_num(r.get('seconds_to_all_running'), 1)} | {valid} |")
        else:
            lines.append(f"| {r['nodes']:,} | {pods} | {'on' if r['equivalence'] else 'off'} | {_num(r['pods_per_second'])} | "
                         f"{_latency(r)} | {r['ns_per_node_per_pod']} | {valid} |")
    return "\n".join(lines)


def scale_summary(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    out = ["# shoal bench scale", "", f"{meta.get('mode', 'library')} mode; {machine_line(meta['env'])}.", "", scale_table(rows), "",
           "Latency: " + _latency_basis(rows), ""]
    return "\n".join(out)


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
    """pods/s against nodes, one line with and one without equivalence classes (log-log); in
    cluster mode, pods bound per second through the control plane."""
    plt = _pyplot()
    if plt is None or not rows:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    curves = (("library", True, "library mode, equivalence classes"), ("library", False, "library mode, full scan per pod"),
              ("cluster", True, "cluster mode (server + hollow agents), pods bound/s"))
    for mode, eq, label in curves:
        pts = sorted((r["nodes"], r["pods_per_second"]) for r in rows if r.get("mode", "library") == mode and r["equivalence"] is eq)
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


MAX_CURVES = 10


def _series_rows(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """The rows that carry `key`, the largest (most pods) first, at most MAX_CURVES."""
    ran = [r for r in rows if r.get(key) and r.get("status", "ran") == "ran"]
    return sorted(ran, key=lambda r: -r.get("pods", 0))[:MAX_CURVES]


def _default_label(row: dict[str, Any]) -> str:
    return row.get("name") or f"{row.get('nodes', '?')} nodes"


def plot_over_time(out_dir: str, rows: list[dict[str, Any]], label: Any = None) -> str | None:
    """Pods placed against time since the first measured pod was enqueued (throughput_over_time.png)."""
    plt = _pyplot()
    picked = _series_rows(rows, "throughput_series") if plt is not None else []
    if not picked:
        return None
    label = label or _default_label
    fig, ax = plt.subplots(figsize=(8, 4.8))
    for r in picked:
        cluster = r.get("mode") == "cluster"
        for key, style, suffix in (("throughput_series", "-", ", bound" if cluster else ""), ("running_series", "--", ", Running")):
            if r.get(key):
                pts = [(0.0, 0.0)] + [(ms / 1e3, frac * r["pods"]) for ms, frac in r[key]]
                ax.plot([p[0] for p in pts], [p[1] for p in pts], style, drawstyle="steps-post", label=label(r) + suffix)
    ends = [r["throughput_series"][-1][0] for r in picked]
    # One time axis for runs of milliseconds and of minutes: symlog only when they differ that much.
    if max(ends) > 100 * max(min(ends), 1e-6):
        ax.set_xscale("symlog", linthresh=1e-3)
        ax.set_xlabel("seconds since the first measured pod was enqueued (symlog)")
    else:
        ax.set_xlabel("seconds since the first measured pod was enqueued")
    ax.set_ylabel("pods placed")
    mode = "cluster mode: seen bound, then Running" if any(r.get("mode") == "cluster" for r in picked) else "library mode"
    ax.set_title(f"throughput over time ({mode})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    path = os.path.join(out_dir, "throughput_over_time.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_latency_cdf(out_dir: str, rows: list[dict[str, Any]], label: Any = None) -> str | None:
    """Fraction of pods placed within a latency (latency_cdf.png), one curve per case."""
    plt = _pyplot()
    picked = _series_rows(rows, "latency_cdf") if plt is not None else []
    if not picked:
        return None
    label = label or _default_label
    fig, ax = plt.subplots(figsize=(8, 4.8))
    for r in picked:
        pts = [(r["latency_cdf"][0][0], 0.0)] + [(ms, frac) for ms, frac in r["latency_cdf"]]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], drawstyle="steps-post", label=label(r))
    ax.set_xscale("log")
    ax.set_xlabel("per-pod latency, enqueued to placed (ms, log)")
    ax.set_ylabel("fraction of pods")
    ax.set_ylim(0, 1.02)
    ax.set_title("latency CDF")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    path = os.path.join(out_dir, "latency_cdf.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
