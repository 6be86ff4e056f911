"""`shoal bench report --quick`: suites run, RESULTS.md sections regenerated, hand-written text kept."""

from __future__ import annotations

import subprocess

from test_bench_cli_smoke import bench_command

TINY_CONFIG = """\
- name: TinyBasic
  workloadTemplate:
  - opcode: createNodes
    countParam: $initNodes
  - opcode: createPods
    countParam: $measurePods
    collectMetrics: true
  workloads:
  - name: 40Nodes
    params: {initNodes: 40, measurePods: 200}
    threshold: 5
"""

HAND_WRITTEN = """\
# Benchmark results

Hand-written notes by somebody else: keep me.

<!-- generated:perf-config -->
stale figures
<!-- /generated:perf-config -->

## Another hand-written section
"""


def _report(tmp_path, *only: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*bench_command(), "report", "--quick", "--only", ",".join(only), "--config", str(tmp_path / "tiny.yaml"),
         "--results", str(tmp_path / "RESULTS.md")],
        capture_output=True, text=True, check=False, timeout=240,
    )


def test_report_quick_regenerates_marked_sections_only(tmp_path):
    (tmp_path / "tiny.yaml").write_text(TINY_CONFIG)
    results = tmp_path / "RESULTS.md"
    results.write_text(HAND_WRITTEN)
    proc = _report(tmp_path, "perf-config", "scale")
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = results.read_text()
    assert text.startswith("# Benchmark results\n\nHand-written notes by somebody else: keep me.\n")
    assert "## Another hand-written section" in text and "stale figures" not in text
    # The perf-config section stays where it was; scale is appended after the hand-written text.
    assert text.index("<!-- generated:perf-config -->") < text.index("## Another") < text.index("<!-- generated:scale -->")
    assert "| TinyBasic | 40Nodes | 2 | 10 |" in text  # --quick: scale 0.05
    assert "Command: `shoal bench perf-config " in text and "--scale 0.05" in text
    assert "Command: `shoal bench scale --nodes 500,2000 --pods 2000" in text
    assert text.count("Machine: ") == 2 and "CPUs (" in text and "GiB" in text and "load average" in text
    assert "2 of 2 sections regenerated" in proc.stderr

    assert text.count("<!-- generated:perf-config -->") == 1  # replaced, not added (more in test_bench_report_units)

def test_report_unknown_suite_is_an_error(tmp_path):
    proc = _report(tmp_path, "nosuch")
    assert proc.returncode == 1 and "unknown suite nosuch" in proc.stderr
