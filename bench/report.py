"""Rows of the bench, and what is made of them: the Markdown table, the JSON, the PNG plot."""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Row:
    """One scenario: compute-emu's figure, its baseline's, how they compare, the target."""

    key: str
    scenario: str
    value: float | None  # compute-emu's figure, in ``unit``
    unit: str
    baseline: float | None = None
    baseline_name: str = ""
    compare: str = ""  # "ratio" (value / baseline), "added" (value - baseline) or ""
    target: str = ""
    met: bool | None = None  # None: no target, or not measured
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def comparison(self) -> float | None:
        if self.value is None or self.baseline is None:
            return None
        if self.compare == "ratio":
            return self.value / self.baseline if self.baseline else None
        if self.compare == "added":
            return self.value - self.baseline
        return None


def fmt(value: float | None, unit: str) -> str:
    """A figure with its unit, at a precision that suits it."""
    if value is None:
        return "—"
    if unit == "ms":
        return f"{value:.3f} ms" if value < 10 else f"{value:.1f} ms"
    if unit == "req/s":
        return f"{value:,.0f} req/s"
    if unit == "s":
        return f"{value:.3f} s" if value < 10 else f"{value:.1f} s"
    if unit in ("KiB", "MiB", "MB/s"):
        return f"{value:,.1f} {unit}" if value < 100 else f"{value:,.0f} {unit}"
    return f"{value:g} {unit}"


def table(rows: list[Row]) -> str:
    """The Markdown table: scenario | compute-emu | baseline | ratio/added | target | met?"""
    out = [
        "| scenario | compute-emu | baseline (same run) | ratio / added | target | met? |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        value = fmt(row.value, row.unit)
        if "p99" in row.extra and row.value is not None:
            value += f" (p99 {fmt(row.extra['p99'], row.unit)})"
        base = fmt(row.baseline, row.unit) if row.baseline is not None else "—"
        if row.baseline_name:
            base = f"{row.baseline_name}: {base}" if row.baseline is not None else row.baseline_name
        if "baseline_p99" in row.extra and row.baseline is not None:
            base += f" (p99 {fmt(row.extra['baseline_p99'], row.unit)})"
        comparison = row.comparison
        if comparison is None:
            compared = "—"
        elif row.compare == "ratio":
            compared = f"{comparison:.2f}x"
        else:
            compared = f"{comparison:+.3f} {row.unit}"
        met = {True: "yes", False: "**no**", None: "—"}[row.met]
        if row.note:
            met += f" ({row.note})"
        out.append(f"| {row.scenario} | {value} | {base} | {compared} | {row.target} | {met} |")
    return "\n".join(out)


def _first(pattern: str, text: str) -> str:
    match = re.search(pattern, text, re.M)
    return match.group(1).strip() if match else "unknown"


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    pushpin = "not installed"
    if shutil.which("pushpin"):
        out = subprocess.run(["pushpin", "--version"], capture_output=True, text=True, check=False)
        pushpin = (out.stdout or out.stderr).strip()
    wrk = "not installed"
    if shutil.which("wrk"):
        out = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
        wrk = _first(r"^(wrk \S+)", out.stdout + out.stderr)
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cpu": _first(r"^model name\s*:\s*(.*)$", cpuinfo),
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "pushpin": pushpin,
        "wrk": wrk,
        "load_average_at_start": list(os.getloadavg()),
    }


def write(rows: list[Row], info: dict[str, Any], plot: dict[str, Any]) -> str:
    """Write latest.md and latest.json under bench/results/; returns the Markdown."""
    RESULTS.mkdir(exist_ok=True)
    missed = [row.scenario for row in rows if row.met is False]
    lines = [
        "# compute-emu benchmark (`make bench`)",
        "",
        f"{info['date']} · {info['cpu']}, {info['cores']} cores · Linux {info['kernel']} · "
        f"Python {info['python']} · {info['pushpin']} · wall time {info['wall_seconds']:.0f} s",
        "",
        table(rows),
        "",
        f"Missed targets: {len(missed)} of {sum(r.met is not None for r in rows)}"
        + ("" if not missed else ": " + "; ".join(missed)),
        "",
    ]
    profiles = [f"{row.key}: {row.extra['profile']}" for row in rows if row.extra.get("profile")]
    if profiles:
        lines += ["py-spy flame graphs of compute-emu (BENCH_PROFILE=1): " + ", ".join(profiles)]
        lines += [""]
    if info.get("notes"):
        lines += [*(f"- {note}" for note in info["notes"]), ""]
    text = "\n".join(lines)
    (RESULTS / "latest.md").write_text(text)
    data = {
        "machine": info,
        "rows": [{**asdict(row), "comparison": row.comparison} for row in rows],
        "plot": plot,
        "missed": missed,
    }
    (RESULTS / "latest.json").write_text(json.dumps(data, indent=2) + "\n")
    return text


def plot_latency(series: dict[str, dict[int, float]], path: Path) -> str:
    """PNG of publish-to-delivery p50 against held HTTP streams; returns how it was drawn."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("  ! matplotlib missing (pip install -e '.[bench]'): no plot", file=sys.stderr)
        return "not drawn: matplotlib missing"
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    lines = (("compute-emu", "o-", 6), ("nginx relay", "^:", 6), ("Pushpin direct", "s--", -14))
    for name, style, offset in lines:
        points = sorted((int(n), v) for n, v in series.get(name, {}).items())
        if points:
            ax.plot([n for n, _ in points], [v for _, v in points], style, label=name)
            for n, v in points:
                label = f"{v:.3g}"
                ax.annotate(label, (n, v), textcoords="offset points", xytext=(6, offset))
    ax.set_xscale("log")
    ax.set_yscale("log")
    counts = sorted({int(n) for points in series.values() for n in points})
    ax.set_xticks(counts, [f"{n:,}" for n in counts])
    ax.minorticks_off()
    ax.margins(x=0.12, y=0.15)
    ax.set_xlabel("held HTTP streams (subscribers of the channel)")
    ax.set_ylabel("publish-to-delivery p50 (ms)")
    ax.set_title("Publish to delivery, same Pushpin, same run")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return f"matplotlib {matplotlib.__version__}"
