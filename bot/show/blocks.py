"""The `/staticip show` and `/staticip status` answers: Block Kit plus a text fallback.

Pure functions from the service's overview objects to `{"text": …, "blocks": […]}`.
Everything that comes from outside (IPs and messages from Upstox, request reasons) is
escaped; times are IST with date and weekday.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.ist import format_ist
from bot.login.tokens import TokenStatus
from bot.show.service import HostIp, ShowFailure, ShowOverview, StatusOverview
from bot.slack import blocks as bk
from bot.slack.mrkdwn import channel_link, code, escape, mention
from bot.store.models import ChangeRequest
from bot.upstox_messages import LOGIN_HINT
from bot.week_window import RULE_NOTE, ChangeWindow, LearnedRule

Payload = dict[str, Any]

MAX_REQUESTS_SHOWN = 10
_REASON_CHARS = 150
_SECTION_BUDGET = 2900  # Slack's section text limit is 3000; keep room for the last line


def show_message(view: ShowOverview) -> Payload:
    ips = view.ips
    primary = _slot_text(
        "Primary", ips.primary_ip, ips.primary_ip_updated_at, ips.primary_ip_updated_at_raw
    )
    secondary = _slot_text(
        "Secondary", ips.secondary_ip, ips.secondary_ip_updated_at, ips.secondary_ip_updated_at_raw
    )
    window = window_text(view.window)
    blocks: list[bk.Block] = [
        bk.header("Static IPs registered with Upstox"),
        bk.fields(primary, secondary),
        bk.section(window),
        bk.context(rule_text(view.window)),
    ]
    host = host_text(view.host)
    if host is not None:
        blocks.append(bk.section(host))
    if view.open_requests:
        blocks.append(bk.section(_open_requests_hint(view.open_requests)))
    blocks.append(bk.context(f"As of {format_ist(view.now)}. Times are IST."))
    fallback = (
        f"Primary {_plain_ip(ips.primary_ip)}, secondary {_plain_ip(ips.secondary_ip)}. "
        f"{_plain_window(view.window)}"
    )
    return bk.message(escape(fallback), blocks)


class ShowAnswers:
    """`show_message`, reusing the last answer for an equal overview.

    A burst of `/staticip show` shares one Upstox read, so its overviews are the same to the
    minute shown; building and checking the Block Kit once instead of fifty times was about
    a third of each command's CPU. Only an overview equal in everything the answer shows
    (IPs, window, host, open requests and the minute of "As of") reuses it. The payload is
    shared: callers pass it on, never change it.
    """

    def __init__(self) -> None:
        self._last: tuple[tuple[object, ...], Payload] | None = None

    def render(self, view: ShowOverview) -> Payload:
        key = (view.ips, view.window, view.host, view.open_requests, format_ist(view.now))
        last = self._last
        if last is not None and last[0] == key:
            return last[1]
        payload = show_message(view)
        self._last = (key, payload)
        return payload


def show_failure_message(failure: ShowFailure) -> Payload:
    text = escape(failure.message)
    return bk.message(text, [bk.section(f":warning: {text}")])


def status_message(view: StatusOverview) -> Payload:
    token = view.token
    session = f"*Upstox session:* {escape(token.describe())}"
    if token.obtained_at is not None and token.health != "missing":
        via = f" via {token.obtained_via.value}" if token.obtained_via is not None else ""
        session += f"\nLogged in {format_ist(token.obtained_at)}{via}."
    if token.health != "valid":
        session += f"\n{LOGIN_HINT}"
    last_call = (
        format_ist(view.last_success_at)
        if view.last_success_at is not None
        else "none since the bot started"
    )
    blocks: list[bk.Block] = [
        bk.header("Static IP bot status"),
        bk.section(session),
        bk.section(f"*Last successful Upstox call:* {last_call}"),
        *[bk.section(escape(d.describe())) for d in view.deliveries],
        bk.section(_requests_text(view.open_requests)),
        bk.section(_people_text(view)),
        bk.context(f"As of {format_ist(view.now)}. Times are IST."),
    ]
    fallback = (
        f"Upstox session: {token.describe()}. Last successful Upstox call: {last_call}. "
        f"Open change requests: {len(view.open_requests)}."
    )
    return bk.message(escape(fallback), blocks)


# -- pieces --------------------------------------------------------------------------


def window_text(window: ChangeWindow) -> str:
    last = _when(window.last_change_at)
    if window.allowed:
        if last is None:
            return "*A change is allowed now.* Upstox reports no earlier change."
        return f"*A change is allowed now.* The last change was {last}."
    next_at = _when(window.next_allowed_at)
    if next_at is None:
        return (
            "*A change is probably not allowed now*: the last change time Upstox reports "
            "is far in the future, so the bot cannot say when the next one is allowed."
        )
    return (
        f"*Next change allowed from {next_at}* (last change {last or 'unknown'}). "
        "A change before then is likely to be refused by Upstox."
    )


def rule_text(window: ChangeWindow) -> str:
    """Which rule the estimate comes from, and what Upstox taught the bot if anything."""
    learned: LearnedRule | None = window.learned
    opens = _when(window.calendar_opens_at)
    calendar = (
        f"the calendar week opens {opens}"
        if opens is not None
        else "a new calendar week opens every Monday 00:00 IST"
    )
    if learned is None:
        return f"*Rule: calendar week* — {calendar}. The week rule is a guess: {RULE_NOTE}"
    lesson = escape(learned.describe())
    if window.rule == "learned":
        return (
            f"*Rule: learned from Upstox* — {calendar}, but {lesson}. "
            "Upstox's UDAPI1185 stays the final word."
        )
    return f"*Rule: calendar week* — {calendar}; {lesson}. Upstox's UDAPI1185 stays the final word."


def host_text(host: HostIp) -> str | None:
    if host.match == "not_configured":
        return None
    if host.match == "unknown" or host.ip is None:
        return "This host's public IP could not be determined (`PUBLIC_IP_URL` did not answer)."
    ip = code(host.ip)
    if host.match in ("primary", "secondary"):
        return f":white_check_mark: This host's public IP {ip} is registered ({host.match})."
    return (
        f":warning: This host's public IP {ip} is *not* registered: orders sent from this "
        "host will be rejected."
    )


def _slot_text(label: str, ip: str | None, changed: datetime | None, raw: str | None) -> str:
    if not ip:
        return f"*{label}*\nnot set"
    when = _when(changed)
    if when is not None:
        changed_line = f"changed {when}"
    elif raw:
        changed_line = f"changed {code(raw[:60])} (as Upstox sent it)"
    else:
        changed_line = "change time not reported"
    return f"*{label}*\n{code(ip[:100])}\n{changed_line}"


def _plain_ip(ip: str | None) -> str:
    return ip[:100] if ip else "not set"


def _plain_window(window: ChangeWindow) -> str:
    if window.allowed:
        return "A change is allowed now."
    next_at = _when(window.next_allowed_at)
    return f"Next change allowed from {next_at}." if next_at else "No change allowed now."


def _open_requests_hint(requests: tuple[ChangeRequest, ...]) -> str:
    first = requests[0]
    more = f" (and {len(requests) - 1} more)" if len(requests) > 1 else ""
    return (
        f"Open change request {code(first.id)} ({first.state.value}){more}: see `/staticip status`."
    )


def _requests_text(requests: tuple[ChangeRequest, ...]) -> str:
    if not requests:
        return "*Open change requests:* none"
    lines = ["*Open change requests:*"]
    shown = 0
    for request in requests[:MAX_REQUESTS_SHOWN]:
        secondary = code(request.proposed_secondary) if request.proposed_secondary else "not set"
        reason = request.reason.strip().replace("\n", " ")
        if len(reason) > _REASON_CHARS:
            reason = reason[: _REASON_CHARS - 1] + "…"
        line = (
            f"• {code(request.id)} *{request.state.value}*, by {mention(request.requester_id)}: "
            f"primary {code(request.proposed_primary)}, secondary {secondary}"
        )
        if request.state.value == "pending":
            line += f"; expires {format_ist(request.expires_at)}"
        if reason:
            line += f" — “{escape(reason)}”"
        if sum(len(x) + 1 for x in lines) + len(line) > _SECTION_BUDGET:
            break
        lines.append(line)
        shown += 1
    hidden = len(requests) - shown
    if hidden > 0:
        lines.append(f"…and {hidden} more.")
    return "\n".join(lines)


def _people_text(view: StatusOverview) -> str:
    approvers = ", ".join(mention(a) for a in view.approvers) or "none configured"
    requesters = (
        ", ".join(mention(r) for r in view.requesters)
        if view.requesters
        else "anyone in the workspace"
    )
    return (
        f"*Approval channel:* {channel_link(view.approval_channel)}\n"
        f"*Approvers:* {approvers}\n"
        f"*Who may request a change:* {requesters}"
    )


def _when(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    try:
        return format_ist(moment)
    except (OverflowError, ValueError):  # a garbage timestamp near year 9999
        return None


# -- several accounts: one compact line each --------------------------------------------


def accounts_summary_message(
    rows: list[tuple[str, ShowOverview | ShowFailure, TokenStatus]], now: datetime
) -> Payload:
    """`/staticip show` naming no account, with several: a line per account (IPs, next
    change, token state), and how to see one in full."""
    lines = []
    plain = []
    for name, result, token in rows:
        icon = ":large_green_circle:" if token.health == "valid" else ":red_circle:"
        login = f"{icon} {escape(token.describe())}"
        if isinstance(result, ShowOverview):
            primary, secondary = result.ips.primary_ip, result.ips.secondary_ip
            ips = f"{code(_plain_ip(primary))} / {code(_plain_ip(secondary))}"
            window = escape(_plain_window(result.window))
            mark = ""
            if result.host.match == "not_registered":
                mark = " · :warning: this host is not registered"
            elif result.host.match in ("primary", "secondary"):
                mark = " · this host registered"
            lines.append(f"*`{escape(name)}`* — {ips} · {window} · {login}{mark}")
            plain.append(f"{name}: {_plain_ip(result.ips.primary_ip)}")
        else:
            lines.append(f"*`{escape(name)}`* — :warning: {escape(result.message)} · {login}")
            plain.append(f"{name}: {result.message}")
    blocks: list[bk.Block] = [
        bk.header("Static IPs registered with Upstox"),
        bk.section(bk.clip("\n".join(lines), _SECTION_BUDGET)),
        bk.context(
            f"As of {format_ist(now)}. Times are IST. One account in full: "
            "`/staticip show <account>`."
        ),
    ]
    return bk.message(escape("; ".join(plain)), blocks)


def accounts_status_message(rows: list[tuple[str, StatusOverview]], now: datetime) -> Payload:
    """`/staticip status` naming no account, with several: a line per account."""
    lines = []
    for name, view in rows:
        icon = ":large_green_circle:" if view.token.health == "valid" else ":red_circle:"
        waiting = len(view.open_requests)
        requests = (
            f"{waiting} open request{'s' if waiting != 1 else ''}" if waiting else "no open request"
        )
        lines.append(
            f"*`{escape(name)}`* — {icon} {escape(view.token.describe())} · {requests} · "
            f"approvals in {channel_link(view.approval_channel)}"
        )
    blocks: list[bk.Block] = [
        bk.header("staticip status"),
        bk.section(bk.clip("\n".join(lines), _SECTION_BUDGET)),
        bk.context(f"As of {format_ist(now)}. One account in full: `/staticip status <account>`."),
    ]
    return bk.message("staticip status of every account", blocks)
