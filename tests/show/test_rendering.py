"""Every show/status message variant, rendered and passed through the production Block Kit
validation (`bot.slack.blocks`; the checker itself is tested in tests/slack/test_blocks.py)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.login.tokens import TokenStatus
from bot.show.blocks import ShowAnswers, show_failure_message, show_message, status_message
from bot.show.service import (
    HostIp,
    ShowFailure,
    ShowOverview,
    StatusOverview,
    host_match,
)
from bot.slack.blocks import validate_message
from bot.store.models import ChangeRequest, TokenSource
from bot.store.request_states import OPEN_STATES, RequestState
from bot.upstox import StaticIps
from bot.week_window import LearnedRule, change_window

NOW = datetime(2026, 11, 25, 6, 30, tzinfo=UTC)  # Wed 25 Nov 2026, 12:00 IST


def iter_texts(payload: Mapping[str, Any]) -> Iterator[str]:
    """Every string in a payload (text, blocks, nested)."""
    stack: list[Any] = [payload]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _ips(primary: str | None, secondary: str | None, **extra: Any) -> StaticIps:
    return StaticIps.model_validate({"primary_ip": primary, "secondary_ip": secondary, **extra})


def _request(
    index: int = 0,
    *,
    state: RequestState = RequestState.PENDING,
    reason: str = "x",
    secondary: str | None = None,
    requester: str = "UREQ1",
) -> ChangeRequest:
    return ChangeRequest(
        id=f"r-abcdefg{index}",
        account="acct",
        state=state,
        requester_id=requester,
        reason=reason,
        current_primary="122.181.101.247",
        current_secondary=None,
        proposed_primary="203.0.113.50",
        proposed_secondary=secondary,
        created_at=NOW,
        expires_at=NOW + timedelta(hours=24),
        decided_by=None,
        decided_at=None,
        applied_at=None,
        failure_reason=None,
        card_channel=None,
        card_ts=None,
        version=1,
        updated_at=NOW,
    )


IPS_VARIANTS = {
    "both": _ips(
        "203.0.113.10",
        "2001:db8::1",
        primary_ip_updated_at="2026-11-23 10:15:00",
        secondary_ip_updated_at="2026-10-01 09:00:00",
    ),
    "secondary-missing": _ips("203.0.113.10", None, primary_ip_updated_at="2025-10-03 17:17:50"),
    "never-changed": _ips("203.0.113.10", None),
    "unparseable-time": _ips("203.0.113.10", None, primary_ip_updated_at="yesterday-ish"),
    "future-time": _ips("203.0.113.10", None, primary_ip_updated_at="9999-12-31 23:00:00"),
}
HOSTS = [
    HostIp("not_configured"),
    HostIp("unknown"),
    HostIp("primary", "203.0.113.10"),
    HostIp("secondary", "2001:db8::1"),
    HostIp("not_registered", "198.51.100.99"),
]


def _show(ips: StaticIps, host: HostIp, requests: tuple[ChangeRequest, ...] = ()) -> ShowOverview:
    window = change_window(ips.primary_ip_updated_at, ips.secondary_ip_updated_at, NOW)
    return ShowOverview(now=NOW, ips=ips, window=window, host=host, open_requests=requests)


@pytest.mark.parametrize(
    ("ips_name", "host", "requests"),
    list(itertools.product(IPS_VARIANTS, HOSTS, [(), (_request(),), (_request(0), _request(1))])),
)
def test_every_show_variant_is_within_the_limits(
    ips_name: str, host: HostIp, requests: tuple[ChangeRequest, ...]
) -> None:
    payload = show_message(_show(IPS_VARIANTS[ips_name], host, requests))
    validate_message(payload)
    blob = "\n".join(iter_texts(payload))
    assert "203.0.113.10" in blob
    assert ("not set" in blob) == (IPS_VARIANTS[ips_name].secondary_ip is None)


def test_show_window_texts() -> None:
    locked = show_message(_show(IPS_VARIANTS["both"], HOSTS[0]))
    assert (
        "*Next change allowed from Mon 30 Nov 2026, 00:00 IST* (last change Mon 23 Nov "
        "2026, 10:15 IST)" in str(locked)
    )
    assert "*Rule: calendar week* — the calendar week opens Mon 30 Nov 2026, 00:00 IST" in str(
        locked
    )
    never = show_message(_show(IPS_VARIANTS["never-changed"], HOSTS[0]))
    assert "Upstox reports no earlier change" in str(never)
    raw = show_message(_show(IPS_VARIANTS["unparseable-time"], HOSTS[0]))
    assert "changed `yesterday-ish` (as Upstox sent it)" in str(raw)
    future = show_message(_show(IPS_VARIANTS["future-time"], HOSTS[0]))
    assert "probably not allowed now" in str(future)


def test_show_says_the_rule_was_learned_from_upstox() -> None:
    ips = IPS_VARIANTS["both"]  # last change Mon 23 Nov 10:15 IST; now Wed 25 Nov 12:00
    assert ips.last_changed_at is not None
    learned = LearnedRule(
        refused_at=NOW - timedelta(days=7), last_change_at=NOW - timedelta(days=12)
    )
    window = change_window(ips.primary_ip_updated_at, ips.secondary_ip_updated_at, NOW, learned)
    view = ShowOverview(now=NOW, ips=ips, window=window, host=HOSTS[0])
    payload = show_message(view)
    validate_message(payload)
    blob = "\n".join(iter_texts(payload))
    assert "*Next change allowed from Mon 30 Nov 2026, 10:15 IST*" in blob
    assert (
        "*Rule: learned from Upstox* — the calendar week opens Mon 30 Nov 2026, 00:00 IST" in blob
    )
    assert "Upstox refused a change 5 days after the last one" in blob


@pytest.mark.parametrize(
    "failure",
    [
        ShowFailure("timeout", "Upstox did not answer in time (within 8 s)."),
        ShowFailure("not_logged_in", "The bot is not logged in to Upstox yet."),
        ShowFailure("upstox", "Upstox says: “<!here> & " + "x" * 2900 + "” (UDAPI1)"),
    ],
)
def test_every_failure_variant_is_within_the_limits_and_escaped(failure: ShowFailure) -> None:
    payload = show_failure_message(failure)
    validate_message(payload)
    assert "<!here>" not in str(payload)


TOKENS = [
    TokenStatus("valid", NOW + timedelta(hours=15), NOW, TokenSource.OAUTH, "EMU001"),
    TokenStatus("expired", NOW - timedelta(hours=1), NOW - timedelta(days=1), TokenSource.SEED),
    TokenStatus("invalidated", NOW, NOW, TokenSource.NOTIFIER, reason="401 <&>"),
    TokenStatus("missing"),
    TokenStatus("unreadable", NOW, NOW, TokenSource.SEED),
]


@pytest.mark.parametrize("token", TOKENS, ids=lambda t: t.health)
@pytest.mark.parametrize("count", [0, 1, 3, 25])
@pytest.mark.parametrize("last_success", [None, NOW])
def test_every_status_variant_is_within_the_limits(
    token: TokenStatus, count: int, last_success: datetime | None
) -> None:
    states = itertools.cycle(sorted(OPEN_STATES))
    requests = tuple(
        _request(i, state=next(states), reason="r&d <x> " * 40, secondary="203.0.113.51")
        for i in range(count)
    )
    view = StatusOverview(
        now=NOW,
        token=token,
        last_success_at=last_success,
        open_requests=requests,
        approval_channel="CAPPROVALS",
        approvers=(*(f"U{i:08d}" for i in range(40)), "SGROUP1"),
        requesters=(),
    )
    payload = status_message(view)
    validate_message(payload)
    blob = str(payload)
    assert "<x>" not in blob and "<&>" not in blob
    if count > 10:
        assert "more." in blob


@settings(max_examples=150, deadline=None)
@given(
    primary=st.text(max_size=300),
    secondary=st.none() | st.text(max_size=300),
    raw_time=st.none() | st.text(max_size=80),
    host_ip=st.none() | st.text(max_size=60),
    reason=st.text(max_size=2000),
    requester=st.text(max_size=40),
)
def test_outside_text_never_breaks_the_limits_or_the_markup(
    primary: str,
    secondary: str | None,
    raw_time: str | None,
    host_ip: str | None,
    reason: str,
    requester: str,
) -> None:
    ips = _ips(primary or None, secondary, primary_ip_updated_at=raw_time)
    host = host_match(ips, host_ip, configured=True)
    request = _request(reason=reason, requester=requester)
    payload = show_message(_show(ips, host, (request,)))
    validate_message(payload)
    status = status_message(
        StatusOverview(NOW, TOKENS[0], None, (request,), "CAPPROVALS", ("UAPPROVER1",), ())
    )
    validate_message(status)
    for text in iter_texts({"a": payload, "b": status}):
        # Only our own markup may open a "<": mentions and the channel link.
        for fragment in text.split("<")[1:]:
            assert fragment.startswith(("@U", "@W", "#C", "!subteam^S")), text


def test_an_equal_overview_reuses_the_answer_and_any_difference_renders_anew() -> None:
    answers = ShowAnswers()
    view = _show(IPS_VARIANTS["both"], HOSTS[0])
    first = answers.render(view)
    assert first == show_message(view)
    # Same IPs read, seconds later within the minute shown: the very same answer.
    again = replace(view, ips=view.ips.model_copy(), now=view.now + timedelta(seconds=20))
    assert answers.render(again) is first

    for changed in (
        replace(view, now=view.now + timedelta(minutes=1)),
        replace(view, ips=_ips("203.0.113.99", view.ips.secondary_ip)),
        replace(view, host=HostIp("not_registered", "198.51.100.1")),
        replace(view, open_requests=(_request(),)),
    ):
        rendered = answers.render(changed)
        assert rendered is not first
        assert rendered == show_message(changed)
