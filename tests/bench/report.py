"""Percentiles, the machine description and the plain-text table."""

from __future__ import annotations

import os
import platform
import statistics
from dataclasses import asdict, dataclass, replace
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
    """One figure. A target is declarative (`max_value`, `max_ratio`), so `ok` can be worked
    out again on the median of several runs."""

    metric: str
    bot: float | None
    baseline: float | None
    unit: str  # "ms", "s", "MB" or "/s"
    target: str = ""  # the target as the table shows it
    max_value: float | None = None  # target: bot <= max_value
    max_ratio: float | None = None  # target: ratio <= max_ratio
    ratio_of: str = "value"  # what the ratio compares: "value", "overhead" or "reference"
    overhead: float | None = None  # e2e minus the injected Upstox latency
    reference: float | None = None  # ratio_of="reference": what bot is divided by
    reference_name: str = ""  # e.g. "first page", shown after the ratio

    @property
    def ratio(self) -> float | None:
        mine = self.overhead if self.ratio_of == "overhead" else self.bot
        below = self.reference if self.ratio_of == "reference" else self.baseline
        if mine is None or not below or mine < 0:
            return None  # (an answer sooner than the Upstox latency: it shared a call)
        return mine / below

    @property
    def ok(self) -> bool | None:
        """None: no target on this row; False also when a figure it needs is missing."""
        if self.max_value is None and self.max_ratio is None:
            return None
        if self.max_value is not None and (self.bot is None or self.bot > self.max_value):
            return False
        ratio = self.ratio
        return self.max_ratio is None or (ratio is not None and ratio <= self.max_ratio)

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio, "ok": self.ok}


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def median_rows(runs: list[list[Row]]) -> list[Row]:
    """Each figure's median over the runs (bot, baseline, overhead and reference each on its
    own; the ratio and the verdict are then worked out on the medians). Rows in the order of
    the first run; a row some run lacks takes the median of the runs that have it."""
    by_metric: dict[str, list[Row]] = {}
    for rows in runs:
        for row in rows:
            by_metric.setdefault(row.metric, []).append(row)
    combined = []
    for same in by_metric.values():
        combined.append(
            replace(
                same[0],
                bot=_median([r.bot for r in same]),
                baseline=_median([r.baseline for r in same]),
                overhead=_median([r.overhead for r in same]),
                reference=_median([r.reference for r in same]),
            )
        )
    return combined


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "ms":
        return f"{value * 1000:.1f} ms"
    if unit == "MB":
        return f"{value / 2**20:.1f} MB"
    if unit == "/s":
        return f"{value:.0f} /s"
    return f"{value:.3f} s"


def render(rows: list[Row], header: list[str], notes: list[str]) -> str:
    table = [("metric", "bot", "baseline", "ratio", "target", "")]
    for row in rows:
        ratio = "-" if row.ratio is None else f"{row.ratio:.2f}x"
        if row.ratio_of == "overhead" and row.overhead is not None:
            ratio += f" ({row.overhead * 1000:+.1f} ms)"
        elif row.ratio_of == "reference" and row.ratio is not None:
            ratio += f" of {row.reference_name}"
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
