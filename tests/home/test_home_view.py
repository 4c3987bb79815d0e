"""The App Home view renders within Slack's limits for empty and full states."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from bot.home.blocks import (
    LOGIN_ACTION,
    MAX_REQUESTS,
    REQUEST_CHANGE_ACTION,
    HomeData,
    OpenRequest,
    build_home_view,
)
from bot.ist import IST
from bot.login.tokens import TokenStatus
from bot.slack.blocks import VIEW_BLOCKS, validate_view
from bot.store.models import AuditEntry, ChangeRequest
from bot.store.request_states import RequestState
from bot.upstox import StaticIps
from bot.week_window import change_window

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=IST)


def _request(n: int) -> ChangeRequest:
    return ChangeRequest(
        id=f"r-{n:08d}",
        account="acct",
        state=RequestState.PENDING,
        requester_id="UREQUESTER",
        reason="<!channel> " + "x" * 2000,
        current_primary="203.0.113.7",
        current_secondary=None,
        proposed_primary="2001:db8:ffff:ffff:ffff:ffff:ffff:ffff",
        proposed_secondary="2001:db8:ffff:ffff:ffff:ffff:ffff:fffe",
        created_at=NOW.astimezone(UTC),
        expires_at=(NOW + timedelta(hours=24)).astimezone(UTC),
        decided_by=None,
        decided_at=None,
        applied_at=None,
        failure_reason=None,
        card_channel="CAPPROVALS",
        card_ts=f"1700000000.{n:06d}",
        version=1,
        updated_at=NOW.astimezone(UTC),
    )


def _audit(n: int) -> AuditEntry:
    return AuditEntry(
        id=n,
        at=NOW.astimezone(UTC),
        account="acct",
        request_id=f"r-{n:08d}",
        event="alert" if n % 2 else "requested",
        actor="UREQUESTER" if n % 3 else "bot",
        details={"condition": "window_reopened:1796000000", "state": "started", "x": "y" * 500},
    )


def _blob(view: dict[str, object]) -> str:
    return json.dumps(view)


def test_empty_state_renders_within_limits_and_offers_both_actions() -> None:
    view = build_home_view(HomeData(now=NOW, account="acct", token=TokenStatus("missing")))
    validate_view(view)
    blocks = view["blocks"]
    assert isinstance(blocks, list) and len(blocks) <= VIEW_BLOCKS
    blob = _blob(view)
    assert "No open requests" in blob and "Nothing yet" in blob
    assert "Registered IPs:* unknown" in blob and "no token yet" in blob
    assert REQUEST_CHANGE_ACTION in blob and LOGIN_ACTION in blob


def test_full_state_renders_within_limits() -> None:
    ips = StaticIps(
        primary_ip="203.0.113.7",
        secondary_ip="2001:db8::1",
        primary_ip_updated_at=NOW - timedelta(days=1),
        secondary_ip_updated_at=NOW - timedelta(days=1),
    )
    requests = tuple(
        OpenRequest(_request(n), f"https://fake.slack.com/archives/CAPPROVALS/p{n}")
        for n in range(40)
    )
    data = HomeData(
        now=NOW,
        account="a" * 300,
        token=TokenStatus("valid", expires_at=NOW + timedelta(hours=17)),
        ips=ips,
        ips_as_of=NOW,
        ips_problem="Upstox is not answering " + "z" * 4000,
        window=change_window(ips.primary_ip_updated_at, None, NOW),
        open_requests=requests,
        audit=tuple(_audit(n) for n in range(40)),
        alerts=("drift", "window_reopened:1796000000", "token_dead"),
    )
    view = build_home_view(data)
    validate_view(view)
    blocks = view["blocks"]
    assert isinstance(blocks, list)
    assert len(blocks) <= VIEW_BLOCKS
    blob = _blob(view)
    # Capped lists, the cards' links, IST times, and outside text escaped.
    assert blob.count("https://fake.slack.com/archives/CAPPROVALS/p") == MAX_REQUESTS
    assert "and 30 more" in blob
    assert "*Next allowed change:* Mon 07 Dec 2026, 00:00 IST (the bot's guess)" in blob
    assert "<!channel>" not in blob and "&lt;!channel&gt;" in blob
    assert blob.count("r-000000") >= 10
    assert "drift" in blob


def test_a_scheduled_request_shows_its_time_and_a_countdown() -> None:
    from dataclasses import replace

    scheduled = replace(
        _request(1),
        state=RequestState.SCHEDULED,
        scheduled_at=(NOW + timedelta(hours=5, minutes=35)).astimezone(UTC),
    )
    view = build_home_view(
        HomeData(
            now=NOW,
            account="acct",
            token=TokenStatus("valid", expires_at=NOW + timedelta(hours=17)),
            open_requests=(OpenRequest(scheduled, None),),
        )
    )
    validate_view(view)
    blob = _blob(view)
    assert "*scheduled*" in blob
    assert "applies Wed 02 Dec 2026, 15:35 IST (in 5h 35m)" in blob
    assert "/staticip cancel r-00000001" in blob
