"""`/staticip show` through the real endpoint: signed requests, fake Slack, Upstox emulator."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import httpx
import pytest

from bot.ist import IST, format_ist
from bot.slack.blocks import validate_message
from bot.store.models import TokenState
from bot.upstox.emulator import EmulatorServer, Fault
from tests.conftest import REGISTERED_PRIMARY
from tests.show.conftest import ask
from tests.support.bot_runner import InProcessBot
from tests.support.clock import MutableClock
from tests.support.fake_slack import FakeSlack
from tests.support.public_ip_server import PublicIpServer

GET_IPS = "GET /v2/user/ip"
PUT_IPS = "PUT /v2/user/ip"


def _assert_valid_answer(params: dict[str, object]) -> None:
    assert params["response_type"] == "ephemeral"
    validate_message(params)


def test_show_lists_both_ips_their_change_times_and_the_next_window_in_ist(
    bot: InProcessBot,
    http: httpx.Client,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    clock: MutableClock,
) -> None:
    # The bot's clock goes back in time (not forward) so the seeded token stays valid.
    changed = datetime(2026, 11, 2, 10, 15, 0, tzinfo=IST)  # a Monday
    emulator.state.set_ips("203.0.113.10", "198.51.100.20", changed, changed - timedelta(days=30))
    clock.set(datetime(2026, 11, 4, 12, 0, tzinfo=IST))

    answer = ask(bot, http, fake_slack, "show", key="show-1")

    assert answer.http.content in (b"", b"null")  # the ack carries no answer
    _assert_valid_answer(answer.call.params)
    blob = answer.blob
    assert "`203.0.113.10`" in blob and "`198.51.100.20`" in blob
    assert "changed Mon 02 Nov 2026, 10:15 IST" in blob
    assert "changed Sat 03 Oct 2026, 10:15 IST" in blob
    assert "Next change allowed from Mon 09 Nov 2026, 00:00 IST" in blob
    assert "As of Wed 04 Nov 2026, 12:00 IST" in blob
    assert "guess" in blob and "UDAPI1185" in blob
    assert "Primary 203.0.113.10, secondary 198.51.100.20." in answer.text
    assert len(emulator.state.calls_to(GET_IPS)) == 1
    assert emulator.state.calls_to(PUT_IPS) == []


@pytest.mark.parametrize("text", ["", "show", "  SHOW "])
def test_plain_command_and_show_answer_the_same_with_secondary_not_set(
    bot: InProcessBot,
    http: httpx.Client,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    text: str,
) -> None:
    answer = ask(bot, http, fake_slack, text, key="plain")

    _assert_valid_answer(answer.call.params)
    assert f"`{REGISTERED_PRIMARY}`" in answer.blob
    assert "*Secondary*\\nnot set" in answer.blob
    assert "changed Fri 03 Oct 2025, 17:17 IST" in answer.blob
    assert "A change is allowed now." in answer.blob
    assert "public IP" not in answer.blob  # PUBLIC_IP_URL is not set
    assert emulator.state.calls_to(PUT_IPS) == []


def test_secondary_sent_as_null_is_not_set(
    bot: InProcessBot, http: httpx.Client, fake_slack: FakeSlack, emulator: EmulatorServer
) -> None:
    emulator.state.absent_fields = "null"

    answer = ask(bot, http, fake_slack, "show", key="null")

    assert "*Secondary*\\nnot set" in answer.blob
    assert "secondary not set" in answer.text


def test_host_ip_registered_as_secondary(
    make_bot: Callable[..., InProcessBot],
    http: httpx.Client,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    ip_server: PublicIpServer,
) -> None:
    emulator.state.set_ips(REGISTERED_PRIMARY, "2001:db8::7", datetime(2025, 10, 3, tzinfo=IST))
    ip_server.body = "2001:0db8:0000::0007\n"  # same address, spelled differently
    running = make_bot(PUBLIC_IP_URL=ip_server.url())

    answer = ask(running, http, fake_slack, "show", key="host-yes")

    _assert_valid_answer(answer.call.params)
    assert "This host's public IP `2001:db8::7` is registered (secondary)." in answer.blob
    assert ip_server.hits() == 1


def test_host_ip_not_registered_is_a_warning_and_the_lookup_is_cached(
    make_bot: Callable[..., InProcessBot],
    http: httpx.Client,
    fake_slack: FakeSlack,
    ip_server: PublicIpServer,
    clock: MutableClock,
) -> None:
    ip_server.body = "198.51.100.99"
    running = make_bot(PUBLIC_IP_URL=ip_server.url())

    first = ask(running, http, fake_slack, "show", key="host-no-1")
    second = ask(running, http, fake_slack, "show", key="host-no-2")

    for answer in (first, second):
        _assert_valid_answer(answer.call.params)
        assert "`198.51.100.99` is *not* registered" in answer.blob
    assert ip_server.hits() == 1  # the second answer used the cached lookup
    clock.advance(timedelta(minutes=5))
    ask(running, http, fake_slack, "show", key="host-no-3")
    assert ip_server.hits() == 2


@pytest.mark.parametrize(("status", "body"), [(200, "not an ip"), (500, "1.2.3.4")])
def test_host_ip_unknown_when_the_lookup_fails_but_the_ips_are_still_shown(
    make_bot: Callable[..., InProcessBot],
    http: httpx.Client,
    fake_slack: FakeSlack,
    ip_server: PublicIpServer,
    status: int,
    body: str,
) -> None:
    ip_server.status, ip_server.body = status, body
    running = make_bot(PUBLIC_IP_URL=ip_server.url())

    answer = ask(running, http, fake_slack, "show", key="host-unknown")

    assert f"`{REGISTERED_PRIMARY}`" in answer.blob
    assert "public IP could not be determined" in answer.blob


def _revoke_all(emulator: EmulatorServer) -> None:
    for record in list(emulator.state.tokens.values()):
        emulator.state.revoke(record)


def _fault(route: str = GET_IPS, **kwargs: object) -> Callable[[EmulatorServer], None]:
    return lambda emulator: emulator.state.add_fault(Fault(route=route, **kwargs))  # type: ignore[arg-type]


def _access(value: str) -> Callable[[EmulatorServer], None]:
    def apply(emulator: EmulatorServer) -> None:
        emulator.state.ip_access = value  # type: ignore[assignment]

    return apply


@pytest.mark.parametrize(
    ("arrange", "expected"),
    [
        pytest.param(
            _revoke_all,
            "The Upstox session has expired or was logged out. Run `/staticip login`",
            id="token-invalid-401",
        ),
        pytest.param(
            _fault(status=429, error_code="UDAPI10005", retry_after=1, count=3),
            "Upstox is rate limiting us right now. Try again in 1 s.",
            id="rate-limited-429",
        ),
        pytest.param(
            _fault(status=503, count=3),
            "Upstox is not answering right now",
            id="unavailable-503",
        ),
        pytest.param(
            _fault(kind="drop", count=3),
            "Upstox is not answering right now",
            id="connection-dropped",
        ),
        pytest.param(_access("not_allowed"), "(UDAPI1179)", id="udapi1179"),
        pytest.param(_access("app_inactive"), "(UDAPI1180)", id="udapi1180"),
        pytest.param(_access("not_available"), "(UDAPI1181)", id="udapi1181"),
    ],
)
def test_each_upstox_failure_gets_its_message(
    bot: InProcessBot,
    http: httpx.Client,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    arrange: Callable[[EmulatorServer], None],
    expected: str,
) -> None:
    arrange(emulator)

    answer = ask(bot, http, fake_slack, "show", key="fail")

    _assert_valid_answer(answer.call.params)
    assert expected in answer.text
    assert REGISTERED_PRIMARY not in answer.blob
    assert "Traceback" not in answer.blob
    assert emulator.state.calls_to(GET_IPS)  # it did ask Upstox
    assert emulator.state.calls_to(PUT_IPS) == []


def test_a_401_marks_the_stored_token_dead(
    bot: InProcessBot, http: httpx.Client, fake_slack: FakeSlack, emulator: EmulatorServer
) -> None:
    _revoke_all(emulator)

    ask(bot, http, fake_slack, "show", key="dead")

    account = bot.services.settings.account
    stored = bot.run(bot.services.db.tokens.get(account))
    assert stored is not None and stored.state is TokenState.INVALIDATED


def test_upstox_text_is_escaped(
    bot: InProcessBot, http: httpx.Client, fake_slack: FakeSlack, emulator: EmulatorServer
) -> None:
    emulator.state.add_fault(
        Fault(
            route=GET_IPS,
            status=400,
            error_code="UDAPI999999",
            message="<!channel> R&D <http://evil.example|click>",
        )
    )

    answer = ask(bot, http, fake_slack, "show", key="escape")

    assert "&lt;!channel&gt; R&amp;D &lt;http://evil.example|click&gt;" in answer.text
    assert "<!channel>" not in answer.blob and "<http://evil" not in answer.blob


def test_without_a_token_show_says_not_logged_in_and_does_not_call_upstox(
    make_bot: Callable[..., InProcessBot],
    http: httpx.Client,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
) -> None:
    running = make_bot(UPSTOX_ACCESS_TOKEN="")

    answer = ask(running, http, fake_slack, "show", key="no-token")

    assert "The bot is not logged in to Upstox yet." in answer.text
    assert "`/staticip login`" in answer.text
    assert emulator.state.calls == []


def test_the_user_hears_back_when_upstox_is_slower_than_the_deadline(
    make_bot: Callable[..., InProcessBot],
    http: httpx.Client,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
) -> None:
    emulator.state.latency = 2.5
    running = make_bot(REPLY_DEADLINE="1s")

    answer = ask(running, http, fake_slack, "show", key="slow")

    assert "Upstox did not answer in time (within 1 s)" in answer.text
    assert "Nothing was changed." in answer.text
    assert len(fake_slack.responses("slow")) == 1


def test_the_ack_does_not_wait_for_upstox(
    bot: InProcessBot, http: httpx.Client, fake_slack: FakeSlack, emulator: EmulatorServer
) -> None:
    emulator.state.latency = 2.5

    answer = ask(bot, http, fake_slack, "show", key="order")

    # The HTTP response was in hand before the answer reached the response_url.
    assert answer.acked_at < answer.call.at
    assert f"`{REGISTERED_PRIMARY}`" in answer.blob
    assert len(emulator.state.calls_to(GET_IPS)) == 1


def test_a_failed_response_url_post_is_logged(
    bot: InProcessBot,
    http: httpx.Client,
    fake_slack: FakeSlack,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="bot.show.listeners")
    fake_slack.fail_next("response_url", status=500, error="expired_url")

    ask(bot, http, fake_slack, "show", key="gone")

    def logged() -> bool:
        return any("response_url answered HTTP 500" in r.getMessage() for r in caplog.records)

    from tests.support.bot_runner import wait_until

    wait_until(logged, timeout=5)


def test_the_show_answer_shows_an_open_request(
    bot: InProcessBot, http: httpx.Client, fake_slack: FakeSlack, clock: MutableClock
) -> None:
    services = bot.services
    created = bot.run(
        services.db.requests.create(
            account=services.settings.account,
            requester_id="UREQ1",
            reason="new colo box",
            current_primary=REGISTERED_PRIMARY,
            current_secondary=None,
            proposed_primary="203.0.113.50",
            proposed_secondary=None,
            expires_at=clock() + timedelta(hours=24),
            now=clock(),
        ),
    )

    answer = ask(bot, http, fake_slack, "show", key="open")

    assert f"Open change request `{created.id}` (pending)" in answer.blob
    assert format_ist(clock()) in answer.blob  # "As of …"
