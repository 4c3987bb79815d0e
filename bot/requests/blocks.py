"""The requests' Block Kit, all pure: the approval card (a `CardView` to fallback text and
blocks), the `/staticip history` page, and the change-request form with the result it
turns into (the listeners in `bot.requests.listeners` open it and handle its submission).

Card buttons carry only the request id; the verb is the action_id and everything else is
checked on the server when a click arrives.
"""

from __future__ import annotations

from typing import Any

from bot.ist import format_ist
from bot.requests.cards import CardView
from bot.requests.service import MAX_REASON
from bot.slack import blocks as bk
from bot.slack.mrkdwn import code as inline_code
from bot.slack.mrkdwn import escape, mention
from bot.store.models import AuditEntry, AuditPage, ChangeRequest
from bot.store.request_states import RequestState
from bot.week_window import next_allowed_after

S = RequestState
Block = dict[str, Any]
View = dict[str, Any]

APPROVE_ACTION = "request_approve"
REJECT_ACTION = "request_reject"
DECISION_BLOCK = "decision"

_STATE_LABEL = {
    S.PENDING: "waiting for approval",
    S.APPROVED: "approved — applying",
    S.APPLYING: "applying",
    S.APPLIED: "applied",
    S.FAILED: "failed",
    S.REJECTED: "rejected",
    S.CANCELLED: "cancelled",
    S.EXPIRED: "expired",
}


def code(ip: str | None) -> str:
    return inline_code(ip) if ip else "_none_"


def _status(request: ChangeRequest, view: CardView) -> str:
    by = mention(request.decided_by) if request.decided_by else "someone"
    at = format_ist(request.decided_at) if request.decided_at else ""
    state = request.state
    if state is S.PENDING:
        return (
            f":hourglass_flowing_sand: *Waiting for an approver.* Expires "
            f"{format_ist(request.expires_at)}."
        )
    if state in (S.APPROVED, S.APPLYING):
        return f":gear: *Approved by {by}* at {at} — applying…"
    if state is S.APPLIED:
        applied_at = request.applied_at or request.updated_at
        return (
            f":white_check_mark: *Applied* at {format_ist(applied_at)} — approved by {by} at "
            f"{at}. Every Upstox session was logged out; someone must log in again "
            "(`/staticip login`). The next change is possible from "
            f"{format_ist(next_allowed_after(applied_at))}."
        )
    if state is S.FAILED:
        reason = escape(request.failure_reason or "no reason recorded")
        return f":x: *Failed* — approved by {by} at {at}, then: {reason}"
    if state is S.REJECTED:
        return f":no_entry_sign: *Rejected* by {by} at {at}. Nothing was changed."
    if state is S.CANCELLED:
        return f":wastebasket: *Cancelled* by {by} at {at}. Nothing was changed."
    return (
        f":alarm_clock: *Expired* at {format_ist(request.expires_at)} without a decision. "
        "Nothing was changed."
    )


def _buttons(request: ChangeRequest) -> bk.ActionsBlock:
    sure = bk.confirm(
        "Change the static IPs now?",
        f"Primary {code(request.proposed_primary)}, secondary "
        f"{code(request.proposed_secondary)}. This uses this week's only change and logs "
        "out every Upstox session.",
        yes="Approve",
        no="Back",
    )
    return bk.actions(
        bk.button("Approve", APPROVE_ACTION, value=request.id, style="primary", confirm=sure),
        bk.button("Reject", REJECT_ACTION, value=request.id, style="danger"),
        block_id=DECISION_BLOCK,
    )


def quoted_plain(text: str) -> dict[str, Any]:
    """Someone's own words as one quoted paragraph of plain text: a rich-text text element
    is shown as written (no *bold*, no links, no mentions), and with every run of
    whitespace (newlines too) made one space it cannot look like lines of the card."""
    paragraph = " ".join(text.split()) or "—"
    return {
        "type": "rich_text",
        "elements": [
            {"type": "rich_text_quote", "elements": [{"type": "text", "text": paragraph}]}
        ],
    }


def request_card(view: CardView) -> tuple[str, list[Block]]:
    request = view.request
    kept = (
        request.proposed_secondary is not None
        and request.proposed_secondary == request.current_secondary
    )
    proposed_secondary = code(request.proposed_secondary) + (" _(kept)_" if kept else "")
    blocks: list[bk.Part] = [
        bk.header(f"Static IP change request {request.id}"),
        bk.section(
            f"{mention(request.requester_id)} asks to change the static IPs registered with "
            "Upstox. *Reason:*"
        ),
        quoted_plain(request.reason),
        bk.fields(
            f"*Current primary*\n{code(request.current_primary)}",
            f"*Proposed primary*\n{code(request.proposed_primary)}",
            f"*Current secondary*\n{code(request.current_secondary)}",
            f"*Proposed secondary*\n{proposed_secondary}",
        ),
    ]
    if request.state is S.PENDING:
        warnings = [
            ":warning: This uses the change for this week — the next one is possible from "
            f"{format_ist(next_allowed_after(view.now))} (if approved now).",
            ":warning: Every Upstox session will be logged out; someone must log in again.",
        ]
        if any(":" in (ip or "") for ip in (request.proposed_primary, request.proposed_secondary)):
            warnings.append(
                ":information_source: IPv6: make sure the trading host really reaches Upstox "
                "over IPv6."
            )
        blocks.append(bk.context(*warnings))
    blocks.append(bk.section(_status(request, view)))
    if view.note:
        # A note may quote Upstox (an error message): nothing in it may become a link.
        blocks.append(bk.context(escape(view.note)))
    if request.state is S.PENDING:
        blocks.append(_buttons(request))
    text = (
        f"IP change request {request.id} by {mention(request.requester_id)}: primary "
        f"{request.current_primary or 'none'} → {request.proposed_primary} "
        f"({_STATE_LABEL[request.state]})"
    )
    return bk.text_and_blocks(text, blocks)


def requester_confirmation(request: ChangeRequest, permalink: str | None) -> str:
    """The ephemeral answer to the requester once the card is up."""
    where = (
        f"<{permalink}|the approval card>"
        if permalink
        else f"the approval card in <#{request.card_channel}>"
        if request.card_channel
        else "the approvals channel"
    )
    return (
        f"Request `{request.id}` is posted for approval: {where}. An approver (not you) must "
        f"approve it before {format_ist(request.expires_at)}. Withdraw it with "
        f"`/staticip cancel {request.id}`."
    )


# -- /staticip history ----------------------------------------------------------------

_ICONS = {
    "requested": ":memo:",
    "approved": ":white_check_mark:",
    "rejected": ":no_entry_sign:",
    "cancelled": ":wastebasket:",
    "expired": ":alarm_clock:",
    "applying": ":gear:",
    "applied": ":large_green_circle:",
    "corrected": ":large_green_circle:",
    "failed": ":x:",
    "reconciled": ":mag:",
    "logged_in": ":key:",
    "token_invalidated": ":lock:",
    "token_requested": ":iphone:",
    "alert": ":rotating_light:",
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
    if event in ("applying", "applied"):
        return _ips(d)
    if event == "failed":
        return escape(_short(d.get("reason", "")))
    if event == "corrected":
        return f"recorded failed, but Upstox answered the change: applied ({_ips(d)})"
    if event == "reconciled":
        outcome = escape(str(d.get("outcome", "?")))
        ips = _ips(d)
        return f"read back: {outcome}" + (f" ({ips})" if ips else "")
    if event == "logged_in":
        return f"via {escape(str(d.get('via', '?')))}"
    if event == "token_invalidated":
        return escape(_short(d.get("reason", "")))
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
    blocks: list[bk.Block] = [bk.header(title)]
    if not page.entries:
        blocks.append(bk.section("_Nothing yet._"))
    blocks.extend(bk.section(history_line(entry)) for entry in page.entries)
    if page.has_next:
        blocks.append(bk.context(f"Older events: `/staticip history {page.page + 1}`"))
    return bk.text_and_blocks(title, blocks)


# -- the change-request form ------------------------------------------------------------

CALLBACK_ID = "staticip_set"
FIELDS = ("primary", "secondary", "reason")
_ACTION = "value"


def change_request_modal() -> View:
    blocks = [
        bk.context(
            ":warning: Upstox allows one change per calendar week, and a change logs out "
            "every Upstox session. An approver decides in the approvals channel."
        ),
        bk.text_input(
            "primary",
            "New primary IP",
            action_id=_ACTION,
            optional=False,
            hint="The public IP your trading host uses, e.g. 8.8.8.8",
            placeholder="8.8.8.8",
            max_length=64,
        ),
        bk.text_input(
            "secondary",
            "New secondary IP (optional)",
            action_id=_ACTION,
            optional=True,
            hint="Leave empty to keep the registered secondary",
            max_length=64,
        ),
        bk.text_input(
            "reason",
            "Reason",
            action_id=_ACTION,
            optional=False,
            hint="Why the IPs must change; the approver sees this",
            multiline=True,
            max_length=MAX_REASON,
        ),
    ]
    return bk.view(
        "modal",
        blocks,
        title="Change static IPs",
        submit="Request",
        close="Cancel",
        callback_id=CALLBACK_ID,
    )


def result_modal(text: str) -> View:
    return bk.view(
        "modal",
        [bk.section(text)],
        title="Change static IPs",
        close="Close",
        callback_id=f"{CALLBACK_ID}_result",
    )


def submitted_values(view: View) -> dict[str, str]:
    values = (view.get("state") or {}).get("values") or {}
    found = {}
    for field in FIELDS:
        value = (values.get(field) or {}).get(_ACTION) or {}
        found[field] = str(value.get("value") or "")
    return found
