"""The bot's Prometheus metrics: one registry, the metrics in it, and a function per event.

Counters and the latency histogram are moved by explicit calls in the flows that own the
event (the command router, the approval decision, the PUT, the scheduler, the Upstox
client's hook passed by `bot.app.build`). The state gauges (token, next allowed change,
active alerts) are set by `bot.web`'s /metrics route from the services just before
rendering. Labels are fixed words, account ids and job names: never a token, secret, IP
or anything a user typed.

`/metrics` is served only when METRICS_ENABLED=true.
"""

from __future__ import annotations

from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from bot.week_window import ChangeWindow

REGISTRY = CollectorRegistry(auto_describe=True)
CONTENT_TYPE = CONTENT_TYPE_LATEST

COMMANDS = Counter(
    "staticip_commands",
    "/staticip commands by subcommand and outcome (ok, refused: a user-facing no, error)",
    ["subcommand", "outcome"],
    registry=REGISTRY,
)
DECISIONS = Counter(
    "staticip_decisions",
    "Approval decisions recorded, by decision (approve, reject)",
    ["decision"],
    registry=REGISTRY,
)
PUTS = Counter(
    "staticip_ip_changes",
    "PUT /v2/user/ip outcomes (applied, failed, unknown, not_logged_in)",
    ["outcome"],
    registry=REGISTRY,
)
JOB_RUNS = Counter("staticip_job_runs", "Scheduled job runs", ["job"], registry=REGISTRY)
JOB_FAILURES = Counter(
    "staticip_job_failures", "Scheduled job runs that failed", ["job"], registry=REGISTRY
)
UPSTOX_SECONDS = Histogram(
    "staticip_upstox_request_seconds",
    "Upstox API call latency by endpoint and result (2xx, 4xx, 5xx, transport_error)",
    ["endpoint", "result"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
TOKEN_STATE = Gauge(
    "staticip_token_state",
    "1 for the stored Upstox token's current state (valid, expired, invalidated, missing, "
    "unreadable), per account",
    ["account", "state"],
    registry=REGISTRY,
)
NEXT_CHANGE_SECONDS = Gauge(
    "staticip_seconds_until_next_change",
    "Seconds until Upstox allows the next IP change (0: allowed now), as of the last read "
    "of the registered IPs; absent until one",
    ["account"],
    registry=REGISTRY,
)
ALERTS_ACTIVE = Gauge(
    "staticip_alerts_active", "Alerts currently raised in the channel", registry=REGISTRY
)

TOKEN_STATES = ("valid", "expired", "invalidated", "missing", "unreadable")
KNOWN_SUBCOMMANDS = frozenset({"show", "status", "set", "cancel", "history", "login", "help"})


def command(subcommand: str, outcome: str) -> None:
    label = subcommand if subcommand in KNOWN_SUBCOMMANDS else "unknown"
    COMMANDS.labels(label, outcome).inc()


def decision(verb: str) -> None:
    DECISIONS.labels(verb).inc()


def put(outcome: str) -> None:
    PUTS.labels(outcome).inc()


def job_run(name: str, *, ok: bool) -> None:
    JOB_RUNS.labels(name).inc()
    if not ok:
        JOB_FAILURES.labels(name).inc()


def upstox_call(endpoint: str, result: str, seconds: float) -> None:
    UPSTOX_SECONDS.labels(endpoint, result).observe(seconds)


def record_account(
    *, account: str, token_state: str, window: ChangeWindow | None, now: datetime
) -> None:
    """Set one account's state gauges.

    `window`: the change window as of the last read of the registered IPs (None before
    the first read: the gauge stays absent)."""
    for state in TOKEN_STATES:
        TOKEN_STATE.labels(account, state).set(1 if state == token_state else 0)
    if window is not None:
        seconds = 0.0
        if not window.allowed and window.next_allowed_at is not None:
            seconds = max(0.0, (window.next_allowed_at - now).total_seconds())
        NEXT_CHANGE_SECONDS.labels(account).set(seconds)


def render(*, alerts_active: int) -> tuple[bytes, str]:
    """The exposition text (after `record_account` for every account) and its type."""
    ALERTS_ACTIVE.set(alerts_active)
    return generate_latest(REGISTRY), CONTENT_TYPE
