"""The App Home view: the account at a glance, and the common actions. Pure.

Bounded by construction, whatever the data: at most `MAX_REQUESTS` request blocks and one
section for the audit trail, so the view stays far below Slack's 100-block limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.ist import format_ist
from bot.login.tokens import TokenStatus
from bot.store.models import AuditEntry, ChangeRequest
from bot.upstox import StaticIps
from bot.week_window import ChangeWindow

REQUEST_CHANGE_ACTION = "home_request_change"
LOGIN_ACTION = "home_login"
MAX_REQUESTS = 10
MAX_AUDIT = 10
_SECTION_TEXT = 3000


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


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _who(actor: str) -> str:
    if actor[:1] in ("U", "W") and actor.isalnum() and actor.isupper():
        return f"<@{actor}>"
    return _escape(actor)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text, _SECTION_TEXT)}}


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": _clip(text, 150)}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _clip(text, 3000)}]}


def _ips_section(data: HomeData) -> dict[str, Any]:
    if data.ips is None:
        problem = data.ips_problem or "not read yet"
        return _section(f"*Registered IPs:* unknown ({_escape(problem)})")
    ips = data.ips

    def line(label: str, ip: str | None, at: datetime | None) -> str:
        if not ip:
            return f"*{label}:* none"
        changed = f" (changed {format_ist(at)})" if at is not None else ""
        return f"*{label}:* `{_escape(ip)}`{changed}"

    text = "\n".join(
        (
            line("Primary", ips.primary_ip, ips.primary_ip_updated_at),
            line("Secondary", ips.secondary_ip, ips.secondary_ip_updated_at),
        )
    )
    if data.ips_as_of is not None:
        text += f"\n_as of {format_ist(data.ips_as_of)}_"
        if data.ips_problem:
            text += f" _({_escape(data.ips_problem)})_"
    return _section(text)


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
    return f"*Upstox login:* {icon} {_escape(token.describe())}"


def _actions(data: HomeData) -> dict[str, Any]:
    login: dict[str, Any] = {
        "type": "button",
        "action_id": LOGIN_ACTION,
        "text": {"type": "plain_text", "text": "Log in"},
        "value": "login",
    }
    if data.token.health != "valid":
        login["style"] = "primary"
    return {
        "type": "actions",
        "block_id": "home_actions",
        "elements": [
            {
                "type": "button",
                "action_id": REQUEST_CHANGE_ACTION,
                "text": {"type": "plain_text", "text": "Request change"},
                "value": "request_change",
            },
            login,
        ],
    }


def _countdown(left_seconds: float) -> str:
    minutes = max(0, int(left_seconds // 60))
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"in {days}d {hours}h"
    return f"in {hours}h {minutes:02d}m" if hours else f"in {minutes} min"


def _request_block(item: OpenRequest, now: datetime | None = None) -> dict[str, Any]:
    r = item.request
    proposed = f"`{_escape(r.proposed_primary)}`"
    if r.proposed_secondary:
        proposed += f" + `{_escape(r.proposed_secondary)}`"
    title = f"`{_escape(r.id)}`"
    if item.permalink:
        title = f"<{item.permalink}|{_escape(r.id)}>"
    text = (
        f"{title} · *{r.state.value}* · by {_who(r.requester_id)} → {proposed}\n"
        f"_{_escape(_clip(r.reason, 200))}_ · expires {format_ist(r.expires_at)}"
    )
    if r.scheduled_at is not None and r.state.value == "scheduled":
        text = (
            f"{title} · *scheduled* · by {_who(r.requester_id)} → {proposed}\n"
            f"_{_escape(_clip(r.reason, 200))}_ · applies {format_ist(r.scheduled_at)}"
        )
        if now is not None:
            text += f" ({_countdown((r.scheduled_at - now).total_seconds())})"
        text += f" · cancel: `/staticip cancel {_escape(r.id)}`"
    return _section(text)


def _audit_line(entry: AuditEntry) -> str:
    parts = [format_ist(entry.at), f"*{_escape(entry.event)}*", _who(entry.actor)]
    if entry.request_id:
        parts.append(f"`{_escape(entry.request_id)}`")
    condition = entry.details.get("condition")
    if entry.event == "alert" and isinstance(condition, str):
        parts.append(_escape(f"{condition.split(':')[0]} {entry.details.get('state', '')}"))
    return _clip(" · ".join(parts), 280)


def build_home_view(data: HomeData) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [
        _header(f"Upstox static IPs — {_clip(data.account, 100)}"),
        _ips_section(data),
        _section(f"{_window_text(data)}\n{_token_text(data.token)}"),
    ]
    if data.alerts:
        names = ", ".join(sorted({a.split(":")[0].replace("_", " ") for a in data.alerts}))
        blocks.append(_section(f":warning: *Active alerts:* {_escape(names)}"))
    blocks.append(_actions(data))
    blocks.append(_context(f"Updated {format_ist(data.now)}"))
    blocks.append({"type": "divider"})

    blocks.append(_header("Open requests"))
    shown = data.open_requests[:MAX_REQUESTS]
    if not shown:
        blocks.append(_section("_No open requests._"))
    blocks.extend(_request_block(item, data.now) for item in shown)
    if len(data.open_requests) > MAX_REQUESTS:
        more = len(data.open_requests) - MAX_REQUESTS
        blocks.append(_context(f"and {more} more: `/staticip status`"))
    blocks.append({"type": "divider"})

    blocks.append(_header("Recent activity"))
    entries = data.audit[:MAX_AUDIT]
    if entries:
        blocks.append(_section("\n".join(_audit_line(e) for e in entries)))
    else:
        blocks.append(_section("_Nothing yet._"))
    blocks.append(_context("Full history: `/staticip history`"))
    return {"type": "home", "blocks": blocks}


def notice_view(
    title: str, text: str, blocks: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """A small modal for answering a click in the Home (it has no channel to answer in)."""
    body = blocks or [_section(text[:_SECTION_TEXT])]
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": title[:24]},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": body,
    }
