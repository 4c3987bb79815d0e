"""Two replicas on one database: a storm of Approve clicks applies the change once, and the
watchers running in both replicas post each alert and each expiry once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from bot.store.request_states import RequestState
from bot.upstox.emulator import EmulatorServer
from tests.stress.conftest import StartReplicas
from tests.support.bot_runner import BotProcess, wait_until
from tests.support.fake_slack import FakeSlack
from tests.support.public_ip_server import PublicIpServer
from tests.support.replicas import PUT, StoreProbe, click_storm, request_change, responses_with

pytestmark = pytest.mark.stress

S = RequestState
CLICKS = 50
APPROVERS = ("UAPPROVER1", "UAPPROVER2")


def assert_clean_run(*procs: BotProcess) -> None:
    """No crash, no traceback, no error line in any replica's log."""
    for proc in procs:
        assert proc.proc.poll() is None, proc.output()
        out = proc.output()
        assert "Traceback" not in out and " ERROR " not in out, out


def channel_texts(fake_slack: FakeSlack) -> list[str]:
    return [str(c.params.get("text", "")) for c in fake_slack.calls_to("chat.postMessage")]


def test_click_storm_across_two_replicas_applies_once(
    replicas: StartReplicas,
    store: StoreProbe,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    http: httpx.Client,
) -> None:
    first, second = replicas(2)
    request_id = request_change(http, first.base_url, fake_slack)
    targets = [((first, second)[i % 2].base_url, APPROVERS[(i // 2) % 2]) for i in range(CLICKS)]
    assert len(set(targets)) == 4  # both replicas, both approvers

    clicks = click_storm(targets, fake_slack, request_id)

    assert [c.status for c in clicks] == [200] * CLICKS
    applied = store.wait_state(request_id, S.APPLIED)
    keys = [c.key for c in clicks]
    answers = fake_slack.wait_for(
        lambda _: (found := responses_with(fake_slack, keys)) and len(found) >= CLICKS - 1 and found
    )
    # Exactly one PUT, one approval, one applied event.
    assert len(emulator.state.calls_to(PUT)) == 1
    assert store.events(request_id) == ["requested", "approved", "applying", "applied"]
    # Every click but the winner's was told, privately, who approved first.
    [winner] = [c for c in clicks if c.key not in answers]
    assert winner.user_id == applied.decided_by
    for answer in answers.values():
        assert answer.params.get("response_type") == "ephemeral"
        assert f"`{request_id}` was already approved by <@{applied.decided_by}>" in str(
            answer.params["text"]
        )
    # The card names one approver only; the logout alert and the announcement post once.
    updates = [
        c for c in fake_slack.calls_to("chat.update") if request_id in str(c.params.get("text"))
    ]
    assert updates and all(f"<@{applied.decided_by}>" in u.text_blob() for u in updates)
    loser = next(u for u in APPROVERS if u != applied.decided_by)
    assert not [u for u in updates if f"<@{loser}>" in u.text_blob()]
    fake_slack.wait_for(
        lambda _: any("Upstox is logged out" in t for t in channel_texts(fake_slack))
    )
    texts = channel_texts(fake_slack)
    assert len([t for t in texts if "Upstox is logged out" in t]) == 1
    assert len([t for t in texts if t.startswith("The static IPs are now")]) == 1
    assert_clean_run(first, second)


@pytest.fixture
def ip_server() -> Iterator[PublicIpServer]:
    server = PublicIpServer("198.51.100.20")  # not what the emulator has registered
    yield server
    server.stop()


def test_watchers_in_both_replicas_post_each_alert_and_expiry_once(
    replicas: StartReplicas,
    store: StoreProbe,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    http: httpx.Client,
    ip_server: PublicIpServer,
) -> None:
    # Every watcher runs every second in both replicas; each has its own public-IP path, so
    # the test can see that both really ran.
    common = {"CHECK_INTERVAL": "1s", "APPROVAL_TTL": "2s"}
    first, second = replicas(
        {"PUBLIC_IP_URL": ip_server.url("/first"), **common},
        {"PUBLIC_IP_URL": ip_server.url("/second"), **common},
    )

    def both_ran(times: int, since: tuple[int, int] = (0, 0)) -> None:
        wait_until(
            lambda: (
                ip_server.hits("/first") >= since[0] + times
                and ip_server.hits("/second") >= since[1] + times
            ),
            timeout=20,
            interval=0.1,
        )

    both_ran(2)
    drift = [t for t in channel_texts(fake_slack) if "198.51.100.20" in t]
    assert len(drift) == 1 and "is not registered with Upstox" in drift[0]

    request_id = request_change(http, first.base_url, fake_slack)
    store.wait_state(request_id, S.EXPIRED, timeout=20)
    both_ran(2, since=(ip_server.hits("/first"), ip_server.hits("/second")))

    assert store.events(request_id) == ["requested", "expired"]
    expired_updates = [
        c
        for c in fake_slack.calls_to("chat.update")
        if request_id in str(c.params.get("text")) and "*Expired*" in c.text_blob()
    ]
    assert len(expired_updates) == 1
    texts = channel_texts(fake_slack)
    assert len([t for t in texts if "198.51.100.20" in t]) == 1
    # No alert or note of any kind went out twice.
    assert [t for t, n in Counter(texts).items() if n > 1] == []
    assert emulator.state.calls_to(PUT) == []
    assert_clean_run(first, second)
