"""`/staticip history`: one page of the audit trail as blocks (pure)."""

from __future__ import annotations

from typing import Any

from bot.ist import format_ist
from bot.slack.mrkdwn import code, escape, mention
from bot.store.models import AuditEntry, AuditPage

Block = dict[str, Any]

_ICONS = {
    "requested": ":memo:",
    "approved": ":white_check_mark:",
    "approval": ":ballot_box_with_check:",
    "rejected": ":no_entry_sign:",
    "cancelled": ":wastebasket:",
    "expired": ":alarm_clock:",
    "applying": ":gear:",
    "applied": ":large_green_circle:",
    "failed": ":x:",
    "reconciled": ":mag:",
    "logged_in": ":key:",
    "token_invalidated": ":lock:",
    "token_requested": ":iphone:",
    "alert": ":rotating_light:",
    "week_rule_learned": ":books:",
}
_MAX_DETAIL = 300


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= _MAX_DETAIL else text[:_MAX_DETAIL] + "…"


def _ips(details: dict[str, Any]) -> str:
    primary = details.get("primary")
    secondary = details.get("secondary")
    parts = []
    if primary:
        parts.append(f"primary {code(str(primary))}")
    if secondary:
        parts.append(f"secondary {code(str(secondary))}")
    return ", ".join(parts)


def _detail(entry: AuditEntry) -> str:
    d = entry.details
    event = entry.event
    if event == "requested":
        reason = escape(_short(d.get("reason", "")))
        return f"{_ips(d)} — “{reason}”" if reason else _ips(d)
    if event == "rejected" and d.get("reason"):
        return f"“{escape(_short(d.get('reason', '')))}”"
    if event in ("applying", "applied"):
        return _ips(d)
    if event == "failed":
        return escape(_short(d.get("reason", "")))
    if event == "reconciled":
        outcome = escape(str(d.get("outcome", "?")))
        ips = _ips(d)
        return f"read back: {outcome}" + (f" ({ips})" if ips else "")
    if event == "logged_in":
        return f"via {escape(str(d.get('via', '?')))}"
    if event == "token_invalidated":
        return escape(_short(d.get("reason", "")))
    if event == "approval":
        return escape(f"{d.get('count', '?')} of {d.get('required', '?')} approvals")
    if event == "week_rule_learned":
        gap = d.get("gap_seconds")
        days = f"{int(gap) / 86400:.1f} days" if isinstance(gap, int) else "?"
        return escape(f"Upstox refused a change {days} after the last one (UDAPI1185)")
    if event == "alert":
        return escape(f"{d.get('condition', '?')} {d.get('state', '')}".strip())
    return ""


def history_line(entry: AuditEntry) -> str:
    icon = _ICONS.get(entry.event, ":small_blue_diamond:")
    request = f" {code(entry.request_id)}" if entry.request_id else ""
    actor = mention(entry.actor) if entry.actor not in ("bot", "upstox") else entry.actor
    detail = _detail(entry)
    line = f"{icon} *{escape(entry.event.replace('_', ' '))}*{request} by {actor}"
    if detail:
        line += f" — {detail}"
    return f"{line}\n_{format_ist(entry.at)}_"


def history_message(page: AuditPage) -> tuple[str, list[Block]]:
    title = f"History — page {page.page} of {page.pages} ({page.total} events, newest first)"
    blocks: list[Block] = [{"type": "header", "text": {"type": "plain_text", "text": title}}]
    if not page.entries:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "_Nothing yet._"}})
    for entry in page.entries:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": history_line(entry)}})
    if page.has_next:
        blocks.append(
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"Older events: `/staticip history {page.page + 1}`",
                    }
                ],
            }
        )
    return title, blocks
