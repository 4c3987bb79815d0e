"""The bot's Prometheus metrics: one registry, the metrics in it, and a function per event.

Counters and the latency histogram are moved by explicit calls in the flows that own the
event (the command router, the approval decision, the PUT, the scheduler, the Upstox
client's hook passed by `bot.app.build`). The state gauges (token, next allowed change,
active alerts) are set by `bot.web`'s /metrics route from the services just before
rendering. Labels are fixed words, account ids and job names: never a token, secret, IP
or anything a user typed.

`/metrics` is served only when METRICS_ENABLED=true; `bot.web` then calls `enable()`. Until
then every event function does nothing and prometheus_client is not even imported (a bot
without metrics neither pays for the import nor keeps counters nobody reads).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from bot.week_window import ChangeWindow

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

TOKEN_STATES = ("valid", "expired", "invalidated", "missing", "unreadable")
KNOWN_SUBCOMMANDS = frozenset({"show", "status", "set", "cancel", "history", "login", "help"})


@dataclass(frozen=True)
class _Metrics:
    registry: CollectorRegistry
    commands: Counter
    decisions: Counter
    puts: Counter
    job_runs: Counter
    job_failures: Counter
    upstox_seconds: Histogram
    token_state: Gauge
    next_change_seconds: Gauge
    alerts_active: Gauge


_metrics: _Metrics | None = None


def enable() -> None:
    """Create the registry and its metrics (once per process; later calls keep them)."""
    global _metrics
    if _metrics is not None:
        return
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

    registry = CollectorRegistry(auto_describe=True)
    _metrics = _Metrics(
        registry=registry,
        commands=Counter(
            "staticip_commands",
            "/staticip commands by subcommand and outcome (ok, refused: a user-facing no, error)",
            ["subcommand", "outcome"],
            registry=registry,
        ),
        decisions=Counter(
            "staticip_decisions",
            "Approval decisions recorded, by decision (approve, reject)",
            ["decision"],
            registry=registry,
        ),
        puts=Counter(
            "staticip_ip_changes",
            "PUT /v2/user/ip outcomes (applied, failed, unknown, not_logged_in)",
            ["outcome"],
            registry=registry,
        ),
        job_runs=Counter("staticip_job_runs", "Scheduled job runs", ["job"], registry=registry),
        job_failures=Counter(
            "staticip_job_failures", "Scheduled job runs that failed", ["job"], registry=registry
        ),
        upstox_seconds=Histogram(
            "staticip_upstox_request_seconds",
            "Upstox API call latency by endpoint and result (2xx, 4xx, 5xx, transport_error)",
            ["endpoint", "result"],
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=registry,
        ),
        token_state=Gauge(
            "staticip_token_state",
            "1 for the stored Upstox token's current state (valid, expired, invalidated, "
            "missing, unreadable), per account",
            ["account", "state"],
            registry=registry,
        ),
        next_change_seconds=Gauge(
            "staticip_seconds_until_next_change",
            "Seconds until Upstox allows the next IP change (0: allowed now), as of the last "
            "read of the registered IPs; absent until one",
            ["account"],
            registry=registry,
        ),
        alerts_active=Gauge(
            "staticip_alerts_active", "Alerts currently raised in the channel", registry=registry
        ),
    )


def command(subcommand: str, outcome: str) -> None:
    if _metrics is None:
        return
    label = subcommand if subcommand in KNOWN_SUBCOMMANDS else "unknown"
    _metrics.commands.labels(label, outcome).inc()


def decision(verb: str) -> None:
    if _metrics is not None:
        _metrics.decisions.labels(verb).inc()


def put(outcome: str) -> None:
    if _metrics is not None:
        _metrics.puts.labels(outcome).inc()


def job_run(name: str, *, ok: bool) -> None:
    if _metrics is None:
        return
    _metrics.job_runs.labels(name).inc()
    if not ok:
        _metrics.job_failures.labels(name).inc()


def upstox_call(endpoint: str, result: str, seconds: float) -> None:
    if _metrics is not None:
        _metrics.upstox_seconds.labels(endpoint, result).observe(seconds)


def record_account(
    *, account: str, token_state: str, window: ChangeWindow | None, now: datetime
) -> None:
    """Set one account's state gauges.

    `window`: the change window as of the last read of the registered IPs (None before
    the first read: the gauge stays absent)."""
    if _metrics is None:
        return
    for state in TOKEN_STATES:
        _metrics.token_state.labels(account, state).set(1 if state == token_state else 0)
    if window is not None:
        seconds = 0.0
        if not window.allowed and window.next_allowed_at is not None:
            seconds = max(0.0, (window.next_allowed_at - now).total_seconds())
        _metrics.next_change_seconds.labels(account).set(seconds)


def render(*, alerts_active: int) -> tuple[bytes, str]:
    """The exposition text (after `record_account` for every account) and its type."""
    if _metrics is None:
        raise RuntimeError("metrics are not enabled (METRICS_ENABLED=false)")
    from prometheus_client import generate_latest
    from prometheus_client.exposition import CONTENT_TYPE_LATEST

    _metrics.alerts_active.set(alerts_active)
    return generate_latest(_metrics.registry), CONTENT_TYPE_LATEST
