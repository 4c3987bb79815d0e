"""The App Home view: the account at a glance, and the common actions. Pure.

Bounded by construction, whatever the data: at most `MAX_REQUESTS` request blocks and one
section for the audit trail, so the view stays far below Slack's 100-block limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.ist import format_ist
from bot.login.tokens import TokenStatus
from bot.slack import blocks as bk
from bot.slack.mrkdwn import code, escape, mention
from bot.store.models import AuditEntry, ChangeRequest
from bot.upstox import StaticIps
from bot.week_window import ChangeWindow

REQUEST_CHANGE_ACTION = "home_request_change"
LOGIN_ACTION = "home_login"
MAX_REQUESTS = 10
MAX_AUDIT = 10


@dataclass(frozen=True, slots=True)
class OpenRequest:
    request: ChangeRequest
    permalink: str | None = None


@dataclass(frozen=True, slots=True)
class HomeData:
    now: datetime
    account: str
    token: TokenStatus
    ips: StaticIps | None = None
    ips_as_of: datetime | None = None
    ips_problem: str | None = None
    """Why the IPs could not be read (plain text), when `ips` is None or stale."""
    window: ChangeWindow | None = None
    open_requests: tuple[OpenRequest, ...] = ()
    audit: tuple[AuditEntry, ...] = ()
    alerts: tuple[str, ...] = ()
    deliveries: tuple[str, ...] = ()
    """Per app: the last token hand-over per sink and the last pickup (plain text)."""


def _ips_section(data: HomeData) -> bk.SectionBlock:
    if data.ips is None:
        problem = data.ips_problem or "not read yet"
        return bk.section(f"*Registered IPs:* unknown ({escape(problem)})")
    ips = data.ips

    def line(label: str, ip: str | None, at: datetime | None) -> str:
        if not ip:
            return f"*{label}:* none"
        changed = f" (changed {format_ist(at)})" if at is not None else ""
        return f"*{label}:* {code(ip)}{changed}"

    text = "\n".join(
        (
            line("Primary", ips.primary_ip, ips.primary_ip_updated_at),
            line("Secondary", ips.secondary_ip, ips.secondary_ip_updated_at),
        )
    )
    if data.ips_as_of is not None:
        text += f"\n_as of {format_ist(data.ips_as_of)}_"
        if data.ips_problem:
            text += f" _({escape(data.ips_problem)})_"
    return bk.section(text)


def _window_text(data: HomeData) -> str:
    window = data.window
    if window is None:
        return "*Next allowed change:* unknown"
    if window.next_allowed_at is None:
        return "*Next allowed change:* now (no change on record)"
    if window.allowed:
        return f"*Next allowed change:* now (lock ended {format_ist(window.next_allowed_at)})"
    return f"*Next allowed change:* {format_ist(window.next_allowed_at)} (the bot's guess)"


def _token_text(token: TokenStatus) -> str:
    icon = ":large_green_circle:" if token.health == "valid" else ":red_circle:"
    return f"*Upstox login:* {icon} {escape(token.describe())}"


def _actions(data: HomeData, *, several: bool = False) -> bk.ActionsBlock:
    """With several accounts each button's value is its account's name (the listener picks
    the account by it; a value is never trusted beyond that)."""
    return bk.actions(
        bk.button(
            "Request change",
            REQUEST_CHANGE_ACTION,
            value=data.account if several else "request_change",
        ),
        bk.button(
            "Log in",
            LOGIN_ACTION,
            value=data.account if several else "login",
            style="primary" if data.token.health != "valid" else None,
        ),
        block_id=f"home_actions_{data.account}" if several else "home_actions",
    )


def _countdown(left_seconds: float) -> str:
    minutes = max(0, int(left_seconds // 60))
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"in {days}d {hours}h"
    return f"in {hours}h {minutes:02d}m" if hours else f"in {minutes} min"


def _request_block(item: OpenRequest, now: datetime | None = None) -> bk.SectionBlock:
    r = item.request
    proposed = code(r.proposed_primary)
    if r.proposed_secondary:
        proposed += f" + {code(r.proposed_secondary)}"
    title = code(r.id)
    if item.permalink:
        title = f"<{item.permalink}|{escape(r.id)}>"
    reason = escape(bk.clip(r.reason, 200))
    text = (
        f"{title} · *{r.state.value}* · by {mention(r.requester_id)} → {proposed}\n"
        f"_{reason}_ · expires {format_ist(r.expires_at)}"
    )
    if r.scheduled_at is not None and r.state.value == "scheduled":
        text = (
            f"{title} · *scheduled* · by {mention(r.requester_id)} → {proposed}\n"
            f"_{reason}_ · applies {format_ist(r.scheduled_at)}"
        )
        if now is not None:
            text += f" ({_countdown((r.scheduled_at - now).total_seconds())})"
        text += f" · cancel: `/staticip cancel {escape(r.id)}`"
    return bk.section(text)


def _audit_line(entry: AuditEntry) -> str:
    parts = [format_ist(entry.at), f"*{escape(entry.event)}*", mention(entry.actor)]
    if entry.request_id:
        parts.append(f"`{escape(entry.request_id)}`")
    condition = entry.details.get("condition")
    if entry.event == "alert" and isinstance(condition, str):
        parts.append(escape(f"{condition.split(':')[0]} {entry.details.get('state', '')}"))
    return bk.clip(" · ".join(parts), 280)


# With several accounts: a compact part per account, at most this many parts (the rest are
# named in a line), so the view stays below Slack's 100 blocks.
MAX_ACCOUNTS = 8
MAX_REQUESTS_EACH = 3
MAX_AUDIT_EACH = 3


def build_home_view(data: HomeData | Sequence[HomeData]) -> dict[str, Any]:
    """The Home of one account (the whole page), or of several (a part each)."""
    if isinstance(data, HomeData):
        return _one_account_view(data)
    if len(data) == 1:
        return _one_account_view(data[0])
    return _accounts_view(data)


def _accounts_view(accounts: Sequence[HomeData]) -> dict[str, Any]:
    blocks: list[bk.Block] = [bk.header("Upstox static IPs")]
    for data in accounts[:MAX_ACCOUNTS]:
        blocks += [
            bk.section(f"*Account `{escape(data.account)}`*"),
            _ips_section(data),
            bk.section(f"{_window_text(data)}\n{_token_text(data.token)}"),
        ]
        if data.alerts:
            names = ", ".join(sorted({a.split(":")[0].replace("_", " ") for a in data.alerts}))
            blocks.append(bk.section(f":warning: *Active alerts:* {escape(names)}"))
        shown = data.open_requests[:MAX_REQUESTS_EACH]
        blocks.extend(_request_block(item, data.now) for item in shown)
        entries = data.audit[:MAX_AUDIT_EACH]
        if entries:
            blocks.append(bk.context(bk.clip("\n".join(_audit_line(e) for e in entries), 2900)))
        blocks.append(_actions(data, several=True))
        blocks.append(bk.divider())
    if len(accounts) > MAX_ACCOUNTS:
        rest = ", ".join(f"`{escape(d.account)}`" for d in accounts[MAX_ACCOUNTS:])
        blocks.append(bk.section(f"Also: {rest} — `/staticip show <account>`"))
    blocks.append(
        bk.context(
            f"Updated {format_ist(accounts[0].now)} · full history: `/staticip history <account>`"
        )
    )
    return bk.view("home", blocks)


def _one_account_view(data: HomeData) -> dict[str, Any]:
    blocks: list[bk.Block] = [
        bk.header(f"Upstox static IPs — {bk.clip(data.account, 100)}"),
        _ips_section(data),
        bk.section(f"{_window_text(data)}\n{_token_text(data.token)}"),
    ]
    if data.deliveries:
        blocks.append(bk.section("\n".join(escape(line) for line in data.deliveries)))
    if data.alerts:
        names = ", ".join(sorted({a.split(":")[0].replace("_", " ") for a in data.alerts}))
        blocks.append(bk.section(f":warning: *Active alerts:* {escape(names)}"))
    blocks.append(_actions(data))
    blocks.append(bk.context(f"Updated {format_ist(data.now)}"))
    blocks.append(bk.divider())

    blocks.append(bk.header("Open requests"))
    shown = data.open_requests[:MAX_REQUESTS]
    if not shown:
        blocks.append(bk.section("_No open requests._"))
    blocks.extend(_request_block(item, data.now) for item in shown)
    if len(data.open_requests) > MAX_REQUESTS:
        more = len(data.open_requests) - MAX_REQUESTS
        blocks.append(bk.context(f"and {more} more: `/staticip status`"))
    blocks.append(bk.divider())

    blocks.append(bk.header("Recent activity"))
    entries = data.audit[:MAX_AUDIT]
    if entries:
        blocks.append(bk.section("\n".join(_audit_line(e) for e in entries)))
    else:
        blocks.append(bk.section("_Nothing yet._"))
    blocks.append(bk.context("Full history: `/staticip history`"))
    return bk.view("home", blocks)


def notice_view(
    title: str, text: str, blocks: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """A small modal for answering a click in the Home (it has no channel to answer in)."""
    body: list[bk.Part] = [*blocks] if blocks else [bk.section(text)]
    return bk.view("modal", body, title=title, close="Close")
