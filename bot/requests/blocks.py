"""The requests' Block Kit, all pure: the approval card (a `CardView` to fallback text and
blocks), the `/staticip history` page, and the change-request form with the result it
turns into (the listeners in `bot.requests.listeners` open it and handle its submission).

Card buttons carry only the request id; the verb is the action_id and everything else is
checked on the server when a click arrives. The history's Older button carries a cursor
(`HistoryCursor`), checked the same way.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.ips import same_ip
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


def _buttons(request: ChangeRequest, view: CardView) -> bk.ActionsBlock:
    when = f"Applied at {format_ist(request.scheduled_at)}. " if request.scheduled_at else ""
    # The confirm dialog repeats the card's trading-hours warning.
    market = f":red_circle: *Trading hours: {MARKET_WARNING}.* " if view.market_open else ""
    sure = bk.confirm(
        "Schedule the change?"
        if request.scheduled_at is not None
        else "Change the static IPs now?",
        f"{market}{when}Primary {code(request.proposed_primary)}, secondary "
        f"{code(request.proposed_secondary)}. This uses this week's only change and logs "
        "out every Upstox session.",
        yes="Approve",
        no="Back",
    )
    buttons = [
        bk.button("Approve", APPROVE_ACTION, value=request.id, style="primary", confirm=sure),
        bk.button("Reject", REJECT_ACTION, value=request.id, style="danger"),
    ]
    if view.market_open and view.after_close_at is not None:
        later = bk.confirm(
            "Change the IPs after the close?",
            f"The change is applied at {format_ist(view.after_close_at)}, after the same "
            "re-check. It uses this week's only change and logs out every Upstox session then.",
            yes="Schedule",
            no="Back",
        )
        buttons.append(
            bk.button(
                "Approve for after close",
                APPROVE_AFTER_CLOSE_ACTION,
                value=request.id,
                confirm=later,
            )
        )
    return bk.actions(*buttons, block_id=DECISION_BLOCK)


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
        if view.market_open and request.scheduled_at is not None:
            blocks.append(
                bk.section(
                    ":red_circle: *The time asked for is inside trading hours: applying then "
                    "logs the trading system out during market hours.*"
                )
            )
        elif view.market_open:
            blocks.append(
                bk.section(
                    f":red_circle: *Trading hours: {MARKET_WARNING}.* Approve applies it now; "
                    "*Approve for after close* applies it at "
                    f"{format_ist(view.after_close_at) if view.after_close_at else 'the close'}."
                )
            )
        host = _host_line(request, view)
        if host is not None:
            blocks.append(bk.section(host))
    blocks.append(bk.section(_status(request, view)))
    if view.note:
        # A note may quote Upstox (an error message): nothing in it may become a link.
        blocks.append(bk.context(escape(view.note)))
    if request.state is S.PENDING:
        blocks.append(_buttons(request, view))
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
    "approval": ":ballot_box_with_check:",
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
    "week_rule_learned": ":books:",
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
    if event == "rejected" and d.get("reason"):
        return f"“{escape(_short(d.get('reason', '')))}”"
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


HISTORY_OLDER_ACTION = "history_older"
_CURSOR = re.compile(r"([a-z0-9][a-z0-9-]{0,31})?:([1-9][0-9]{0,9}):([1-9][0-9]{0,6})")


@dataclass(frozen=True)
class HistoryCursor:
    """What the Older button carries: the account's name ("" with one account unnamed),
    the id of the oldest event shown, and the number of the page it opens. A cursor, not
    a secret; it comes back in a Slack action payload, so it is read by `read_cursor`."""

    account: str
    before: int
    page: int

    def value(self) -> str:
        return f"{self.account}:{self.before}:{self.page}"


def read_cursor(value: str) -> HistoryCursor | None:
    """The cursor in an Older button's value, or None for anything the bot did not make
    (not three fields, a name that is no account name, an id or page that is not a plain
    positive number)."""
    found = _CURSOR.fullmatch(value) if len(value) <= 64 else None
    if found is None or int(found[3]) < 2:
        return None
    return HistoryCursor(account=found[1] or "", before=int(found[2]), page=int(found[3]))


def history_message(page: AuditPage, account: str | None = None) -> tuple[str, list[Block]]:
    """One page of the audit trail; `account`: the account's name, when there are several.

    An older page is one click away (the Older button, a keyset cursor: as fast on the
    last page as on the first); `/staticip history <n>` still jumps to a page number."""
    of = f" of {account}" if account else ""
    title = f"History{of} — page {page.page}, newest first"
    blocks: list[bk.Block] = [bk.header(title)]
    if not page.entries:
        blocks.append(bk.section("_Nothing yet._" if page.page == 1 else "_Nothing older._"))
    blocks.extend(bk.section(history_line(entry)) for entry in page.entries)
    if page.cursor is not None:
        older = HistoryCursor(account or "", page.cursor, page.page + 1)
        named = f"{account} " if account else ""
        blocks.append(bk.actions(bk.button("Older", HISTORY_OLDER_ACTION, value=older.value())))
        blocks.append(bk.context(f"Or type `/staticip history {named}{page.page + 1}`"))
    return bk.text_and_blocks(title, blocks)


# -- the change-request form ------------------------------------------------------------

CALLBACK_ID = "staticip_set"
FIELDS = ("primary", "secondary", "reason", "apply_at")
_ACTION = "value"


ACCOUNT_FIELD = "account"


def change_request_modal(accounts: Sequence[str] = (), selected: str | None = None) -> View:
    """The form; with several `accounts`, it starts with a required account picker."""
    picker: list[bk.Part] = []
    if len(accounts) > 1:
        picker.append(
            bk.select_input(
                ACCOUNT_FIELD, "Account", action_id=_ACTION, options=accounts, initial=selected
            )
        )
    blocks = [
        *picker,
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
        bk.text_input(
            "apply_at",
            "Apply at (IST, optional)",
            action_id=_ACTION,
            optional=True,
            hint="Leave empty to apply on approval; e.g. 2026-12-05 16:00 to schedule it",
            placeholder="2026-12-05 16:00",
            max_length=20,
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


REJECT_CALLBACK_ID = "staticip_reject"
REJECT_FIELD = "reject_reason"


def reject_modal(request_id: str, summary: str) -> View:
    """Reject with an optional reason; the request id rides in private_metadata (and is
    checked again on submission like any click)."""
    built = bk.view(
        "modal",
        [
            bk.section(summary),
            bk.text_input(
                REJECT_FIELD,
                "Reason (optional)",
                action_id=_ACTION,
                optional=True,
                hint="Shown on the card and in the history",
                multiline=True,
                max_length=MAX_REASON,
            ),
        ],
        title="Reject the change",
        submit="Reject",
        close="Back",
        callback_id=REJECT_CALLBACK_ID,
    )
    return {**built, "private_metadata": request_id}


def rejected_reason(view: View) -> str:
    values = (view.get("state") or {}).get("values") or {}
    value = (values.get(REJECT_FIELD) or {}).get(_ACTION) or {}
    return str(value.get("value") or "")


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
    picked = (values.get(ACCOUNT_FIELD) or {}).get(_ACTION) or {}
    found[ACCOUNT_FIELD] = str((picked.get("selected_option") or {}).get("value") or "")
    return found


# -- host moves: one card, a row per account ---------------------------------------------

MOVE_APPROVE_ACTION = "move_approve"
MOVE_REJECT_ACTION = "move_reject"
MOVE_DECISION_BLOCK = "move_decision"


@dataclass(frozen=True, slots=True)
class MoveRow:
    """One account of a host move: its request, or why it was left out."""

    account: str
    request: ChangeRequest | None = None
    refused: str | None = None


@dataclass(frozen=True, slots=True)
class MoveView:
    move_id: str
    requester_id: str
    reason: str
    proposed_primary: str
    proposed_secondary: str | None
    rows: tuple[MoveRow, ...]
    now: datetime
    host_check: bool = False
    host_ip: str | None = None
    market_open: bool = False

    @property
    def pending(self) -> bool:
        return any(r.request is not None and r.request.state is S.PENDING for r in self.rows)


def row_outcome(row: MoveRow) -> str:
    """Where one account of a move stands, in a few words (mrkdwn, escaped)."""
    request = row.request
    if request is None:
        return f":no_entry: *refused* — {escape(bk.clip(row.refused or 'left out', 300))}"
    state = request.state
    why = escape(bk.clip(request.failure_reason or "", 300))
    if state is S.PENDING:
        return ":hourglass: waiting for approval (its weekly window is open)"
    if state in (S.APPROVED, S.APPLYING):
        return ":arrows_counterclockwise: applying…"
    if state is S.SCHEDULED:
        at = format_ist(request.scheduled_at) if request.scheduled_at else "later"
        return f":calendar: scheduled for {at}"
    if state is S.APPLIED:
        return ":white_check_mark: *moved* — log in again"
    if state is S.FAILED:
        return f":x: *refused* — {why or 'see the thread'}"
    if state is S.CANCELLED and request.decided_by == "bot" and why:
        return f":no_entry: *refused* — {why}"
    if state is S.REJECTED:
        return ":no_entry_sign: rejected"
    if state is S.CANCELLED:
        return ":wastebasket: cancelled"
    if state is S.EXPIRED:
        return ":hourglass_flowing_sand: expired"
    return escape(state.value)


def move_card(view: MoveView) -> tuple[str, list[Block]]:
    proposed = inline_code(view.proposed_primary)
    if view.proposed_secondary:
        proposed += f" + {inline_code(view.proposed_secondary)}"
    lines = []
    for row in view.rows:
        request = row.request
        current = ""
        if request is not None:
            current = inline_code(request.current_primary or "none")
            if request.current_secondary:
                current += f" + {inline_code(request.current_secondary)}"
            current = f" {current} →"
        lines.append(f"*`{escape(row.account)}`*{current} {proposed} · {row_outcome(row)}")
    blocks: list[bk.Part] = [
        bk.header(f"Host move {view.move_id}"),
        bk.section(
            f"{mention(view.requester_id)} asks to move {len(view.rows)} accounts to {proposed}. "
            "*Reason:*"
        ),
        quoted_plain(view.reason),
        bk.section(bk.clip("\n".join(lines), 2900)),
    ]
    if view.host_check:
        ips = {view.proposed_primary, view.proposed_secondary}
        if view.host_ip is None:
            blocks.append(bk.context("This host's public IP could not be determined."))
        elif any(same_ip(view.host_ip, ip) for ip in ips if ip):
            blocks.append(
                bk.context(f"This host's public IP {inline_code(view.host_ip)} is in the proposal.")
            )
        else:
            blocks.append(
                bk.section(
                    f":rotating_light: This host's public IP {inline_code(view.host_ip)} is *not* "
                    "in the proposal: after the move, orders from this host are rejected."
                )
            )
    if view.pending and view.market_open:
        blocks.append(bk.section(f":red_circle: *Trading hours: {MARKET_WARNING}.*"))
    if view.pending:
        waiting = sum(
            1 for r in view.rows if r.request is not None and r.request.state is S.PENDING
        )
        blocks.append(
            bk.context(
                ":warning: Approving applies each waiting account in turn — each with its own "
                "re-check and one request to Upstox — uses each one's change for this week and "
                "logs each one out. An account refused never stops the others."
            )
        )
        sure = bk.confirm(
            "Move the accounts now?",
            f"{waiting} account(s) to {proposed}. Each uses this week's only change and is "
            "logged out.",
            yes="Approve",
            no="Back",
        )
        blocks.append(
            bk.actions(
                bk.button(
                    "Approve all",
                    MOVE_APPROVE_ACTION,
                    value=view.move_id,
                    style="primary",
                    confirm=sure,
                ),
                bk.button(
                    "Reject",
                    MOVE_REJECT_ACTION,
                    value=view.move_id,
                    style="danger",
                    confirm=bk.confirm(
                        "Reject the move?", "Nothing changes at Upstox.", yes="Reject", no="Back"
                    ),
                ),
                block_id=MOVE_DECISION_BLOCK,
            )
        )
    blocks.append(bk.context(f"Updated {format_ist(view.now)}"))
    moved = sum(1 for r in view.rows if r.request is not None and r.request.state is S.APPLIED)
    text = (
        f"Host move {view.move_id}: {moved} of {len(view.rows)} accounts moved to "
        f"{view.proposed_primary}"
    )
    return bk.text_and_blocks(escape(text), blocks)
