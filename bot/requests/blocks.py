"""The approval card: a pure function from a `CardView` to (fallback text, blocks).

Buttons carry only the request id; the verb is the action_id and everything else is
checked on the server when a click arrives.
"""

from __future__ import annotations

from typing import Any

from bot.ips import same_ip
from bot.ist import format_ist
from bot.requests.cards import CardView
from bot.slack.mrkdwn import code as inline_code
from bot.slack.mrkdwn import escape, mention
from bot.store.models import ChangeRequest
from bot.store.request_states import RequestState
from bot.week_window import next_allowed_after

S = RequestState
Block = dict[str, Any]

APPROVE_ACTION = "request_approve"
APPROVE_AFTER_CLOSE_ACTION = "request_approve_after_close"
MARKET_WARNING = "applying now logs the trading system out during market hours"
REJECT_ACTION = "request_reject"
DECISION_BLOCK = "decision"

_STATE_LABEL = {
    S.PENDING: "waiting for approval",
    S.SCHEDULED: "scheduled",
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


def _mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


def _section(text: str) -> Block:
    return {"type": "section", "text": _mrkdwn(text)}


def _context(*lines: str) -> Block:
    return {"type": "context", "elements": [_mrkdwn(line) for line in lines]}


def _people(users: tuple[str, ...]) -> str:
    names = [mention(u) for u in users]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _status(request: ChangeRequest, view: CardView) -> str:
    by = mention(request.decided_by) if request.decided_by else "someone"
    if request.state is not S.PENDING and len(view.approvers) > 1:
        by = _people(view.approvers)
    at = format_ist(request.decided_at) if request.decided_at else ""
    state = request.state
    if state is S.PENDING and view.approvals_required > 1:
        so_far = f" Approved so far by {_people(view.approvers)}." if view.approvers else ""
        return (
            f":hourglass_flowing_sand: *Waiting for approvals: {len(view.approvers)} of "
            f"{view.approvals_required}* (distinct approvers, not the requester).{so_far} "
            f"Expires {format_ist(request.expires_at)}."
        )
    if state is S.PENDING and request.scheduled_at is not None:
        return (
            f":hourglass_flowing_sand: *Waiting for an approver.* Asked for "
            f"{format_ist(request.scheduled_at)}: approving schedules the change for then. "
            f"Expires {format_ist(request.expires_at)}."
        )
    if state is S.PENDING:
        return (
            f":hourglass_flowing_sand: *Waiting for an approver.* Expires "
            f"{format_ist(request.expires_at)}."
        )
    if state is S.SCHEDULED:
        when = format_ist(request.scheduled_at) if request.scheduled_at else "later"
        return (
            f":calendar: *Scheduled for {when}* — approved by {by} at {at} for after the "
            f"close. Until then `/staticip cancel {request.id}` withdraws it."
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
        why = f" Reason given: {escape(request.failure_reason)}" if request.failure_reason else ""
        return f":no_entry_sign: *Rejected* by {by} at {at}. Nothing was changed.{why}"
    if state is S.CANCELLED:
        return f":wastebasket: *Cancelled* by {by} at {at}. Nothing was changed."
    return (
        f":alarm_clock: *Expired* at {format_ist(request.expires_at)} without a decision. "
        "Nothing was changed."
    )


def _buttons(request: ChangeRequest, view: CardView) -> Block:
    when = f"Applied at {format_ist(request.scheduled_at)}. " if request.scheduled_at else ""
    # The confirm dialog repeats the card's trading-hours warning.
    market = f":red_circle: *Trading hours: {MARKET_WARNING}.* " if view.market_open else ""
    after_close: list[Block] = []
    if view.market_open and view.after_close_at is not None:
        after_close = [
            {
                "type": "button",
                "action_id": APPROVE_AFTER_CLOSE_ACTION,
                "text": {"type": "plain_text", "text": "Approve for after close"},
                "value": request.id,
                "confirm": {
                    "title": {"type": "plain_text", "text": "Change the IPs after the close?"},
                    "text": _mrkdwn(
                        f"The change is applied at {format_ist(view.after_close_at)}, after "
                        "the same re-check. It uses this week's only change and logs out "
                        "every Upstox session then."
                    ),
                    "confirm": {"type": "plain_text", "text": "Schedule"},
                    "deny": {"type": "plain_text", "text": "Back"},
                },
            }
        ]
    return {
        "type": "actions",
        "block_id": DECISION_BLOCK,
        "elements": [
            {
                "type": "button",
                "action_id": APPROVE_ACTION,
                "text": {"type": "plain_text", "text": "Approve"},
                "style": "primary",
                "value": request.id,
                "confirm": {
                    "title": {
                        "type": "plain_text",
                        "text": "Schedule the change?"
                        if request.scheduled_at is not None
                        else "Change the static IPs now?",
                    },
                    "text": _mrkdwn(
                        f"{market}{when}Primary {code(request.proposed_primary)}, secondary "
                        f"{code(request.proposed_secondary)}. This uses this week's only "
                        "change and logs out every Upstox session."
                    ),
                    "confirm": {"type": "plain_text", "text": "Approve"},
                    "deny": {"type": "plain_text", "text": "Back"},
                },
            },
            {
                "type": "button",
                "action_id": REJECT_ACTION,
                "text": {"type": "plain_text", "text": "Reject"},
                "style": "danger",
                "value": request.id,
            },
            *after_close,
        ],
    }


def _host_line(request: ChangeRequest, view: CardView) -> str | None:
    """Is this host's public IP (PUBLIC_IP_URL) among the proposed IPs?"""
    if not view.host_check:
        return None
    if view.host_ip is None:
        return (
            ":grey_question: This host's public IP could not be determined (`PUBLIC_IP_URL` "
            "did not answer), so the card cannot say whether it is in the proposal."
        )
    ip = inline_code(view.host_ip)
    proposed = (request.proposed_primary, request.proposed_secondary)
    if any(same_ip(view.host_ip, p) for p in proposed):
        return f":white_check_mark: This host's public IP {ip} is among the proposed IPs."
    return (
        f":rotating_light: *This host's public IP {ip} is not among the proposed IPs: after "
        "this change, orders from this host will be rejected.*"
    )


def request_card(view: CardView) -> tuple[str, list[Block]]:
    request = view.request
    kept = (
        request.proposed_secondary is not None
        and request.proposed_secondary == request.current_secondary
    )
    proposed_secondary = code(request.proposed_secondary) + (" _(kept)_" if kept else "")
    blocks: list[Block] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": f"Static IP change request {request.id}"},
        },
        _section(
            f"{mention(request.requester_id)} asks to change the static IPs registered with "
            f"Upstox.\n*Reason:* {escape(request.reason)}"
        ),
        {
            "type": "section",
            "fields": [
                _mrkdwn(f"*Current primary*\n{code(request.current_primary)}"),
                _mrkdwn(f"*Proposed primary*\n{code(request.proposed_primary)}"),
                _mrkdwn(f"*Current secondary*\n{code(request.current_secondary)}"),
                _mrkdwn(f"*Proposed secondary*\n{proposed_secondary}"),
            ],
        },
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
        blocks.append(_context(*warnings))
        if view.market_open and request.scheduled_at is not None:
            blocks.append(
                _section(
                    ":red_circle: *The time asked for is inside trading hours: applying then "
                    "logs the trading system out during market hours.*"
                )
            )
        elif view.market_open:
            blocks.append(
                _section(
                    f":red_circle: *Trading hours: {MARKET_WARNING}.* Approve applies it now; "
                    "*Approve for after close* applies it at "
                    f"{format_ist(view.after_close_at) if view.after_close_at else 'the close'}."
                )
            )
        host = _host_line(request, view)
        if host is not None:
            blocks.append(_section(host))
    blocks.append(_section(_status(request, view)))
    if view.note:
        blocks.append(_context(view.note))
    if request.state is S.PENDING:
        blocks.append(_buttons(request, view))
    text = (
        f"IP change request {request.id} by {mention(request.requester_id)}: primary "
        f"{request.current_primary or 'none'} → {request.proposed_primary} "
        f"({_STATE_LABEL[request.state]})"
    )
    return text, blocks


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
