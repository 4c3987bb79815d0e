"""Benchmark the bot against a bare-Bolt baseline on the same serving stack.

    .venv/bin/python -m tests.bench.run            # the full run (about 2.5 minutes)
    .venv/bin/python -m tests.bench.run --json     # the same, as JSON on stdout
    .venv/bin/python -m tests.bench.run --runs 3   # each figure's median over three runs

Starts the Upstox emulator (every call delayed by --upstox-latency), a fake Slack
(response_url and Web API), then the baseline and the real bot (`python -m bot`, SQLite)
one after the other, each as its own process. Each gets a warm-up burst, then
`/staticip show` at every --concurrency level in every --connections mode: keep-alive
bursts, and one new TCP connection per command in a closed loop (see tests/bench/load.py).
Reports acknowledgement and end-to-end percentiles, acknowledgements per second, server
CPU per command, start-up to /readyz, RSS, and the first and last history page over
--history-events audit events on SQLite and PostgreSQL, each against its target.

Exit status 1 when a run fails (a process that does not start, errors, timeouts,
apologies); a missed target is reported in the table, not turned into a failure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python tests/bench/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.history import seed_audit, time_pages
from tests.bench.load import KEEPALIVE, MODES, NEW, LevelResult, run_level
from tests.bench.procs import Emulator, RssSampler, ServerProcess, start_emulator
from tests.bench.report import Row, machine, median_rows, percentile, render
from tests.bench.wire import SlackSink
from tests.support.bot_runner import BOT_SECRET_KEY, UPSTOX_CLIENT_ID, bot_env
from tests.support.databases import postgres_available, postgres_schema_url

STUB = "not available yet"
MB = 2**20


def _ints(text: str) -> list[int]:
    values = [int(v) for v in text.split(",") if v.strip()]
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError("positive integers, comma-separated")
    return values


def _modes(text: str) -> list[str]:
    values = [v.strip() for v in text.split(",") if v.strip()]
    if not values or any(v not in MODES for v in values):
        raise argparse.ArgumentTypeError(f"comma-separated, among {','.join(MODES)}")
    return list(dict.fromkeys(values))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tests.bench.run", description=__doc__)
    p.add_argument("--concurrency", type=_ints, default=[1, 50], help="levels, e.g. 1,50")
    p.add_argument(
        "--requests", type=_ints, default=[30, 400], help="per level (one value: every level)"
    )
    p.add_argument(
        "--connections",
        type=_modes,
        default=list(MODES),
        help="keepalive (bursts on kept-alive connections), new (a new connection per "
        "command, closed loop); default both",
    )
    p.add_argument("--runs", type=int, default=1, help="run N times; report each figure's median")
    p.add_argument("--upstox-latency", type=float, default=2.0, help="seconds per Upstox call")
    p.add_argument(
        "--answer-timeout", type=float, default=15.0, help="per burst or closed loop, seconds"
    )
    p.add_argument("--time-budget", type=float, default=600.0, help="per server, seconds")
    p.add_argument("--history-events", type=int, default=100_000)
    p.add_argument("--history-backends", default="sqlite,postgresql")
    p.add_argument("--history-repeats", type=int, default=30)
    p.add_argument("--history-page-size", type=int, default=20)
    p.add_argument("--json", action="store_true", help="print JSON instead of the table")
    args = p.parse_args(argv)
    if len(args.requests) == 1:
        args.requests = args.requests * len(args.concurrency)
    if len(args.requests) != len(args.concurrency):
        p.error("--requests needs one value, or one per --concurrency level")
    if args.runs < 1:
        p.error("--runs must be at least 1")
    return args


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# -- one server under load ---------------------------------------------------------------------
def serve_env(
    sink: SlackSink, emulator: Emulator, database_url: str, latency: float
) -> dict[str, str]:
    return bot_env(
        slack_api_url=sink.api_url,
        upstox_base_url=emulator.base_url,
        database_url=database_url,
        upstox_access_token=emulator.seed_token,
        upstox_timeout=f"{max(3, int(latency) + 5)}s",
    )


async def measure_server(
    name: str, module: str, env: dict[str, str], tmp: Path, sink: SlackSink, args: Any
) -> dict[str, Any]:
    workdir = tmp / name
    workdir.mkdir()
    server = ServerProcess(module, env, workdir, [])
    try:
        await asyncio.to_thread(server.wait_ready, 30.0)
        ready_s = server.ready_after
        assert ready_s is not None
        progress(f"{name}: ready in {ready_s:.2f} s at {server.base_url}")
        with RssSampler(server.pid) as rss:
            rss_ready = rss.current()
            levels = await _load(name, server.base_url, sink, rss, args)
            commands = max(args.concurrency) + sum(level.requests for level in levels)
            rss_after = rss.current()
            peak = max(rss.peak, rss.kernel_peak())
    finally:
        await asyncio.to_thread(server.stop)
    return {
        "ready_s": ready_s,
        "rss_ready": rss_ready,
        "rss_peak": peak,
        "rss_after": rss_after,
        "levels": levels,
        "commands": commands,  # the warm-up burst's too
    }


async def _load(
    name: str, base_url: str, sink: SlackSink, rss: RssSampler, args: Any
) -> list[LevelResult]:
    deadline = time.monotonic() + args.time_budget
    common: dict[str, Any] = {"base_url": base_url, "sink": sink, "text": "show"}
    warm = max(args.concurrency)
    await run_level(
        label=f"{name}-warmup",
        concurrency=warm,
        requests=warm,
        answer_timeout=args.answer_timeout,
        deadline=deadline,
        **common,
    )
    levels = []
    for mode in args.connections:
        for concurrency, requests in zip(args.concurrency, args.requests, strict=True):
            cpu_before = rss.cpu_seconds()
            result = await run_level(
                label=f"{name}-{mode}-c{concurrency}",
                concurrency=concurrency,
                requests=requests,
                answer_timeout=args.answer_timeout,
                deadline=deadline,
                mode=mode,
                **common,
            )
            result.cpu_s = rss.cpu_seconds() - cpu_before
            progress(
                f"{name}: {mode} c{concurrency} x{requests} in {result.wall_s:.1f} s, "
                f"{result.failed} failed"
            )
            levels.append(result)
    return levels


# -- history ------------------------------------------------------------------------------------
@contextlib.contextmanager
def history_database(backend: str, tmp: Path) -> Iterator[str | None]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp / 'history.db'}"
    elif backend == "postgresql":
        if not postgres_available():
            yield None
            return
        with postgres_schema_url() as url:
            yield url
    else:
        raise SystemExit(f"unknown history backend {backend!r}")


async def measure_history(
    backend: str, tmp: Path, sink: SlackSink, emulator: Emulator, args: Any
) -> dict[str, Any]:
    with history_database(backend, tmp) as url:
        if url is None:
            return {"backend": backend, "skipped": "PostgreSQL not reachable"}
        count = args.history_events
        seed_s = await seed_audit(url, UPSTOX_CLIENT_ID, count, BOT_SECRET_KEY)
        last_page = max(1, -(-count // args.history_page_size))
        by_page = await time_pages(
            url,
            UPSTOX_CLIENT_ID,
            pages=[1, last_page],
            page_size=args.history_page_size,
            repeats=args.history_repeats,
            secret_key=BOT_SECRET_KEY,
        )
        timings = {"first": by_page[1], "last": by_page[last_page]}
        progress(f"history {backend}: seeded {count} in {seed_s:.1f} s")
        endpoint = await _history_endpoint(
            backend, serve_env(sink, emulator, url, args.upstox_latency), tmp, sink, args
        )
    return {
        "backend": backend,
        "events": count,
        "seed_s": seed_s,
        "page_size": args.history_page_size,
        "direct_first": timings["first"],
        "direct_last": timings["last"],
        "last_page": last_page,
        **endpoint,
    }


async def _history_endpoint(
    backend: str, env: dict[str, str], tmp: Path, sink: SlackSink, args: Any
) -> dict[str, Any]:
    """Time `/staticip history` through the real bot, once the command exists."""
    workdir = tmp / f"history-{backend}"
    workdir.mkdir()
    server = ServerProcess("bot", env, workdir, [])
    try:
        await asyncio.to_thread(server.wait_ready, 30.0)
        result = await run_level(
            label=f"history-{backend}",
            base_url=server.base_url,
            sink=sink,
            text="history",
            concurrency=1,
            requests=args.history_repeats + 1,
            answer_timeout=args.answer_timeout,
            deadline=time.monotonic() + args.time_budget,
        )
    finally:
        await asyncio.to_thread(server.stop)
    if any(STUB in answer for answer in result.answers):
        return {"endpoint": None}
    return {"endpoint": result.e2e_s[1:], "endpoint_errors": dict(result.errors)}


# -- the report ---------------------------------------------------------------------------------
MODE_NAMES = {KEEPALIVE: "keep-alive", NEW: "new conn"}


def build_rows(
    bot: dict[str, Any], base: dict[str, Any], history: list[dict[str, Any]], args: Any
) -> list[Row]:
    """The figures, with issue 18's targets on the top --concurrency level (50 by default);
    ratios are bot / baseline measured in the same run."""
    latency = args.upstox_latency
    rows = [
        Row(
            "start-up to /readyz 200",
            bot["ready_s"],
            base["ready_s"],
            "s",
            "<= 1.0 s and <= 2x",
            max_value=1.0,
            max_ratio=2.0,
        ),
        Row("RSS at ready", bot["rss_ready"], base["rss_ready"], "MB", "<= 90 MB", 90 * MB),
        Row("RSS peak", bot["rss_peak"], base["rss_peak"], "MB"),
        Row(
            f"RSS after the run ({bot['commands']} commands)",
            bot["rss_after"],
            base["rss_after"],
            "MB",
            "<= 105 MB",
            105 * MB,
        ),
    ]
    top = max(args.concurrency)
    for mine, floor in zip(bot["levels"], base["levels"], strict=True):
        c, mode = mine.concurrency, mine.mode
        at = f"@c{c} {MODE_NAMES[mode]}"
        rows.append(Row(f"throughput (acks/s) {at}", mine.throughput, floor.throughput, "/s"))
        for pct in (50, 95, 99):
            row = Row(
                f"ack p{pct} {at}", percentile(mine.ack_s, pct), percentile(floor.ack_s, pct), "ms"
            )
            if c == top and pct == 50:
                row.target, row.max_ratio = "<= 1.5x", 1.5
            elif c == top and pct == 99:
                row.target, row.max_value, row.max_ratio = "<= 1.3x and <= 100 ms", 0.100, 1.3
            rows.append(row)
        for pct in (50, 95, 99):
            e2e = percentile(mine.e2e_s, pct)
            row = Row(
                f"end-to-end p{pct} {at}",
                e2e,
                percentile(floor.e2e_s, pct),
                "s",
                ratio_of="overhead",
                overhead=None if e2e is None else e2e - latency,
            )
            if c == top and pct == 95 and mode == KEEPALIVE:
                row.target = f"<= {latency:g} s + 100 ms"
                row.max_value = latency + 0.100
            rows.append(row)
        if c != top:
            continue  # at low concurrency the bot's idle background jobs would dominate
        rows.append(
            Row(
                f"server CPU per show {at}",
                mine.cpu_s / mine.requests,
                floor.cpu_s / floor.requests,
                "ms",
                "<= 1.2 ms",
                0.0012,
            )
        )
        # The load generator shares the machine: when it costs about what the server does,
        # the throughput figures measure the two together.
        rows.append(
            Row(
                f"load generator CPU per show {at}",
                mine.client_cpu_s / mine.requests,
                floor.client_cpu_s / floor.requests,
                "ms",
            )
        )
    floor_e2e = percentile(base["levels"][0].e2e_s, 50)
    for h in history:
        if "skipped" in h:
            continue
        n = f"{h['events'] // 1000}k" if h["events"] >= 1000 else str(h["events"])
        if h["endpoint"] is not None:
            for pct in (50, 95):
                row = Row(
                    f"/staticip history p{pct} ({h['backend']}, {n})",
                    percentile(h["endpoint"], pct),
                    floor_e2e if pct == 50 else None,
                    "ms",
                )
                if pct == 95:
                    row.target, row.max_value = "<= 100 ms", 0.100
                rows.append(row)
        first = {pct: percentile(h["direct_first"], pct) for pct in (50, 95)}
        for which in ("first", "last"):
            for pct in (50, 95):
                row = Row(
                    f"history {which} page p{pct} ({h['backend']}, {n})",
                    percentile(h[f"direct_{which}"], pct),
                    None,
                    "ms",
                )
                if which == "last":
                    row.ratio_of, row.reference = "reference", first[pct]
                    row.reference_name = "first"
                    if pct == 50:
                        row.target, row.max_ratio = "<= 1.5x first page", 1.5
                rows.append(row)
    return rows


def build_notes(
    bot: dict[str, Any], base: dict[str, Any], history: list[dict[str, Any]], upstox_calls: int
) -> list[str]:
    notes = []
    answers = sum(
        (level.answers for level in bot["levels"]), start=type(bot["levels"][0].answers)()
    )
    if any(STUB in a for a in answers):
        notes.append("`/staticip show` is still a stub here: the figures measure the stub.")
    notes.append(f"the bot made {upstox_calls} Upstox calls (GET /v2/user/ip)")
    top = answers.most_common(1)
    if top:
        notes.append(f"the bot's most common answer: {top[0][0]!r} (x{top[0][1]})")
    for h in history:
        if "skipped" in h:
            notes.append(f"history on {h['backend']} skipped: {h['skipped']}")
        elif h["endpoint"] is None:
            notes.append(
                f"history on {h['backend']}: `/staticip history` is not available yet, "
                "so db.audit.page is timed directly (no Slack round trip)"
            )
    for name, result in (("bot", bot), ("baseline", base)):
        for level in result["levels"]:
            for error, count in level.errors.items():
                notes.append(f"{name} {level.mode} c{level.concurrency}: {count} x {error}")
    return notes


async def _measure_all(
    args: Any, tmp: Path
) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]], int]:
    sink = await SlackSink().start()
    emulator = await asyncio.to_thread(start_emulator, tmp, args.upstox_latency)
    try:
        env = serve_env(sink, emulator, f"sqlite:///{tmp / 'bot.db'}", args.upstox_latency)
        base = await measure_server("baseline", "tests.bench.baseline_app", env, tmp, sink, args)
        before = await asyncio.to_thread(emulator.calls, "GET /v2/user/ip")
        bot = await measure_server("bot", "bot", env, tmp, sink, args)
        upstox_calls = await asyncio.to_thread(emulator.calls, "GET /v2/user/ip") - before
        history = []
        if args.history_events > 0:
            for backend in args.history_backends.split(","):
                history.append(await measure_history(backend.strip(), tmp, sink, emulator, args))
    finally:
        await asyncio.to_thread(emulator.stop)
        await sink.stop()
    return bot, base, history, upstox_calls


@dataclass
class Run:
    bot: dict[str, Any]
    base: dict[str, Any]
    history: list[dict[str, Any]]
    rows: list[Row]
    notes: list[str]
    failed: bool


def measure_run(args: Any, number: int) -> Run:
    if args.runs > 1:
        progress(f"run {number} of {args.runs}")
    with tempfile.TemporaryDirectory(prefix="staticip-bench-") as tmp_name:
        bot, base, history, upstox_calls = asyncio.run(_measure_all(args, Path(tmp_name)))
    failed = any(level.failed for r in (bot, base) for level in r["levels"])
    failed = failed or any(h.get("endpoint_errors") for h in history)
    notes = build_notes(bot, base, history, upstox_calls)
    return Run(bot, base, history, build_rows(bot, base, history, args), notes, failed)


def target_summary(rows: list[Row]) -> str:
    judged = [row for row in rows if row.ok is not None]
    missed = [row.metric for row in judged if not row.ok]
    text = f"targets: {len(judged) - len(missed)} of {len(judged)} met"
    return text + (f"; MISSED: {'; '.join(missed)}" if missed else "")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    runs = [measure_run(args, n) for n in range(1, args.runs + 1)]
    rows = runs[0].rows if len(runs) == 1 else median_rows([run.rows for run in runs])
    failed = any(run.failed for run in runs)
    notes = [target_summary(rows)]
    for n, run in enumerate(runs, start=1):
        notes.extend(run.notes if len(runs) == 1 else (f"run {n}: {note}" for note in run.notes))
    info = machine()
    header = [
        f"staticip-bot benchmark: {info['nproc']} x {info['cpu']}, Python {info['python']}, "
        f"{info['system']}, 1-min load average {info['load_average_1min']:.2f} at the end",
        f"Upstox latency {args.upstox_latency:g} s per call; concurrency "
        f"{','.join(map(str, args.concurrency))} x requests {','.join(map(str, args.requests))}"
        f" in each connection mode ({', '.join(MODE_NAMES[m] for m in args.connections)})"
        "; ratio = bot / baseline in the same run (end-to-end: the bot's time minus the "
        "Upstox latency)",
    ]
    if len(runs) > 1:
        header.append(f"each figure is the median of {len(runs)} runs")
    if args.json:
        print(json.dumps(_as_json(rows, notes, info, args, runs, failed), indent=2))
    else:
        print(render(rows, header, notes))
    return 1 if failed else 0


def _levels_json(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "mode": lv.mode,
            "concurrency": lv.concurrency,
            "requests": lv.requests,
            "acked": len(lv.ack_s),
            "answered": len(lv.e2e_s),
            "errors": dict(lv.errors),
            "wall_s": lv.wall_s,
            "ack_phase_s": lv.ack_phase_s,
            "throughput": lv.throughput,
            "cpu_s": lv.cpu_s,
            "client_cpu_s": lv.client_cpu_s,
        }
        for lv in result["levels"]
    ]


def _as_json(
    rows: list[Row],
    notes: list[str],
    info: dict[str, Any],
    args: Any,
    runs: list[Run],
    failed: bool,
) -> dict[str, Any]:
    """`rows`: the figures (each the median over the runs when there are several); `runs`:
    every run's own rows, levels and history."""
    return {
        "machine": info,
        "params": {
            "concurrency": args.concurrency,
            "requests": args.requests,
            "connections": args.connections,
            "runs": args.runs,
            "upstox_latency_s": args.upstox_latency,
            "history_events": args.history_events,
        },
        "rows": [row.as_json() for row in rows],
        "runs": [
            {
                "rows": [row.as_json() for row in run.rows],
                "levels": {"bot": _levels_json(run.bot), "baseline": _levels_json(run.base)},
                "history": [
                    {k: v for k, v in h.items() if not isinstance(v, list)} for h in run.history
                ],
                "failed": run.failed,
            }
            for run in runs
        ],
        "notes": notes,
        "failed": failed,
    }


if __name__ == "__main__":
    sys.exit(main())
