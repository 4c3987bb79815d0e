"""Handing the fresh token to the trading system: TOKEN_FILE, GET /token and the webhook,
through the real bot, real logins against the emulator and local consumer servers."""

from __future__ import annotations

import json
import os
import stat
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.login.delivery import SINK_API, SINK_FILE, SINK_WEBHOOK
from bot.upstox.emulator import EmulatorServer
from tests.login.conftest import MakeBot
from tests.login.helpers import PROFILE, stored_token
from tests.support.bot_runner import (
    TOKEN_API_KEY,
    TOKEN_API_KEY_2,
    TOKEN_WEBHOOK_SECRET,
    InProcessBot,
    wait_until,
)
from tests.support.clock import MutableClock
from tests.support.fake_slack import FakeSlack
from tests.support.webhook_server import WebhookServer

API_KEY = TOKEN_API_KEY
OTHER_KEY = TOKEN_API_KEY_2
WEBHOOK_SECRET = TOKEN_WEBHOOK_SECRET
TOKEN_FIELDS = {"access_token", "token_type", "user_id", "client_id", "issued_at", "expires_at"}


def log_in(http: httpx.Client, bot: InProcessBot, clock: MutableClock | None = None) -> str:
    """One real browser login (link → emulator dialog → the bot's callback); the new token.

    The test clock is moved on a second first, so each token has its own issued_at.
    """
    if clock is not None:
        clock.advance(timedelta(seconds=1))
    link = bot.run(bot.services.links.login_link("UTRADER"))
    page = http.get(link.url, follow_redirects=True)
    assert page.status_code == 200, page.text
    token = stored_token(bot)
    assert token is not None
    return token


def get_token(
    http: httpx.Client, bot: InProcessBot, key: str | None = API_KEY, path: str = "/token", **q: Any
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    return http.get(f"{bot.base_url}{path}", headers=headers, params=q, timeout=30)


def deliveries(bot: InProcessBot, sink: str, outcome: str | None = None) -> list[Any]:
    runtime = bot.services
    return bot.run(
        runtime.db.deliveries.history(
            runtime.settings.account, "default", sink=sink, outcome=outcome
        )
    )


@pytest.fixture
def webhook() -> Iterator[WebhookServer]:
    server = WebhookServer(WEBHOOK_SECRET)
    yield server
    server.stop()


def fast_retries(bot: InProcessBot) -> None:
    bot.services.delivery.backoff_base = 0.02
    bot.services.delivery.backoff_cap = 0.1


# TOKEN_FILE ----------------------------------------------------------------------------


def test_token_file_is_written_atomically_with_mode_0600(
    make_bot: MakeBot,
    tmp_path: Path,
    http: httpx.Client,
    emulator: EmulatorServer,
    clock: MutableClock,
) -> None:
    path = tmp_path / "consumer" / "token.json"
    path.parent.mkdir()
    bot = make_bot(token_file=str(path))
    assert not path.exists()  # the seed token is not a login

    token = log_in(http, bot, clock)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    content = json.loads(path.read_text())
    assert set(content) == TOKEN_FIELDS
    assert content["access_token"] == token
    assert content["token_type"] == "Bearer"
    assert content["user_id"] == "EMU001"
    assert content["client_id"] == "emulator-api-key"
    issued = datetime.fromisoformat(content["issued_at"])
    expires = datetime.fromisoformat(content["expires_at"])
    assert issued.utcoffset() == timedelta(hours=5, minutes=30)
    assert expires > issued and expires.strftime("%H:%M") == "03:30"
    # The delivered token works against Upstox.
    profile = http.get(
        f"{emulator.base_url}/v2/user/profile", headers={"Authorization": f"Bearer {token}"}
    )
    assert profile.status_code == 200
    assert [d.outcome for d in deliveries(bot, SINK_FILE)] == ["written"]
    # Nothing but the token file is left in the folder (no temp files).
    assert [p.name for p in path.parent.iterdir()] == ["token.json"]


def test_a_reader_never_sees_a_partial_token_file_during_50_rotations(
    make_bot: MakeBot,
    tmp_path: Path,
    http: httpx.Client,
    clock: MutableClock,
    record_property: Callable[[str, object], None],
) -> None:
    path = tmp_path / "token.json"
    bot = make_bot(token_file=str(path))
    log_in(http, bot, clock)
    seen: set[str] = set()
    problems: list[str] = []
    reads = 0
    stop = threading.Event()

    def reader() -> None:
        nonlocal reads
        while not stop.is_set():
            try:
                raw = path.read_bytes()
                mode = stat.S_IMODE(os.stat(path).st_mode)
            except FileNotFoundError:  # never: the rename replaces the file in one step
                problems.append("missing")
                continue
            reads += 1
            try:
                content = json.loads(raw)
            except ValueError:
                problems.append(f"partial: {len(raw)} bytes")
                continue
            if set(content) != TOKEN_FIELDS or mode != 0o600:
                problems.append(f"bad shape or mode {mode:o}")
            seen.add(content["access_token"])

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    tokens = [log_in(http, bot, clock) for _ in range(50)]
    wait_until(lambda: tokens[-1] in seen, timeout=5)
    stop.set()
    thread.join(timeout=5)

    assert problems == []
    assert reads > 50
    record_property("reads_during_50_rotations", reads)
    record_property("distinct_tokens_seen", len(seen))
    assert json.loads(path.read_text())["access_token"] == tokens[-1]
    assert len(deliveries(bot, SINK_FILE, "written")) == 51


# GET /token ----------------------------------------------------------------------------


def test_get_token_needs_a_right_key_and_says_nothing_else(
    make_bot: MakeBot, http: httpx.Client, clock: MutableClock
) -> None:
    bot = make_bot(token_api_keys=f"{API_KEY}, {OTHER_KEY}")
    token = log_in(http, bot, clock)

    for answer in (
        get_token(http, bot, key=None),
        get_token(http, bot, key="wrong-key-0123456789abcdef"),
        get_token(http, bot, key=API_KEY[:-1]),
        http.get(f"{bot.base_url}/token", headers={"Authorization": f"Basic {API_KEY}"}),
        get_token(http, bot, path="/token/another-app"),
        get_token(http, bot, key="wrong-key-0123456789abcdef", wait="5"),
    ):
        assert answer.status_code == 401
        assert answer.content == b""
        assert answer.headers["www-authenticate"] == "Bearer"
    assert deliveries(bot, SINK_API) == []

    first = get_token(http, bot)
    second = get_token(http, bot, key=OTHER_KEY, path="/token/default")

    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert set(first.json()) == TOKEN_FIELDS and first.json()["access_token"] == token
    assert first.headers["cache-control"] == "no-store"
    fetched = deliveries(bot, SINK_API, "fetched")
    assert len(fetched) == 2
    fingerprints = [d.key_fingerprint for d in fetched]
    assert fingerprints[0] != fingerprints[1] and all(len(f) == 12 for f in fingerprints)
    assert API_KEY not in str(fetched)


def test_get_token_answers_503_while_logged_out_and_refuses_bad_parameters(
    make_bot: MakeBot, http: httpx.Client, emulator: EmulatorServer, clock: MutableClock
) -> None:
    bot = make_bot(token_api_keys=API_KEY)
    assert bot.run(bot.services.tokens.mark_dead("the IPs were changed"))

    answer = get_token(http, bot)

    assert answer.status_code == 503
    body = answer.json()
    assert body["error"] == "no_valid_token"
    assert datetime.fromisoformat(body["since"]).utcoffset() == timedelta(hours=5, minutes=30)
    assert set(body) == {"error", "since"}
    assert [d.outcome for d in deliveries(bot, SINK_API)] == ["no_token"]
    for params in ({"wait": "301"}, {"wait": "-1"}, {"wait": "soon"}, {"after": "yesterday"}):
        refused = get_token(http, bot, **params)
        assert refused.status_code == 400, params
        assert "access_token" not in refused.text
    assert emulator.state.calls_to(PROFILE) == []


def test_wait_returns_within_a_second_of_a_login_and_is_bounded(
    make_bot: MakeBot,
    http: httpx.Client,
    clock: MutableClock,
    record_property: Callable[[str, object], None],
) -> None:
    bot = make_bot(token_api_keys=API_KEY)
    assert bot.run(bot.services.tokens.mark_dead("the IPs were changed"))
    answers: list[tuple[float, httpx.Response]] = []

    def consumer() -> None:
        with httpx.Client(timeout=60) as own:
            answer = get_token(own, bot, wait="60")
            answers.append((time.monotonic(), answer))

    thread = threading.Thread(target=consumer, daemon=True)
    thread.start()
    wait_until(lambda: bot.services.delivery.waiting > 0, timeout=5)
    token = log_in(http, bot, clock)
    logged_in_at = time.monotonic()
    thread.join(timeout=10)

    [(answered_at, answer)] = answers
    assert answer.status_code == 200 and answer.json()["access_token"] == token
    assert answered_at - logged_in_at < 1.0
    record_property("wake_after_login_s", round(answered_at - logged_in_at, 4))
    issued_at = answer.json()["issued_at"]

    # Nothing newer arrives: the wait ends at its limit with the current token.
    started = time.monotonic()
    bounded = get_token(http, bot, wait="1", after=issued_at)
    elapsed = time.monotonic() - started
    assert 1.0 <= elapsed < 3.0
    record_property("bounded_wait_1s_took_s", round(elapsed, 3))
    # Pasted into a URL unencoded, the offset's "+" arrives as a space: still understood.
    assert "+05:30" in issued_at
    unencoded = http.get(
        f"{bot.base_url}/token?wait=0&after={issued_at}",
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    assert unencoded.status_code == 200
    assert bounded.status_code == 200 and bounded.json()["issued_at"] == issued_at

    # `after` the current token: the next login wakes the waiter with the newer one.
    answers.clear()

    def waits_for_newer() -> None:
        with httpx.Client(timeout=60) as own:
            answers.append((time.monotonic(), get_token(own, bot, wait="60", after=issued_at)))

    thread = threading.Thread(target=waits_for_newer, daemon=True)
    thread.start()
    wait_until(lambda: bot.services.delivery.waiting > 0, timeout=5)
    newer = log_in(http, bot, clock)
    logged_in_at = time.monotonic()
    thread.join(timeout=10)
    [(answered_at, answer)] = answers
    assert answer.json()["access_token"] == newer
    assert answered_at - logged_in_at < 1.0


def test_a_login_on_another_replica_wakes_a_waiting_fetch(
    make_bot: MakeBot,
    http: httpx.Client,
    clock: MutableClock,
    record_property: Callable[[str, object], None],
) -> None:
    waiting_replica = make_bot(token_api_keys=API_KEY)
    login_replica = make_bot(token_api_keys=API_KEY)
    assert waiting_replica.run(waiting_replica.services.tokens.mark_dead("IPs changed"))
    answers: list[tuple[float, httpx.Response]] = []

    def consumer() -> None:
        with httpx.Client(timeout=60) as own:
            answers.append((time.monotonic(), get_token(own, waiting_replica, wait="60")))

    thread = threading.Thread(target=consumer, daemon=True)
    thread.start()
    wait_until(lambda: waiting_replica.services.delivery.waiting > 0, timeout=5)
    token = log_in(http, login_replica, clock)
    logged_in_at = time.monotonic()
    thread.join(timeout=10)

    [(answered_at, answer)] = answers
    assert answer.json()["access_token"] == token
    assert answered_at - logged_in_at < 1.5  # the database poll runs every second
    record_property("wake_after_other_replica_login_s", round(answered_at - logged_in_at, 4))


# The webhook ---------------------------------------------------------------------------


def test_webhook_retries_until_2xx_and_delivers_exactly_once(
    make_bot: MakeBot, http: httpx.Client, webhook: WebhookServer, clock: MutableClock
) -> None:
    bot = make_bot(token_webhook_url=webhook.url, token_webhook_secret=WEBHOOK_SECRET)
    fast_retries(bot)
    webhook.script = [500, 500]

    token = log_in(http, bot, clock)
    bot.run(bot.services.delivery.idle())

    received = webhook.snapshot()
    assert [r.status for r in received] == [500, 500, 200]
    assert all(r.signature_ok and r.token == token for r in received)
    assert set(received[-1].payload) == TOKEN_FIELDS
    records = deliveries(bot, SINK_WEBHOOK)
    assert [(d.outcome, d.attempt, d.detail) for d in records] == [
        ("failed", 1, "HTTP 500"),
        ("failed", 2, "HTTP 500"),
        ("delivered", 3, "2xx"),
    ]


def test_webhook_down_past_the_limit_raises_one_alert(
    make_bot: MakeBot,
    http: httpx.Client,
    webhook: WebhookServer,
    clock: MutableClock,
    fake_slack: FakeSlack,
) -> None:
    clock.clear_of_token_expiry(timedelta(hours=1))  # the test waits 31 minutes
    bot = make_bot(token_webhook_url=webhook.url, token_webhook_secret=WEBHOOK_SECRET)
    fast_retries(bot)
    webhook.default_status = 503

    log_in(http, bot, clock)
    webhook.wait_for(lambda got: len(got) >= 3)
    clock.advance(timedelta(minutes=31))
    bot.run(bot.services.delivery.idle())

    outcomes = [d.outcome for d in deliveries(bot, SINK_WEBHOOK)]
    assert outcomes[-1] == "gave_up" and outcomes.count("gave_up") == 1
    assert "delivered" not in outcomes
    alerts = fake_slack.wait_for(
        lambda calls: [c for c in calls if "did not accept" in c.text_blob()], timeout=5
    )
    assert len(alerts) == 1
    assert "127.0.0.1" in alerts[0].text_blob() and "hooks" not in alerts[0].text_blob()
    attempts = len(webhook.snapshot())

    # The consumer is fixed: the next login is delivered and the alert clears, once.
    webhook.default_status = 200
    log_in(http, bot, clock)
    bot.run(bot.services.delivery.idle())
    assert len(webhook.snapshot()) == attempts + 1
    cleared = [c for c in fake_slack.calls_to("chat.postMessage") if "accepted" in c.text_blob()]
    assert len(cleared) == 1
    assert len([c for c in fake_slack.calls if "did not accept" in c.text_blob()]) == 1


def test_a_replaced_token_is_never_delivered_after_its_successor(
    make_bot: MakeBot, http: httpx.Client, webhook: WebhookServer, clock: MutableClock
) -> None:
    bot = make_bot(token_webhook_url=webhook.url, token_webhook_secret=WEBHOOK_SECRET)
    fast_retries(bot)
    webhook.default_status = 500

    old = log_in(http, bot, clock)
    webhook.wait_for(lambda got: len(got) >= 2)
    new = log_in(http, bot, clock)
    webhook.default_status = 200  # only now: the old token was current until the login
    bot.run(bot.services.delivery.idle())

    tokens = [r.token for r in webhook.snapshot()]
    first_new = tokens.index(new)
    assert old not in tokens[first_new:]
    assert [r.token for r in webhook.snapshot() if r.status == 200] == [new]
    assert all(r.signature_ok for r in webhook.snapshot())
    delivered = deliveries(bot, SINK_WEBHOOK, "delivered")
    assert len(delivered) == 1


def test_a_login_on_another_replica_stops_this_replicas_retries(
    make_bot: MakeBot, http: httpx.Client, webhook: WebhookServer, clock: MutableClock
) -> None:
    """Each attempt first checks the token is still the current one, in the database."""
    first = make_bot(token_webhook_url=webhook.url, token_webhook_secret=WEBHOOK_SECRET)
    fast_retries(first)
    first.services.delivery.backoff_cap = first.services.delivery.backoff_base = 0.3
    webhook.default_status = 500
    old = log_in(http, first, clock)
    webhook.wait_for(lambda got: len(got) >= 1)
    # The second replica (sharing the database) is where the next login lands.
    second = make_bot(token_webhook_url=webhook.url, token_webhook_secret=WEBHOOK_SECRET)

    new = log_in(http, second, clock)
    webhook.default_status = 200
    first.run(first.services.delivery.idle())
    second.run(second.services.delivery.idle())

    tokens = [r.token for r in webhook.snapshot()]
    assert old not in tokens[tokens.index(new) :]
    assert [r.token for r in webhook.snapshot() if r.status == 200] == [new]
    # Both replicas record in the shared database: the first stopped, the second delivered.
    outcomes = [d.outcome for d in deliveries(first, SINK_WEBHOOK)]
    assert outcomes.count("superseded") == 1 and outcomes.count("delivered") == 1


def readme_verify() -> Any:
    """The webhook verification example of the README, exactly as printed there."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    after = readme.split("Verify it like this:", 1)[1]
    code = after.split("```python\n", 1)[1].split("```", 1)[0]
    assert len(code.strip().splitlines()) <= 12
    namespace: dict[str, Any] = {}
    exec(compile(code, "README.md", "exec"), namespace)
    return namespace["verify"]


def test_the_readme_example_verifies_a_real_delivery_and_refuses_a_forgery(
    make_bot: MakeBot, http: httpx.Client, webhook: WebhookServer, clock: MutableClock
) -> None:
    verify = readme_verify()
    bot = make_bot(token_webhook_url=webhook.url, token_webhook_secret=WEBHOOK_SECRET)
    token = log_in(http, bot, clock)
    bot.run(bot.services.delivery.idle())
    [received] = webhook.snapshot()

    assert verify(received.headers, received.body, WEBHOOK_SECRET)["access_token"] == token
    tampered = received.body.replace(b'"token_type":"Bearer"', b'"token_type":"bearer"')
    with pytest.raises(PermissionError):
        verify(received.headers, tampered, WEBHOOK_SECRET)
    with pytest.raises(PermissionError):
        verify(received.headers, received.body, "another-secret-0123456789")


def test_a_token_file_that_cannot_be_written_does_not_spoil_the_login(
    make_bot: MakeBot,
    tmp_path: Path,
    http: httpx.Client,
    fake_slack: FakeSlack,
    clock: MutableClock,
) -> None:
    folder = tmp_path / "gone"
    folder.mkdir()
    bot = make_bot(token_file=str(folder / "token.json"))
    folder.rmdir()  # e.g. an unmounted volume

    token = log_in(http, bot, clock)

    assert stored_token(bot) == token
    assert [d.outcome for d in deliveries(bot, SINK_FILE)] == ["failed"]
    message = fake_slack.wait_for_call(
        "chat.postMessage", lambda c: "Token hand-over" in c.text_blob(), timeout=5
    ).text_blob()
    assert "token file could not be written" in message
    assert "The trading system has not got this token" in message
    assert "Trading can resume" not in message


def test_a_replica_on_another_host_brings_its_token_file_up_to_date(
    make_bot: MakeBot, tmp_path: Path, http: httpx.Client, clock: MutableClock
) -> None:
    other_host = tmp_path / "other-host"
    other_host.mkdir()
    elsewhere = make_bot(token_file=str(other_host / "token.json"))
    here = make_bot(token_file=str(tmp_path / "token.json"))

    token = log_in(http, here, clock)  # the login lands on `here`
    assert not (other_host / "token.json").exists()
    assert elsewhere.run(elsewhere.services.scheduler.run_now("token_file_sync"))
    assert json.loads((other_host / "token.json").read_text())["access_token"] == token
    assert stat.S_IMODE((other_host / "token.json").stat().st_mode) == 0o600

    # Up to date: the next check writes nothing.
    written = len(deliveries(here, SINK_FILE, "written"))
    assert elsewhere.run(elsewhere.services.scheduler.run_now("token_file_sync"))
    assert here.run(here.services.scheduler.run_now("token_file_sync"))
    assert len(deliveries(here, SINK_FILE, "written")) == written


def test_a_webhook_delivery_cut_short_by_a_restart_is_resumed_once(
    make_bot: MakeBot, http: httpx.Client, webhook: WebhookServer, clock: MutableClock
) -> None:
    sinks = {"token_webhook_url": webhook.url, "token_webhook_secret": WEBHOOK_SECRET}
    first = make_bot(**sinks)
    fast_retries(first)
    webhook.default_status = 500
    token = log_in(http, first, clock)
    webhook.wait_for(lambda got: len(got) >= 2)
    first.stop()  # mid-retry
    webhook.default_status = 200

    second = make_bot(**sinks)
    second.run(second.services.delivery.idle())
    third = make_bot(**sinks)  # already delivered: nothing resumes
    third.run(third.services.delivery.idle())

    assert [r.token for r in webhook.snapshot() if r.status == 200] == [token]
    outcomes = [d.outcome for d in deliveries(second, SINK_WEBHOOK)]
    assert outcomes.count("interrupted") == 1 and outcomes[-1] == "delivered"
    assert outcomes.count("delivered") == 1 and "superseded" not in outcomes


def test_a_crashed_replicas_webhook_delivery_is_taken_over_only_once_it_went_quiet(
    make_bot: MakeBot, http: httpx.Client, webhook: WebhookServer, clock: MutableClock
) -> None:
    clock.clear_of_token_expiry(timedelta(hours=1))  # the test waits 6 minutes
    sinks = {"token_webhook_url": webhook.url, "token_webhook_secret": WEBHOOK_SECRET}
    crashed = make_bot(**sinks)
    fast_retries(crashed)
    webhook.default_status = 500
    token = log_in(http, crashed, clock)
    webhook.wait_for(lambda got: len(got) >= 1)
    crashed.services.delivery.backoff_base = crashed.services.delivery.backoff_cap = 3600
    survivor = make_bot(**sinks)
    webhook.default_status = 200

    assert survivor.run(survivor.services.scheduler.run_now("token_webhook_resume"))
    survivor.run(survivor.services.delivery.idle())
    assert [r for r in webhook.snapshot() if r.status == 200] == []  # still the other's

    clock.advance(timedelta(minutes=6))  # no attempt recorded for longer than the cap
    assert survivor.run(survivor.services.scheduler.run_now("token_webhook_resume"))
    survivor.run(survivor.services.delivery.idle())
    assert survivor.run(survivor.services.scheduler.run_now("token_webhook_resume"))
    assert [r.token for r in webhook.snapshot() if r.status == 200] == [token]
