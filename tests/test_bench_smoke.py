"""The benchmark script still works: a tiny run through the real command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.bench.report import Row, median_rows

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_benchmark_tiny_run_prints_every_figure_with_its_ratio() -> None:
    completed = subprocess.run(
        [
            sys.executable,
            "tests/bench/run.py",
            "--concurrency=1,3",
            "--requests=2,4",
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
        timeout=90,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    report = json.loads(completed.stdout)
    assert report["failed"] is False
    assert report["params"]["connections"] == ["keepalive", "new"]
    rows = {row["metric"]: row for row in report["rows"]}
    for metric in (
        "start-up to /readyz 200",
        "RSS at ready",
        "ack p50 @c3 keep-alive",
        "ack p99 @c3 keep-alive",
        "end-to-end p95 @c3 keep-alive",
        "throughput (acks/s) @c3 keep-alive",
        "ack p50 @c3 new conn",
        "ack p99 @c3 new conn",
        "end-to-end p95 @c3 new conn",
        "throughput (acks/s) @c3 new conn",
    ):
        assert rows[metric]["bot"] > 0, metric
        assert rows[metric]["baseline"] > 0, metric
        assert rows[metric]["ratio"] is not None, metric
    after = next(row for name, row in rows.items() if name.startswith("RSS after the run"))
    assert after["bot"] > 0 and after["ok"] is not None
    # Each of issue 18's targets is judged (ok or missed), whatever this machine measures.
    # (CPU time comes in clock ticks: a few commands of the baseline may read as 0.)
    for metric in (
        "server CPU per show @c3 keep-alive",
        "start-up to /readyz 200",
        "ack p50 @c3 new conn",
        "ack p99 @c3 new conn",
        "end-to-end p95 @c3 keep-alive",
        "server CPU per show @c3 new conn",
        "history last page p50 (sqlite, 300)",
    ):
        assert isinstance(rows[metric]["ok"], bool), metric
    assert rows["history last page p50 (sqlite, 300)"]["ratio"] is not None
    (run,) = report["runs"]
    # Every command was acknowledged and answered at its own response_url, on both servers,
    # in both connection modes, with no error of any kind.
    for server in ("bot", "baseline"):
        levels = run["levels"][server]
        assert [(lv["mode"], lv["concurrency"]) for lv in levels] == [
            ("keepalive", 1),
            ("keepalive", 3),
            ("new", 1),
            ("new", 3),
        ], server
        for level in levels:
            assert level["acked"] == level["requests"] == level["answered"], (server, level)
            assert level["errors"] == {}, (server, level)
    (history,) = run["history"]
    assert history["backend"] == "sqlite"
    assert history["events"] == 300


def test_benchmark_refuses_mismatched_levels_and_unknown_modes() -> None:
    for args, message in (
        (["--concurrency=1,2,3", "--requests=1,2"], "--requests needs one value"),
        (["--connections=keepalive,pipelined"], "--connections"),
    ):
        completed = subprocess.run(
            [sys.executable, "-m", "tests.bench.run", *args],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert completed.returncode == 2, args
        assert message in completed.stderr, args


def test_several_runs_report_each_figures_median_and_judge_it_again() -> None:
    def ack(bot: float, baseline: float) -> Row:
        return Row("ack p99", bot, baseline, "ms", "<= 1.3x and <= 100 ms", 0.100, 1.3)

    # Ratios 2.0, 1.0, 1.2 and a value over 100 ms in one run: the medians (60 ms against
    # 50 ms, 1.2x) meet the target, though one run missed it.
    runs = [[ack(0.120, 0.060)], [ack(0.050, 0.050)], [ack(0.060, 0.040)]]
    assert [r[0].ok for r in runs] == [False, True, False]
    (median,) = median_rows(runs)
    assert (median.bot, median.baseline) == (0.060, 0.050)
    assert median.ratio is not None and abs(median.ratio - 1.2) < 1e-9
    assert median.ok is True
    (missed,) = median_rows([[ack(0.120, 0.060)], [ack(0.110, 0.050)]])
    assert missed.ok is False
