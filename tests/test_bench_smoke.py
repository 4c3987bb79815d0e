"""The benchmark script still works: a tiny run through the real command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_benchmark_tiny_run_prints_every_figure_with_its_ratio() -> None:
    completed = subprocess.run(
        [
            sys.executable,
            "tests/bench/run.py",
            "--concurrency=1,3",
            "--requests=2,3",
            "--upstox-latency=0.05",
            "--answer-timeout=5",
            "--history-events=300",
            "--history-backends=sqlite",
            "--history-repeats=2",
            "--json",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    report = json.loads(completed.stdout)
    assert report["failed"] is False
    rows = {row["metric"]: row for row in report["rows"]}
    for metric in (
        "start-up to /readyz 200",
        "ack p99 @c3",
        "end-to-end p95 @c3",
        "RSS after the run",
    ):
        assert rows[metric]["bot"] > 0, metric
        assert rows[metric]["baseline"] > 0, metric
        assert rows[metric]["ratio"] is not None, metric
    # Every command was acknowledged and answered at its own response_url, on both servers.
    for server in ("bot", "baseline"):
        for level in report["levels"][server]:
            assert level["acked"] == level["requests"] == level["answered"], (server, level)
    (history,) = report["history"]
    assert history["backend"] == "sqlite"
    assert history["events"] == 300
    assert any(metric.startswith("audit.page(1) p95 (sqlite") for metric in rows)


def test_benchmark_refuses_mismatched_levels() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "tests.bench.run", "--concurrency=1,2,3", "--requests=1,2"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert completed.returncode == 2
    assert "--requests needs one value" in completed.stderr
