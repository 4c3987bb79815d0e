"""Percentiles, the machine description and the plain-text table."""

from __future__ import annotations

import os
import platform
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


def percentile(values: list[float], pct: int) -> float | None:
    """Inclusive linear interpolation (p100 = max); None for no data."""
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
        # Other work on the machine skews every figure; say how busy it was.
        "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


@dataclass
class Row:
    metric: str
    bot: float | None
    baseline: float | None
    unit: str  # "ms", "s" or "MB"
    target: str = ""
    ok: bool | None = None  # None: no target on this row
    ratio_of: str = "value"  # what the ratio compares: "value" or "overhead"
    overhead: float | None = None  # e2e minus the injected Upstox latency

    @property
    def ratio(self) -> float | None:
        mine = self.overhead if self.ratio_of == "overhead" else self.bot
        if mine is None or not self.baseline:
            return None
        return mine / self.baseline

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio}


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "ms":
        return f"{value * 1000:.1f} ms"
    if unit == "MB":
        return f"{value / 2**20:.1f} MB"
    return f"{value:.3f} s"


def render(rows: list[Row], header: list[str], notes: list[str]) -> str:
    table = [("metric", "bot", "baseline", "ratio", "target", "")]
    for row in rows:
        ratio = "-" if row.ratio is None else f"{row.ratio:.2f}x"
        if row.ratio_of == "overhead" and row.ratio is not None:
            ratio += f" (+{_fmt(row.overhead, 'ms')})"
        verdict = "" if row.ok is None else ("ok" if row.ok else "MISSED")
        table.append(
            (
                row.metric,
                _fmt(row.bot, row.unit),
                _fmt(row.baseline, row.unit),
                ratio,
                row.target,
                verdict,
            )
        )
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    lines = [*header, ""]
    for n, line in enumerate(table):
        cells = [line[0].ljust(widths[0])] + [
            cell.rjust(width) if i < 4 else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(line[1:], widths[1:], strict=True), start=1)
        ]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    if notes:
        lines.append("")
        lines.extend(f"- {note}" for note in notes)
    return "\n".join(lines)
