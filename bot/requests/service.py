"""Change requests: ask, decide (approve/reject), cancel, expire.

Every decision is one conditional UPDATE in the database (`db.requests.transition`), so
of any number of clicks, Slack retries or replicas exactly one wins; the losers are told
who won and when. Applying the approved change lives in `bot.requests.apply`.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from bot import metrics
from bot.config import Settings
from bot.errors import UserFacingError
from bot.ist import Clock, format_ist
from bot.login.gateway import UpstoxGateway
from bot.login.service import LoginResult
from bot.login.tokens import NotLoggedIn, TokenService
from bot.requests.apply import ChangeApplier
from bot.requests.cards import RequestCards
from bot.requests.ip_rules import InvalidIp, parse_ip, validate_proposal
from bot.requests.schedule import ScheduledChanges
from bot.show.week_rule import WeekRule
from bot.slack.audience import SlackAudience
from bot.slack.channel import SlackChannel
from bot.slack.mrkdwn import escape
from bot.store.database import Database
from bot.store.errors import RequestAlreadyOpen
from bot.store.models import AuditEvent, AuditPage, ChangeRequest, NewAuditEvent
from bot.store.request_states import RequestState
from bot.upstox import StaticIps, UpstoxError
from bot.upstox_messages import describe_upstox_error

log = logging.getLogger(__name__)

S = RequestState
MAX_REASON = 500
# How long after a change its thread still hears of the first login (the desk logs in again
# within hours; a login days later is not news about that change).
LOGIN_FOLLOW_UP_WINDOW = timedelta(days=2)
HISTORY_PAGE_SIZE = 10
HISTORY_AGAIN = "Use `/staticip history` to start again."
_REQUEST_ID = re.compile(r"^r-[a-z0-9]{4,30}$")


class Verb(StrEnum):
    APPROVE = "approve"
    APPROVE_AFTER_CLOSE = "approve for after the close"
    REJECT = "reject"


APPROVING = (Verb.APPROVE, Verb.APPROVE_AFTER_CLOSE)


class InvalidFields(UserFacingError):
    """Refusals tied to form fields (`primary`, `secondary`, `reason`), for modal errors."""

    code = "invalid_fields"

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("\n".join(errors.values()))
        self.errors = errors


class RequestOpen(UserFacingError):
    code = "request_already_open"

    def __init__(self, existing_id: str | None) -> None:
        shown = f" (`{existing_id}`)" if existing_id else ""
        super().__init__(
            f"There is already an open change request{shown}. It must be decided, cancelled "
            "or expire before a new one can be made."
        )


class UnknownRequest(UserFacingError):
    code = "unknown_request"


class NotAllowed(UserFacingError):
    code = "not_allowed"


class AlreadyDecided(UserFacingError):
    code = "already_decided"


class WindowClosed(UserFacingError):
    code = "window_closed"


@dataclass(frozen=True, slots=True)
class CheckedFields:
    primary: str
    secondary: str | None
    reason: str


def check_fields(
    primary: str | None, secondary: str | None, reason: str | None, *, allow_non_public: bool
) -> CheckedFields:
    """Everything that can be told from the input alone; all problems at once, per field."""
    errors: dict[str, str] = {}
    new_primary = new_secondary = None
    if not (primary or "").strip():
        errors["primary"] = "Give the new primary IP."
    else:
        try:
            new_primary = parse_ip(
                (primary or "").strip(), allow_non_public=allow_non_public, label="Primary IP"
            )
        except InvalidIp as error:
            errors["primary"] = error.user_message
    if (secondary or "").strip():
        try:
            new_secondary = parse_ip(
                (secondary or "").strip(), allow_non_public=allow_non_public, label="Secondary IP"
            )
        except InvalidIp as error:
            errors["secondary"] = error.user_message
    if new_primary is not None and new_primary == new_secondary:
        errors["secondary"] = (
            f"Primary and secondary are the same IP (`{new_primary}`). Give two different "
            "IPs, or only a primary."
        )
    text = (reason or "").strip()
    if not text:
        errors["reason"] = (
            "Say why the IPs should change (a reason is required), e.g. "
            "`/staticip set 8.8.8.8 moved to the new VPS`."
        )
    elif len(text) > MAX_REASON:
        errors["reason"] = f"The reason is {len(text)} characters long; keep it under {MAX_REASON}."
    if errors:
        raise InvalidFields(errors)
    assert new_primary is not None
    return CheckedFields(new_primary, new_secondary, text)


def who(user_id: str | None) -> str:
    return f"<@{user_id}>" if user_id else "someone"


def decided_message(request: ChangeRequest) -> str:
    """What a late click or cancel is told: who decided first, and when."""
    when = format_ist(request.decided_at) if request.decided_at else "an earlier moment"
    ref = f"Request `{request.id}`"
    state = request.state
    if state is S.SCHEDULED:
        at = format_ist(request.scheduled_at) if request.scheduled_at else "a later time"
        return (
            f"{ref} was already approved by {who(request.decided_by)} at {when} for later: "
            f"it will be applied at {at} (cancel with `/staticip cancel {request.id}`)."
        )
    if state in (S.APPROVED, S.APPLYING, S.APPLIED, S.FAILED):
        text = f"{ref} was already approved by {who(request.decided_by)} at {when}."
        if state is S.APPLIED and request.applied_at is not None:
            text += f" It was applied at {format_ist(request.applied_at)}."
        elif state is S.FAILED:
            text += f" It then failed: {request.failure_reason or 'see the card'}."
        else:
            text += " It is being applied."
        return text
    if state is S.REJECTED:
        why = f" (“{escape(request.failure_reason)}”)" if request.failure_reason else ""
        return f"{ref} was already rejected by {who(request.decided_by)} at {when}{why}."
    if state is S.CANCELLED:
        return f"{ref} was already cancelled by {who(request.decided_by)} at {when}."
    if state is S.EXPIRED:
        return f"{ref} expired at {format_ist(request.expires_at)} without a decision."
    return f"{ref} is still waiting for a decision."


class ChangeRequestService:
    def __init__(
        self,
        *,
        settings: Settings,
        db: Database,
        tokens: TokenService,
        gateway: UpstoxGateway,
        approvers: SlackAudience,
        week_rule: WeekRule,
        requesters: SlackAudience,
        cards: RequestCards,
        applier: ChangeApplier,
        schedule: ScheduledChanges,
        clock: Clock,
    ) -> None:
        self._settings = settings
        self._account = settings.account
        self._db = db
        self._tokens = tokens
        self._gateway = gateway
        self.approvers = approvers
        self._week_rule = week_rule
        self._requesters = requesters
        self.cards = cards
        self._clock = clock
        self._tasks: set[asyncio.Task[None]] = set()
        # One timer per pending request known to this replica: the card turns "expired"
        # at its deadline, not at the next sweep (the transition keeps it exactly-once).
        self._expiry_timers: dict[str, asyncio.Task[None]] = {}
        self.applier = applier
        self.schedule = schedule

    # -- request -----------------------------------------------------------------------

    def check_fields(
        self, primary: str | None, secondary: str | None, reason: str | None
    ) -> CheckedFields:
        """What the form can be told at once, before anything else (see `check_fields`)."""
        return check_fields(
            primary, secondary, reason, allow_non_public=self._settings.allow_non_public_ips
        )

    async def create(
        self,
        requester_id: str,
        primary: str | None,
        secondary: str | None,
        reason: str | None,
        *,
        apply_at: datetime | None = None,
        move_id: str | None = None,
    ) -> ChangeRequest:
        """Validate, store and post a request for approval; raise UserFacingError if refused.

        `move_id`: the request is this account's part of a host move, whose card (posted by
        `bot.requests.moves`) stands for it: none of its own is posted.

        `apply_at` (`--at`): approving it schedules the change for that time instead of
        applying it at once. Nothing is stored, posted or sent to Upstox until every check
        has passed.
        """
        fields = self.check_fields(primary, secondary, reason)
        if apply_at is not None and apply_at <= self._clock():
            raise InvalidFields(
                {"apply_at": f"{format_ist(apply_at)} is in the past. Nothing was requested."}
            )
        if self._requesters.configured and not await self._requesters.contains(requester_id):
            raise NotAllowed(
                "You are not on the list of people who may request an IP change "
                "(SLACK_REQUESTERS). Ask one of them, or an admin to add you."
            )
        existing = await self._db.requests.get_open(self._account)
        if existing is not None:
            raise RequestOpen(existing.id)
        ips = await self._read_ips("nothing was requested")
        proposal = validate_proposal(
            fields.primary, fields.secondary, ips.primary_ip, ips.secondary_ip
        )
        now = self._clock()
        window = await self._week_rule.window(ips, apply_at or now)
        if not window.allowed and window.next_allowed_at is not None and apply_at is not None:
            raise WindowClosed(
                f"The weekly change window is closed at {format_ist(apply_at)}: the next change "
                f"is possible from {format_ist(window.next_allowed_at)}. Nothing was requested."
            )
        if not window.allowed and window.next_allowed_at is not None:
            last = format_ist(window.last_change_at) if window.last_change_at else "recently"
            source = (
                "what Upstox enforced when it refused an earlier change"
                if window.rule == "learned"
                else "the calendar week, Upstox's stated once-a-week rule"
            )
            raise WindowClosed(
                f"The weekly change window is closed: the IPs were last changed on {last}, "
                f"so the next change is possible from {format_ist(window.next_allowed_at)} "
                f"(the bot's estimate from {source}). Nothing was requested."
            )
        try:
            request = await self._db.requests.create(
                account=self._account,
                requester_id=requester_id,
                reason=fields.reason,
                current_primary=ips.primary_ip,
                current_secondary=ips.secondary_ip,
                proposed_primary=proposal.primary,
                proposed_secondary=proposal.secondary,
                expires_at=now + self._settings.approval_ttl,
                now=now,
                scheduled_at=apply_at,
                move_id=move_id,
                audit=NewAuditEvent(
                    AuditEvent.REQUESTED,
                    requester_id,
                    {
                        **({"move_id": move_id} if move_id else {}),
                        "primary": proposal.primary,
                        "secondary": proposal.secondary,
                        "current_primary": ips.primary_ip,
                        "current_secondary": ips.secondary_ip,
                        "reason": fields.reason,
                        **({"apply_at": apply_at.isoformat()} if apply_at else {}),
                    },
                ),
            )
        except RequestAlreadyOpen as race:  # another replica's request won the slot
            raise RequestOpen(race.existing_id) from None
        if move_id is not None:
            self._arm_expiry(request)
            return request
        try:
            posted = await self.cards.post(request)
        except Exception:
            log.exception("could not post the card of %s", request.id)
            await self._db.requests.transition(
                request.id,
                S.PENDING,
                S.CANCELLED,
                decided_by="bot",
                decided_at=self._clock(),
                audit=NewAuditEvent(
                    AuditEvent.CANCELLED, "bot", {"why": "the approval card could not be posted"}
                ),
            )
            raise UserFacingError(
                "The bot could not post the approval card in "
                f"<#{self._settings.slack_approval_channel}> (is the bot in that channel?), "
                "so the request was withdrawn and nothing will change."
            ) from None
        request = await self._db.requests.set_card(request.id, posted.channel, posted.ts) or request
        self._arm_expiry(request)
        return request

    async def _read_ips(self, consequence: str) -> StaticIps:
        try:
            return await self._gateway.static_ips()
        except NotLoggedIn as error:
            raise UserFacingError(f"{error.user_message} ({consequence}.)") from None
        except UpstoxError as error:
            raise UserFacingError(
                f"Could not read the registered IPs from Upstox, so {consequence}. "
                f"{describe_upstox_error(error)}"
            ) from None

    # -- decide ------------------------------------------------------------------------

    async def load(self, request_id: str) -> ChangeRequest:
        """The request, or UnknownRequest for ids that are garbage or not stored."""
        cleaned = (request_id or "").strip().lower()
        request = await self._db.requests.get(cleaned) if _REQUEST_ID.match(cleaned) else None
        if request is None or request.account != self._account:
            raise UnknownRequest(
                "This request does not exist (check the id with `/staticip history`). "
                "Nothing was changed."
            )
        return request

    async def check_decision(self, request_id: str, user_id: str, verb: Verb) -> ChangeRequest:
        """The refusals `decide` would give, without deciding: a Reject click asks for a
        reason only when the reject could happen."""
        request = await self._still_pending(await self.load(request_id))
        await self._check_decider(request, user_id, verb)
        return request

    async def decide(
        self, request_id: str, user_id: str, verb: Verb, *, reason: str | None = None
    ) -> ChangeRequest:
        """Approve or reject (optionally with a reason). The winner gets the updated
        request; everyone else an error."""
        request = await self.load(request_id)
        request = await self._still_pending(request)
        await self._check_decider(request, user_id, verb)
        if verb in APPROVING:
            # Checked before the decision so that a logged-out bot does not burn it.
            try:
                await self._tokens.usable()
            except NotLoggedIn as error:
                # A concurrent winner's change logs the token out: tell a late click so.
                latest = await self.load(request.id)
                if latest.state is not S.PENDING:
                    raise AlreadyDecided(decided_message(latest)) from None
                raise NotAllowed(
                    f"Not approved yet — the request stays open. {error.user_message}"
                ) from None
        return await self._decide(request, user_id, verb, (reason or "").strip()[:MAX_REASON])

    async def _check_decider(self, request: ChangeRequest, user_id: str, verb: Verb) -> None:
        if user_id == request.requester_id:
            if verb in APPROVING:
                raise NotAllowed(
                    "You made this request, so someone else must approve it — nobody approves "
                    "their own change, approvers included. Nothing was changed."
                )
            raise NotAllowed(
                "You made this request; to withdraw it use "
                f"`/staticip cancel {request.id}`. Nothing was changed."
            )
        if not await self.approvers.contains(user_id):
            raise NotAllowed(
                f"Only approvers can {'approve' if verb in APPROVING else verb.value} IP change "
                "requests, and you are not one "
                "(SLACK_APPROVERS). Nothing was changed."
            )

    async def _decide(
        self, request: ChangeRequest, user_id: str, verb: Verb, reason: str
    ) -> ChangeRequest:
        now = self._clock()
        details: dict[str, object] | None = None
        scheduled_at = None
        if verb in APPROVING and request.scheduled_at is not None:
            scheduled_at = request.scheduled_at  # asked for with `--at`: that time it is
            if scheduled_at <= now:
                raise NotAllowed(
                    f"Request `{request.id}` asked for {format_ist(scheduled_at)}, which has "
                    "passed. Nothing was changed; make a new request."
                )
        elif verb is Verb.APPROVE_AFTER_CLOSE:
            scheduled_at = await self._after_close(now)
        if verb in APPROVING and self._settings.approvals_required > 1:
            approvers = await self._count_approval(request, user_id)
            if approvers is None:  # not enough yet: the card lists who approved so far
                latest = await self.load(request.id)
                await self.cards.update(latest)
                await self.cards.follow_up(
                    latest,
                    f":ballot_box_with_check: {who(user_id)} approved; "
                    f"{self._settings.approvals_required} approvals are needed.",
                )
                return latest
            details = {"approvers": approvers}
        if verb is Verb.REJECT and reason:
            details = {"reason": reason}
        target, event = {
            Verb.APPROVE: (S.APPROVED, AuditEvent.APPROVED),
            Verb.APPROVE_AFTER_CLOSE: (S.SCHEDULED, AuditEvent.SCHEDULED),
            Verb.REJECT: (S.REJECTED, AuditEvent.REJECTED),
        }[verb]
        if scheduled_at is not None:  # `--at` or "after close": scheduled, not applied now
            target, event = S.SCHEDULED, AuditEvent.SCHEDULED
            details = {**(details or {}), "scheduled_at": scheduled_at.isoformat()}
        won = await self._db.requests.transition(
            request.id,
            S.PENDING,
            target,
            now=now,
            decided_by=user_id,
            decided_at=now,
            # A rejection's reason is kept where a failure's is: why nothing changed.
            failure_reason=reason if verb is Verb.REJECT and reason else None,
            scheduled_at=scheduled_at,
            audit=NewAuditEvent(event, user_id, details or {}),
        )
        if won is None:
            raise AlreadyDecided(decided_message(await self.load(request.id)))
        metrics.decision(verb.value)
        if won.state is S.SCHEDULED and won.scheduled_at is not None:
            await self.cards.update(won)
            await self.cards.follow_up(
                won,
                f":calendar: Approved by {who(user_id)} for later: the change will "
                f"be applied at {format_ist(won.scheduled_at)}, after the same re-check. "
                f"Until then the requester or an approver can `/staticip cancel {won.id}`.",
            )
            self.schedule.arm(won)
            return won
        if verb is Verb.REJECT:
            await self.cards.update(won)
            why = f" Reason given: {escape(reason)}" if reason else ""
            await self.cards.follow_up(
                won, f":no_entry_sign: Rejected by {who(user_id)}. Nothing was changed.{why}"
            )
            return won
        await self.cards.update(won)  # "approved by X — applying…", buttons gone
        await self.cards.follow_up(
            won,
            f":white_check_mark: Approved by {who(user_id)}. Re-checking the registered IPs "
            "with Upstox, then applying the change (one request to Upstox).",
        )
        return await self.applier.apply(won)

    async def _after_close(self, now: datetime) -> datetime:
        """When "after the close" is; refused now if the week window is closed then."""
        at = self._settings.market.next_after_close(now, self._settings.apply_after_close_at)
        ips = await self._read_ips("nothing was scheduled")
        window = await self._week_rule.window(ips, at)
        if not window.allowed and window.next_allowed_at is not None:
            raise WindowClosed(
                f"The weekly change window is closed at {format_ist(at)}: the next change is "
                f"possible from {format_ist(window.next_allowed_at)}. Nothing was scheduled."
            )
        return at

    async def _count_approval(self, request: ChangeRequest, user_id: str) -> list[str] | None:
        """Record one of several required approvals. The approvers so far once there are
        enough (the caller then makes the decision, atomically as for a single approver),
        None while more are needed; a second click by the same approver is refused."""
        required = self._settings.approvals_required
        recorded = await self._db.approvals.add(
            request.id, user_id, account=self._account, required=required, now=self._clock()
        )
        if recorded is None:
            raise AlreadyDecided(
                f"You have already approved `{request.id}`; it needs {required} approvals "
                "from different approvers. Nothing else was changed."
            )
        latest = await self.load(request.id)
        if latest.state is not S.PENDING:  # decided (e.g. rejected) meanwhile
            raise AlreadyDecided(decided_message(latest))
        approvers = [a.approver_id for a in recorded]
        return approvers if len(approvers) >= required else None

    async def _still_pending(self, request: ChangeRequest) -> ChangeRequest:
        if request.state is not S.PENDING:
            raise AlreadyDecided(decided_message(request))
        if self._clock() >= request.expires_at:
            await self._expire(request)
            raise AlreadyDecided(decided_message(await self.load(request.id)))
        return request

    # -- cancel and expire ---------------------------------------------------------------

    async def cancel(self, request_id: str, user_id: str) -> ChangeRequest:
        request = await self.load(request_id)
        if request.state in (S.APPROVED, S.APPLYING):
            raise AlreadyDecided(
                f"{decided_message(request)} An approved change can no longer be cancelled."
            )
        from_state = S.SCHEDULED  # a scheduled change can be cancelled until it starts
        if request.state is not S.SCHEDULED:
            request = await self._still_pending(request)
            from_state = S.PENDING
        if user_id != request.requester_id and not await self.approvers.contains(user_id):
            raise NotAllowed(
                f"Only the requester ({who(request.requester_id)}) or an approver can cancel "
                f"`{request.id}`. Nothing was changed."
            )
        now = self._clock()
        won = await self._db.requests.transition(
            request.id,
            from_state,
            S.CANCELLED,
            now=now,
            decided_by=user_id,
            decided_at=now,
            audit=NewAuditEvent(AuditEvent.CANCELLED, user_id),
        )
        if won is None:
            raise AlreadyDecided(decided_message(await self.load(request.id)))
        await self.cards.update(won)
        await self.cards.follow_up(
            won, f":wastebasket: Cancelled by {who(user_id)}. Nothing was changed."
        )
        return won

    async def withdraw(self, request: ChangeRequest, why: str) -> ChangeRequest | None:
        """Take a pending request out (a host move's part that could not be approved, or
        whose card could not be posted): cancelled by the bot, `why` kept as its reason."""
        now = self._clock()
        won = await self._db.requests.transition(
            request.id,
            S.PENDING,
            S.CANCELLED,
            now=now,
            decided_by="bot",
            decided_at=now,
            failure_reason=why[:MAX_REASON],
            audit=NewAuditEvent(AuditEvent.CANCELLED, "bot", {"why": why[:MAX_REASON]}),
        )
        if won is not None:
            await self.cards.update(won)
        return won

    async def open_request(self) -> ChangeRequest | None:
        return await self._db.requests.get_open(self._account)

    async def expire_due(self) -> list[ChangeRequest]:
        """The periodic sweep: pending requests past their expiry become expired, and
        every other pending one (perhaps made on another replica) gets its timer."""
        expired = []
        for request in await self._db.requests.list_expired_pending(self._clock()):
            if request.account != self._account:
                continue
            won = await self._expire(request)
            if won is not None:
                expired.append(won)
        await self.arm_expiry_timers()
        return expired

    async def arm_expiry_timers(self) -> None:
        """A timer for every pending request of the account (at start-up and each sweep;
        a request made here is armed when its card is posted)."""
        for request in await self._db.requests.list_in_state(S.PENDING, account=self._account):
            self._arm_expiry(request)

    def _arm_expiry(self, request: ChangeRequest) -> None:
        if request.state is not S.PENDING or request.id in self._expiry_timers:
            return
        task = asyncio.create_task(self._expire_when_due(request))
        self._expiry_timers[request.id] = task
        task.add_done_callback(lambda _: self._expiry_timers.pop(request.id, None))

    async def _expire_when_due(self, request: ChangeRequest) -> None:
        """Sleep until the deadline by this bot's clock (re-reading it at least once a
        minute, so a clock that jumps is followed), then expire the request if still
        pending. Another replica's timer or the sweep may win: then this one does nothing."""
        try:
            # A deadline by the bot's clock, not an event to wait for: sleep towards it.
            while (left := (request.expires_at - self._clock()).total_seconds()) > 0:  # noqa: ASYNC110
                await asyncio.sleep(min(left, 60.0))
            latest = await self._db.requests.get(request.id)
            if latest is not None and latest.state is S.PENDING:
                await self._expire(latest)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("expiring %s at its deadline failed; the sweep will", request.id)

    async def _expire(self, request: ChangeRequest) -> ChangeRequest | None:
        won = await self._db.requests.transition(
            request.id,
            S.PENDING,
            S.EXPIRED,
            audit=NewAuditEvent(
                AuditEvent.EXPIRED, "bot", {"expires_at": request.expires_at.isoformat()}
            ),
        )
        if won is not None:
            log.info("request %s expired", won.id)
            await self.cards.update(won)
            await self.cards.follow_up(
                won,
                f":alarm_clock: Expired at {format_ist(won.expires_at)} without a decision. "
                "Nothing was changed.",
            )
        return won

    # -- apply and reconcile (bot.requests.apply) -----------------------------------------

    async def reconcile_unfinished(self) -> None:
        """Finish approved requests and confirm unknown outcomes; safe to call any time.

        Start-up and every login reconcile, and so does the periodic sweep: neither of the
        first two happens when Upstox merely comes back after an outage, or when a crashed
        replica restarts within the grace period of a possibly in-flight PUT. It never
        sends a blind PUT: approved requests are re-checked first, "applying" ones only
        read back.
        """
        await self.applier.reconcile_unfinished()

    async def reconcile_soon(self, login: LoginResult | None = None) -> None:
        """`reconcile_unfinished` in the background (at start-up and after a login), so
        neither start-up nor the login callback waits on Upstox. After a login, the thread
        of the change that logged everyone out says who logged in again."""
        task = asyncio.create_task(self._reconcile_in_background(login))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reconcile_in_background(self, login: LoginResult | None = None) -> None:
        if login is not None:
            try:
                await self._login_follow_up(login)
            except Exception:
                log.exception("could not tell the change's thread about the login")
        try:
            await self.applier.reconcile_unfinished()
        except Exception:
            log.exception("reconciling unfinished requests failed")

    async def _login_follow_up(self, login: LoginResult) -> None:
        """The first login after a change (which logged every session out) is a reply in
        that change's thread; later logins are routine and stay out of it."""
        changed = await self._db.requests.list_in_state(
            (S.APPLIED, S.APPLYING), account=self._account
        )
        if not changed:
            return
        latest = max(changed, key=lambda r: r.applied_at or r.updated_at)
        since = latest.applied_at or latest.updated_at
        if self._clock() - since > LOGIN_FOLLOW_UP_WINDOW:
            return
        if await self._db.audit.count_since(self._account, AuditEvent.LOGGED_IN, since) != 1:
            return
        await self.cards.follow_up(
            latest,
            f":key: Logged in to Upstox again as `{escape(login.user_id)}` by "
            f"{who(login.requested_by)} (via {login.via.value}). The trading system must log "
            "in again too.",
        )

    async def aclose(self) -> None:
        tasks = [*self._tasks, *self._expiry_timers.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.schedule.aclose()

    # -- history -------------------------------------------------------------------------

    async def history(self, page_text: str = "") -> AuditPage:
        """A page number someone typed (`/staticip history 7`). Read with OFFSET: the
        database steps over the newer rows, so a far page costs more than the first; the
        Older button (`older_history`) does not."""
        text = page_text.strip()
        if not text:
            page = 1
        elif text.isascii() and text.isdigit() and 0 < int(text) < 1_000_000:  # not "²"
            page = int(text)
        else:
            raise UserFacingError(
                f"`{text[:20].replace('`', '')}` is not a page number. Use "
                "`/staticip history` or `/staticip history 2`."
            )
        result = await self._db.audit.page(self._account, page=page, page_size=HISTORY_PAGE_SIZE)
        if page > 1 and not result.entries:
            # Only this answer needs the total, so only it pays for the count.
            total = await self._db.audit.count(self._account)
            pages = max(1, -(-total // HISTORY_PAGE_SIZE))
            raise UserFacingError(
                f"There is no page {page}: the history has {pages} "
                f"page{'s' if pages != 1 else ''} ({total} events)."
            )
        return result

    async def older_history(self, before: int, page: int) -> AuditPage:
        """The page after the one ending at event `before` (the Older button's cursor):
        keyset, as fast on the last page as on the first. `before` came back from Slack:
        an id that is not one of this account's events is refused."""
        result = await self._db.audit.older(
            self._account, before=before, page=page, page_size=HISTORY_PAGE_SIZE
        )
        if result is None:
            raise UserFacingError(
                "That history page is not this account's (or no longer exists); "
                f"nothing was changed. {HISTORY_AGAIN}"
            )
        return result


@dataclass(frozen=True)
class AccountDesk:
    """One account's change-request service and approvals channel."""

    name: str
    key: str
    requests: ChangeRequestService
    channel: SlackChannel


class Desks:
    """Every account's desk: by the name a person typed or picked, and by a request id
    (the request's own account answers for it; an unknown id goes to the first account,
    which says it does not know the request)."""

    def __init__(self, db: Database, desks: Sequence[AccountDesk]) -> None:
        self._db = db
        self.all = tuple(desks)
        self.default = self.all[0]
        self._by_name = {desk.name: desk for desk in self.all}
        self._by_key = {desk.key: desk for desk in self.all}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._by_name)

    def named(self, name: str) -> AccountDesk | None:
        return self._by_name.get(name)

    def of_key(self, key: str) -> AccountDesk | None:
        return self._by_key.get(key)

    async def older_history(self, account_name: str, before: int, page: int) -> AuditPage:
        """An Older click's page: the cursor names its account ("" when the bot has one);
        a name that is no account's is refused, like a foreign event id."""
        desk = self.named(account_name) if account_name else None
        if desk is None and not account_name and len(self.all) == 1:
            desk = self.default
        if desk is None:
            raise UserFacingError(f"There is no such account; nothing was changed. {HISTORY_AGAIN}")
        return await desk.requests.older_history(before, page)

    async def of_request(self, request_id: str) -> AccountDesk:
        if len(self.all) == 1:
            return self.default
        cleaned = request_id.strip().lower()[:64]
        request = await self._db.requests.get(cleaned) if cleaned else None
        if request is None:
            return self.default
        return self._by_key.get(request.account, self.default)
