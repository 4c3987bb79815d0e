"""SIGKILL the bot at the worst moments; after a restart nothing is lost, nothing is done
twice, and logging in works (SQLite and PostgreSQL)."""

from __future__ import annotations

import contextlib
import threading
from datetime import UTC, datetime

import httpx
import pytest

from bot.store.request_states import RequestState
from bot.upstox.emulator import EmulatorServer, Fault
from tests.stress.conftest import StartReplicas
from tests.stress.test_replicas import assert_clean_run
from tests.support.bot_runner import wait_until
from tests.support.conversation import slash
from tests.support.fake_slack import FakeSlack
from tests.support.replicas import (
    PUT,
    StoreProbe,
    callback_url,
    click,
    click_storm,
    log_in_via_callback,
    login_link,
    request_change,
)

pytestmark = pytest.mark.stress

S = RequestState
TOKEN_EXCHANGE = "POST /v2/login/authorization/token"
NEW_IPS = ("8.8.8.8", "9.9.9.9")
# A short Upstox timeout keeps the settling period ("PUT may still be in flight or landing":
# twice the timeout plus 5 s of clock skew) short, so the test does not wait long.
TIMEOUT = {"UPSTOX_TIMEOUT": "2s"}
GRACE_SECONDS = 9


def card_texts(fake_slack: FakeSlack, request_id: str) -> list[str]:
    return [
        c.text_blob()
        for c in fake_slack.calls_to("chat.update")
        if request_id in str(c.params.get("text"))
    ]


def test_pending_request_survives_a_kill_and_is_approved_once(
    replicas: StartReplicas,
    store: StoreProbe,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    http: httpx.Client,
) -> None:
    [before] = replicas(1)
    request_id = request_change(http, before.base_url, fake_slack)
    before.kill()

    [after] = replicas(1)
    assert store.request(request_id).state is S.PENDING
    users = ["UAPPROVER1", "UAPPROVER2"] * 5
    clicks = click_storm([(after.base_url, u) for u in users], fake_slack, request_id)

    applied = store.wait_state(request_id, S.APPLIED)
    assert [c.status for c in clicks] == [200] * len(users)
    assert len(emulator.state.calls_to(PUT)) == 1
    assert (emulator.state.ips.primary_ip, emulator.state.ips.secondary_ip) == NEW_IPS
    assert store.events(request_id) == ["requested", "approved", "applying", "applied"]
    assert applied.decided_by in users
    assert_clean_run(after)


def test_kill_while_the_put_answer_is_awaited_is_reconciled_by_reading_back(
    replicas: StartReplicas,
    store: StoreProbe,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    http: httpx.Client,
) -> None:
    [before] = replicas(TIMEOUT)
    request_id = request_change(http, before.base_url, fake_slack)
    # Upstox applies the change, then its answer never comes: the bot waits for it...
    emulator.state.add_fault(Fault(route=PUT, kind="commit_then_timeout", hang_seconds=30))
    assert click(http, before.base_url, fake_slack, request_id, user_id="UAPPROVER1").status == 200
    wait_until(
        lambda: [c.outcome for c in emulator.state.calls_to(PUT)] == ["committed_then_timeout"],
        timeout=10,
    )
    before.kill()  # ...and dies while waiting.

    applying = store.request(request_id)
    assert applying.state is S.APPLYING
    assert emulator.state.ips.primary_ip == NEW_IPS[0]
    # Every Upstox session died with the PUT, so the read-back needs a new login.
    [after] = replicas(TIMEOUT)
    wait_until(
        lambda: (datetime.now(UTC) - applying.updated_at).total_seconds() > GRACE_SECONDS,
        timeout=GRACE_SECONDS + 2,
        interval=0.1,
    )
    page = log_in_via_callback(http, after.base_url, fake_slack)
    assert page.status_code == 200, page.text

    applied = store.wait_state(request_id, S.APPLIED)
    assert len(emulator.state.calls_to(PUT)) == 1
    assert store.events(request_id) == ["requested", "approved", "applying", "reconciled"]
    assert applied.applied_at is not None
    fake_slack.wait_for(lambda _: any("*Applied*" in t for t in card_texts(fake_slack, request_id)))
    assert_clean_run(after)


def test_kill_before_the_put_reached_upstox_settles_without_a_login(
    replicas: StartReplicas,
    store: StoreProbe,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    http: httpx.Client,
) -> None:
    """The PUT never arrived, the token still works, and the bot is back within seconds:
    the row left "applying" is read back and settled without anyone logging in."""
    settings = {**TIMEOUT, "CHECK_INTERVAL": "1s"}
    [before] = replicas(settings)
    request_id = request_change(http, before.base_url, fake_slack)
    emulator.state.add_fault(Fault(route=PUT, kind="timeout", hang_seconds=30))
    assert click(http, before.base_url, fake_slack, request_id, user_id="UAPPROVER1").status == 200
    wait_until(lambda: len(emulator.state.calls_to(PUT)) == 1, timeout=10)
    before.kill()
    assert store.request(request_id).state is S.APPLYING

    [after] = replicas(settings)
    failed = store.wait_state(request_id, S.FAILED, timeout=GRACE_SECONDS + 10)
    assert "Upstox did not apply the change" in (failed.failure_reason or "")
    assert len(emulator.state.calls_to(PUT)) == 1
    assert emulator.state.ips.primary_ip != NEW_IPS[0]
    assert store.events(request_id) == ["requested", "approved", "applying", "reconciled"]
    assert_clean_run(after)


def test_kill_during_the_oauth_callback_leaves_a_clean_state(
    replicas: StartReplicas,
    store: StoreProbe,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    http: httpx.Client,
    upstox_token: str,
) -> None:
    emulator.state.tokens[upstox_token].revoked_at = emulator.state.now()
    [before] = replicas(1)
    link = login_link(slash(http, before.base_url, fake_slack, "login"))
    callback = callback_url(http, before.base_url, link)
    # Upstox is slow to exchange the code; the bot dies while the browser waits.
    emulator.state.add_fault(Fault(route=TOKEN_EXCHANGE, kind="timeout", hang_seconds=30))
    browser = threading.Thread(target=_get_quietly, args=(callback,), daemon=True)
    browser.start()
    wait_until(lambda: len(emulator.state.calls_to(TOKEN_EXCHANGE)) == 1, timeout=10)
    before.kill()
    browser.join(timeout=10)
    emulator.state.clear_faults()

    [after] = replicas(1)
    # The half-used link stays burnt: no second exchange of its code.
    again = http.get(callback.replace(before.base_url, after.base_url))
    assert again.status_code == 400 and "already used" in again.text
    assert len(emulator.state.calls_to(TOKEN_EXCHANGE)) == 1
    # Logging in again works, and the new token is the one the bot uses.
    page = log_in_via_callback(http, after.base_url, fake_slack)
    assert page.status_code == 200 and "Logged in to Upstox as EMU001" in page.text
    request_id = request_change(http, after.base_url, fake_slack)
    assert store.request(request_id).state is S.PENDING
    confirmations = [
        c
        for c in fake_slack.calls_to("chat.postMessage")
        if "Logged in to Upstox as" in c.text_blob()
    ]
    assert len(confirmations) == 1
    assert_clean_run(after)


def _get_quietly(url: str) -> None:
    # The bot is killed mid-request: an error here is exactly what the test wants.
    with contextlib.suppress(httpx.HTTPError):
        httpx.get(url, timeout=30)
