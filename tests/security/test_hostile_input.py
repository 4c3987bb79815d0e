"""Hostile and malformed input: the parsers and the whole Slack endpoint, fuzzed.

Whatever arrives — random unicode, 4 kB of text, control characters, shell
metacharacters, IP-like garbage, broken payload JSON, unknown actions, forged button
values, missing fields — the answer is a clean 2xx/4xx with a message, never a 5xx or a
crash, and nothing reaches Upstox's PUT. One running bot serves every example.
"""

from __future__ import annotations

import copy
import itertools
import json
import logging
from typing import Any
from urllib.parse import quote, unquote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.home.blocks import LOGIN_ACTION, REQUEST_CHANGE_ACTION
from bot.login.blocks import LOGIN_ACTION_ID
from bot.requests.blocks import APPROVE_ACTION, REJECT_ACTION
from bot.requests.listeners import looks_like_ip, split_set_args
from bot.requests.service import InvalidFields, check_fields
from bot.slack.commands import split_subcommand
from bot.store.models import AuditEvent, NewAuditEvent
from bot.store.request_states import RequestState
from bot.upstox.emulator import EmulatorServer
from tests.support.bot_runner import InProcessBot, subcommands, wait_until
from tests.support.fake_slack import FakeSlack
from tests.support.replicas import PUT, click, request_change
from tests.support.slack_requests import (
    block_actions_body,
    payload_body,
    post_signed,
    slash_command_body,
)

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
APOLOGY = "something went wrong on the bot's side"
CLEAN = {200, 400, 404}
_keys = itertools.count(1)

# -- strategies -------------------------------------------------------------------------

SHELL = st.sampled_from(
    ["; rm -rf /", "$(reboot)", "`id`", "| cat /etc/passwd", "&& curl x", "> /dev/null",
     "' OR 1=1 --", '"; DROP TABLE change_requests; --', "${IFS}", "\\", "%00", "<@U123>",
     "<!channel>", "*bold* _it_ ~x~", "```code```", "<script>alert(1)</script>"]
)  # fmt: skip
IP_LIKE = st.lists(
    st.sampled_from(
        ["1", "8", "999", "0", "00", "256", "255", ".", ":", "::", "ff", "/", "%", "-", "[", "]",
         "8.8.8.8", "10.0.0.1", "::1", "2001:db8::", "0x7f", "1e3", "١٢٣", "８"]
    ),
    max_size=14,
).map("".join)  # fmt: skip
CONTROL = st.text(alphabet=st.characters(codec="utf-8", categories=["Cc", "Cf", "Zs", "Zl"]))
WORDS = st.one_of(
    st.text(max_size=200),
    CONTROL,
    SHELL,
    IP_LIKE,
    st.text(min_size=4000, max_size=4096),
    st.lists(st.one_of(IP_LIKE, SHELL, st.text(max_size=20)), max_size=6).map(" ".join),
)
PREFIX = st.sampled_from(
    ["", *[f"{s} " for s in sorted(subcommands())], "SET ", "  set\t", "sh0w "]
)
COMMAND_TEXT = st.builds(lambda p, w: p + w, PREFIX, WORDS)

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=12,
)
ACTION_IDS = st.one_of(
    st.sampled_from(
        [APPROVE_ACTION, REJECT_ACTION, LOGIN_ACTION_ID, LOGIN_ACTION, REQUEST_CHANGE_ACTION]
    ),
    st.text(max_size=60),
)
BUTTON_VALUES = st.one_of(WORDS, st.from_regex(r"r-[a-z0-9]{0,40}", fullmatch=True))
USERS = st.sampled_from(["UAPPROVER1", "UAPPROVER2", "UREQUESTER", "UNOBODY", "", "W0", "B0T"])


# -- the parsers on their own -------------------------------------------------------------


@FUZZ
@given(text=st.one_of(st.none(), COMMAND_TEXT))
def test_subcommand_split_is_total(text: str | None) -> None:
    subcommand, rest = split_subcommand(text)
    assert subcommand == subcommand.lower()
    assert " " not in subcommand
    assert rest == rest.strip()
    if not (text or "").strip():
        assert (subcommand, rest) == ("show", "")


@FUZZ
@given(args=WORDS)
def test_set_argument_split_is_total_and_keeps_the_reason(args: str) -> None:
    primary, secondary, reason = split_set_args(args)
    assert not any(c.isspace() for c in primary)
    assert secondary is None or looks_like_ip(secondary)
    assert reason == reason.strip()
    assert len(primary) + len(secondary or "") + len(reason) <= len(args)


@FUZZ
@given(primary=WORDS, secondary=st.one_of(st.none(), WORDS), reason=WORDS)
def test_field_check_accepts_or_explains_per_field(
    primary: str, secondary: str | None, reason: str
) -> None:
    try:
        checked = check_fields(primary, secondary, reason, allow_non_public=False)
    except InvalidFields as refused:
        assert refused.errors and set(refused.errors) <= {"primary", "secondary", "reason"}
        assert all(isinstance(m, str) and m for m in refused.errors.values())
        return
    assert checked.primary and checked.reason and len(checked.reason) <= 500
    assert checked.primary != checked.secondary


# -- the whole endpoint ----------------------------------------------------------------------


@pytest.fixture
def errors(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.WARNING)
    return caplog


def assert_no_crash(bot: InProcessBot, http: httpx.Client, emulator: EmulatorServer,
                    errors: pytest.LogCaptureFixture) -> None:  # fmt: skip
    crashes = [r for r in errors.records if r.levelno >= logging.ERROR]
    assert not crashes, [r.getMessage() for r in crashes]
    assert http.get(f"{bot.base_url}/healthz").status_code == 200
    assert emulator.state.calls_to(PUT) == []


def message_of(response: httpx.Response) -> str:
    if not response.content:
        return ""
    try:
        body = response.json()
    except ValueError:
        return response.text
    return str(body.get("text") or body.get("error") or "") if isinstance(body, dict) else ""


@FUZZ
@given(text=COMMAND_TEXT, user=USERS)
def test_any_command_text_gets_a_clean_answer(
    bot: InProcessBot,
    http: httpx.Client,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    errors: pytest.LogCaptureFixture,
    text: str,
    user: str,
) -> None:
    errors.clear()
    key = f"fuzz-cmd-{next(_keys)}"
    body = slash_command_body(text, user_id=user or "U0", response_url=fake_slack.response_url(key))
    response = post_signed(http, bot.base_url, body)
    assert response.status_code == 200, response.text
    subcommand, args = split_subcommand(text)
    if message_of(response):  # answered in the acknowledgement (help, unknown subcommand)
        answer = message_of(response)
    elif subcommand == "set" and not args:  # the form opens instead
        fake_slack.wait_for_call("views.open", timeout=5)
        answer = "form"
    else:
        answer = str(fake_slack.wait_for_response(key, timeout=5).params.get("text", ""))
    assert answer.strip() and APOLOGY not in answer
    assert_no_crash(bot, http, emulator, errors)


@FUZZ
@given(action_id=ACTION_IDS, value=BUTTON_VALUES, user=USERS)
def test_any_click_gets_a_clean_answer_and_applies_nothing(
    bot: InProcessBot,
    http: httpx.Client,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    errors: pytest.LogCaptureFixture,
    action_id: str,
    value: str,
    user: str,
) -> None:
    errors.clear()
    body = block_actions_body(
        action_id, value, user_id=user, response_url=fake_slack.response_url()
    )
    response = post_signed(http, bot.base_url, body)
    assert response.status_code in CLEAN, response.text
    if response.status_code != 200:
        assert message_of(response)
    assert_no_crash(bot, http, emulator, errors)


def _valid_click_payload() -> dict[str, Any]:
    body = block_actions_body(APPROVE_ACTION, "r-doesnotexist", user_id="UAPPROVER1")
    raw = body.removeprefix("payload=")
    loaded: dict[str, Any] = json.loads(unquote(raw))
    return loaded


def _mangle(
    payload: dict[str, Any], path: list[str], replacement: Any, drop: bool
) -> dict[str, Any]:
    mangled = copy.deepcopy(payload)
    node: Any = mangled
    for step in path[:-1]:
        node = node[step] if isinstance(node, dict) else node[0]
    target = path[-1]
    container = node if isinstance(node, dict) else node[0]
    if drop:
        container.pop(target, None)
    else:
        container[target] = replacement
    return mangled


FIELD_PATHS = st.sampled_from(
    [["type"], ["user"], ["user", "id"], ["actions"], ["actions", "action_id"],
     ["actions", "value"], ["actions", "type"], ["response_url"], ["channel"], ["channel", "id"],
     ["container"], ["message"], ["team"], ["team", "id"], ["trigger_id"], ["api_app_id"]]
)  # fmt: skip


@FUZZ
@given(
    raw=st.one_of(
        # payload that is not JSON, or JSON that is not an object
        st.text(max_size=100).map(lambda t: "payload=" + quote(t)),
        JSON.map(
            lambda j: payload_body(j) if isinstance(j, dict) else "payload=" + quote(json.dumps(j))
        ),
        # a real click with one field dropped or replaced by junk
        st.builds(
            lambda path, junk, drop: payload_body(
                _mangle(_valid_click_payload(), path, junk, drop)
            ),
            FIELD_PATHS,
            JSON,
            st.booleans(),
        ),
        # not even form encoding
        st.text(max_size=200),
        JSON.map(json.dumps),
    )
)
def test_malformed_payloads_get_a_clean_refusal(
    bot: InProcessBot,
    http: httpx.Client,
    emulator: EmulatorServer,
    errors: pytest.LogCaptureFixture,
    raw: str,
) -> None:
    errors.clear()
    response = post_signed(http, bot.base_url, raw)
    assert response.status_code in CLEAN, (raw[:300], response.status_code, response.text)
    if response.status_code != 200:
        assert message_of(response)
    assert_no_crash(bot, http, emulator, errors)


# -- forged button values ------------------------------------------------------------------


def ephemeral_text(fake_slack: FakeSlack, key: str) -> str:
    answer = fake_slack.wait_for_response(key, timeout=5)
    assert answer.params.get("response_type") == "ephemeral"
    return str(answer.params["text"])


def test_forged_button_values_change_nothing(
    bot: InProcessBot,
    http: httpx.Client,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    errors: pytest.LogCaptureFixture,
) -> None:
    db = bot.services.db
    # A decided request, and a pending one of another Upstox account in the same database.
    decided = request_change(http, bot.base_url, fake_slack)
    rejected = click(http, bot.base_url, fake_slack, decided, user_id="UAPPROVER1", approve=False)
    assert rejected.status == 200
    wait_until(lambda: state_of(bot, decided) is RequestState.REJECTED, timeout=5)
    foreign = bot.run(
        db.requests.create(
            account="another-api-key",
            requester_id="UREQUESTER",
            reason="theirs",
            current_primary="1.1.1.1",
            current_secondary=None,
            proposed_primary="8.8.4.4",
            proposed_secondary=None,
            expires_at=bot.services.clock() + bot.services.settings.approval_ttl,
            audit=NewAuditEvent(AuditEvent.REQUESTED, "UREQUESTER"),
        )
    )
    pending = request_change(http, bot.base_url, fake_slack, "8.8.8.8 the real one")

    cases = {
        decided: "was already rejected by <@UAPPROVER1>",
        foreign.id: "This request does not exist",
        pending + "x": "This request does not exist",
        pending.upper() + " ; DROP": "This request does not exist",
        f"{pending}\n{decided}": "This request does not exist",
        json.dumps({"id": pending}): "This request does not exist",
    }
    for value, expected in cases.items():
        for approve in (True, False):
            key = f"forged-{next(_keys)}"
            clicked = click(http, bot.base_url, fake_slack, value, user_id="UAPPROVER2",
                            approve=approve, key=key)  # fmt: skip
            assert clicked.status == 200
            got = ephemeral_text(fake_slack, key)
            assert expected in got, value
    assert state_of(bot, pending) is RequestState.PENDING
    assert state_of(bot, foreign.id) is RequestState.PENDING
    assert_no_crash(bot, http, emulator, errors)


def state_of(bot: InProcessBot, request_id: str) -> RequestState | None:
    found = bot.run(bot.services.db.requests.get(request_id))
    return found.state if found is not None else None
