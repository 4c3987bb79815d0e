"""/metrics: Prometheus text, off unless METRICS_ENABLED=true; after a change is requested and
applied the counters have moved, and nothing secret is in it."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bot.ist import IST
from bot.store.request_states import RequestState
from bot.upstox.emulator import EmulatorServer
from tests.requests.helpers import click, request_change, wait_state
from tests.support.bot_runner import (
    BOT_SECRET_KEY,
    SLACK_BOT_TOKEN,
    UPSTOX_CLIENT_SECRET,
    InProcessBot,
)
from tests.support.conversation import slash
from tests.support.fake_slack import FakeSlack
from tests.support.slack_requests import SIGNING_SECRET

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(http: httpx.Client, bot: InProcessBot) -> tuple[str, Samples]:
    response = http.get(f"{bot.base_url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return response.text, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_are_off_by_default(bot: InProcessBot, http: httpx.Client) -> None:
    assert http.get(f"{bot.base_url}/metrics").status_code == 404


def test_counters_move_through_a_change_and_no_secret_is_exposed(
    make_bot: Callable[..., InProcessBot],
    http: httpx.Client,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    upstox_token: str,
) -> None:
    bot = make_bot(METRICS_ENABLED="true")
    _, before = scrape(http, bot)
    assert value(before, "staticip_token_state", account=bot.settings.account, state="valid") == 1

    slash(http, bot.base_url, fake_slack, "show")
    request = request_change(http, bot, fake_slack)
    click(http, bot.base_url, fake_slack, request.id, user_id="UAPPROVER1")
    wait_state(bot, request.id, RequestState.APPLIED)
    slash(http, bot.base_url, fake_slack, "set not-an-ip")
    bot.run(bot.services.scheduler.run_now("expiry"))

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    # A command is counted when its handler returns, just after its answer was sent.
    text, after = scrape(http, bot)
    deadline = time.monotonic() + 10
    while moved("staticip_commands_total", subcommand="set", outcome="refused") < 1:
        assert time.monotonic() < deadline, text
        text, after = scrape(http, bot)

    assert moved("staticip_commands_total", subcommand="show", outcome="ok") == 1
    assert moved("staticip_commands_total", subcommand="set", outcome="ok") == 1
    assert moved("staticip_commands_total", subcommand="set", outcome="refused") == 1
    assert moved("staticip_decisions_total", decision="approve") == 1
    assert moved("staticip_ip_changes_total", outcome="applied") == 1
    assert moved("staticip_job_runs_total", job="expiry") == 1
    assert moved("staticip_job_failures_total", job="expiry") == 0
    put_count = "staticip_upstox_request_seconds_count"
    assert moved(put_count, endpoint="PUT /v2/user/ip", result="2xx") == 1
    assert moved(put_count, endpoint="GET /v2/user/ip", result="2xx") >= 1
    # The change logged every token out, and the next change opens with next calendar week.
    account = bot.settings.account
    assert value(after, "staticip_token_state", account=account, state="valid") == 0
    assert value(after, "staticip_token_state", account=account, state="invalidated") == 1
    seconds = value(after, "staticip_seconds_until_next_change", account=account)
    local_now = emulator.state.now().astimezone(IST)
    monday = (local_now + timedelta(days=7 - local_now.weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    assert abs(seconds - (monday - local_now).total_seconds()) < 120
    assert value(after, "staticip_alerts_active") >= 1  # the "logged out" alert

    for secret in (
        upstox_token,
        SLACK_BOT_TOKEN,
        SIGNING_SECRET,
        BOT_SECRET_KEY,
        UPSTOX_CLIENT_SECRET,
    ):
        assert secret not in text
    assert "8.8.8.8" not in text  # no IP, no user text in labels
