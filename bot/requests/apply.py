"""Applying an approved change exactly once, and finding out what happened when unsure.

approved ─ re-read IPs ─┬─ drifted ──────────────────────────────► failed
                        └─ same ─► applying ─ one PUT ─┬─ ok ─────► applied
                                                       ├─ refused ► failed
                                                       └─ unknown ► read back ─► applied | failed
                                                                       (401: wait for a login)

Never a second PUT: a PUT whose answer was lost is settled by reading the IPs back. A
successful PUT logs every session out, so that read-back usually needs a new login; the
request then stays "applying" until `reconcile_unfinished` runs after the next login or at
start-up. A fresh re-check always precedes the PUT, also when the approval is finished
later by `reconcile_unfinished`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from bot import metrics
from bot.ips import normalise_ip, same_ip
from bot.ist import Clock, format_ist
from bot.login.gateway import UpstoxGateway
from bot.login.service import LoginAlerts
from bot.login.tokens import NotLoggedIn, TokenDeath, TokenService
from bot.requests.cards import RequestCards
from bot.show.week_rule import WeekRule
from bot.slack.mrkdwn import code, escape
from bot.store.database import Database
from bot.store.models import AuditEvent, ChangeRequest, NewAuditEvent, TokenState
from bot.store.request_states import RequestState
from bot.upstox import (
    StaticIps,
    StaticIpUpdateResult,
    UpstoxError,
    UpstoxOutcomeUnknown,
    UpstoxTokenInvalid,
    UpstoxWeeklyLimit,
)
from bot.upstox_messages import LOGIN_HINT, describe_upstox_error

log = logging.getLogger(__name__)

S = RequestState

DRIFT = "the registered IPs changed since this request"
IP_CHANGE_LOGOUT = "the static IPs were changed, so Upstox logged out every session"
LOGOUT_NOTICE = (
    "Upstox has logged out every session of the account: the trading system and the bot "
    "must log in again — use the login button in the bot's alert or `/staticip login`."
)


def _shown(primary: str | None, secondary: str | None) -> str:
    """Two IPs for a channel message; they come from Upstox, so escaped (`code`)."""
    return f"{code(primary or '—')} (primary) and {code(secondary or '—')} (secondary)"


def drifted(request: ChangeRequest, ips: StaticIps) -> bool:
    return (normalise_ip(ips.primary_ip), normalise_ip(ips.secondary_ip)) != (
        normalise_ip(request.current_primary),
        normalise_ip(request.current_secondary),
    )


def matches_proposal(request: ChangeRequest, ips: StaticIps) -> bool:
    if not same_ip(ips.primary_ip, request.proposed_primary):
        return False
    return request.proposed_secondary is None or same_ip(
        ips.secondary_ip, request.proposed_secondary
    )


class ChangeApplier:
    def __init__(
        self,
        *,
        db: Database,
        tokens: TokenService,
        gateway: UpstoxGateway,
        login_alerts: LoginAlerts,
        cards: RequestCards,
        week_rule: WeekRule,
        account: str,
        clock: Clock,
        put_grace: timedelta,
        app_tokens: Sequence[TokenService] = (),
    ) -> None:
        self._db = db
        self._tokens = tokens
        # The trading systems' apps of the same user: a change logs them out too.
        self._app_tokens = tuple(app_tokens)
        self._gateway = gateway
        self._login_alerts = login_alerts
        self._cards = cards
        self._week_rule = week_rule
        self._account = account
        self._clock = clock
        # The settling period: longer than the PUT's total deadline plus clock skew between
        # replicas. An "applying" row younger than this may still have its PUT in flight
        # (here or in another replica), and Upstox may still be committing it: a read-back
        # showing the old IPs proves nothing yet, so the request stays "applying".
        self._put_grace = put_grace
        self._busy: set[str] = set()
        self._put_finished: set[str] = set()
        self._reconcile_lock = asyncio.Lock()

    # -- apply -------------------------------------------------------------------------

    async def apply(self, request: ChangeRequest) -> ChangeRequest:
        """Re-check and apply an approved request (at most one PUT, ever)."""
        if request.id in self._busy:
            return request
        self._busy.add(request.id)
        try:
            return await self._apply(request)
        finally:
            self._busy.discard(request.id)

    async def _apply(self, request: ChangeRequest) -> ChangeRequest:
        retry_note = (
            "The bot re-checks and applies it by itself at its next periodic check, login "
            f"or restart, if that is before {format_ist(request.expires_at)}."
        )
        try:
            ips = await self._gateway.static_ips()
        except NotLoggedIn:
            await self._cards.update(
                request,
                note=f"Approved, but not applied yet: the bot is logged out of Upstox, so it "
                f"cannot re-check the registered IPs. {retry_note} {LOGIN_HINT}",
            )
            return request
        except UpstoxError as error:
            log.warning("re-check before applying %s failed: %r", request.id, error)
            await self._cards.update(
                request,
                note="Approved, but not applied yet: the bot could not re-check the "
                f"registered IPs with Upstox ({describe_upstox_error(error)}) {retry_note}",
            )
            return request

        if drifted(request, ips):
            before = _shown(request.current_primary, request.current_secondary)
            reason = (
                f"{DRIFT}: Upstox now has {_shown(ips.primary_ip, ips.secondary_ip)}, the "
                f"request was made against {before}. Nothing was sent; make a new request "
                "if the change is still needed."
            )
            return await self._fail(request, S.APPROVED, reason, {"drift": True})

        applying, won = await self._move(
            request,
            S.APPROVED,
            S.APPLYING,
            NewAuditEvent(
                AuditEvent.APPLYING,
                "bot",
                {"primary": request.proposed_primary, "secondary": request.proposed_secondary},
            ),
        )
        if not won:  # another task or replica got there first
            return applying
        outcome = await self._put(applying, ips)
        if isinstance(outcome, ChangeRequest):
            return outcome
        return await self._changed(applying, outcome)

    async def _put(
        self, applying: ChangeRequest, checked: StaticIps
    ) -> StaticIpUpdateResult | ChangeRequest:
        """The one PUT (against the `checked` IPs): Upstox's answer, or the request as
        settled when there is none."""
        try:
            result = await self._gateway.update_static_ips(
                applying.proposed_primary, applying.proposed_secondary
            )
            metrics.put("applied")
            return result
        except UpstoxOutcomeUnknown as error:
            metrics.put("unknown")
            log.error("PUT for %s has an unknown outcome (%r): reading back", applying.id, error)
            return await self._reconcile(applying)
        except (UpstoxTokenInvalid, NotLoggedIn):
            metrics.put("not_logged_in")
            # A 401 (or no token at all) means Upstox did not take the change.
            return await self._fail(
                applying,
                S.APPLYING,
                "the Upstox session ended just before the change was sent, so nothing was "
                f"changed. {LOGIN_HINT} Then make a new request.",
                {},
            )
        except UpstoxError as error:
            metrics.put("failed")
            if isinstance(error, UpstoxWeeklyLimit):
                await self._learn_week_rule(checked, applying.id)
            return await self._fail(
                applying,
                S.APPLYING,
                describe_upstox_error(error),
                {"code": error.code, "error": type(error).__name__},
            )
        except Exception:
            # Our own failure after the PUT may have gone out: never guess, never re-send.
            metrics.put("unknown")
            log.exception("applying %s failed after the PUT may have been sent", applying.id)
            await self._cards.update(
                applying,
                note="The outcome is unknown (an internal error after the change was sent). "
                "The bot will read the IPs back to confirm; nothing will be re-sent.",
            )
            return applying
        finally:
            self._put_finished.add(applying.id)

    async def _learn_week_rule(self, checked: StaticIps, request_id: str) -> None:
        """Upstox refused with UDAPI1185: record what it enforced, if the bot's rule had
        allowed the change (best effort: the refusal itself is recorded anyway)."""
        try:
            await self._week_rule.refused(checked, request_id)
        except Exception:
            log.exception("could not record the week rule Upstox enforced")

    async def _changed(
        self, applying: ChangeRequest, result: StaticIpUpdateResult
    ) -> ChangeRequest:
        """Upstox took the change. Everything that follows it, in this order."""
        # 1. Upstox has logged out every session: record that every app's token is dead.
        for tokens in (self._tokens, *self._app_tokens):
            await tokens.mark_dead(IP_CHANGE_LOGOUT, state=TokenState.INVALIDATED)
        # 2. Say so in the channel, with a login link (one alert per outage).
        await self._alert_logged_out()
        # 3. Record the request as applied, 4. update its card and announce the change.
        details: dict[str, object] = {"access_tokens_invalidated": result.access_tokens_invalidated}
        return await self._applied(
            applying, result.primary_ip, result.secondary_ip, self._clock(), details
        )

    async def _applied(
        self,
        request: ChangeRequest,
        primary: str | None,
        secondary: str | None,
        applied_at: datetime,
        details: dict[str, object],
        event: AuditEvent = AuditEvent.APPLIED,
    ) -> ChangeRequest:
        """Record the request as applied, then update its card (which refreshes the App
        Home) and announce the new IPs in the channel."""
        applied, won = await self._move(
            request,
            S.APPLYING,
            S.APPLIED,
            NewAuditEvent(event, "bot", {"primary": primary, "secondary": secondary, **details}),
            applied_at=applied_at,
        )
        if not won:
            if applied.state is S.FAILED and event is AuditEvent.APPLIED:
                # Upstox's definite 2xx outranks a read-back that came too early.
                return await self._correct(applied, primary, secondary, applied_at, details)
            return applied
        log.info("request %s applied", applied.id)
        await self._announce_applied(applied, primary, secondary)
        return applied

    async def _correct(
        self,
        failed: ChangeRequest,
        primary: str | None,
        secondary: str | None,
        applied_at: datetime,
        details: dict[str, object],
    ) -> ChangeRequest:
        """A request recorded as failed whose PUT then got a 2xx: applied after all."""
        corrected = await self._db.requests.transition(
            failed.id,
            S.FAILED,
            S.APPLIED,
            applied_at=applied_at,
            audit=NewAuditEvent(
                AuditEvent.CORRECTED,
                "bot",
                {"was": "failed", "primary": primary, "secondary": secondary, **details},
            ),
            correction=True,
        )
        if corrected is None:
            return await self._db.requests.get(failed.id) or failed
        log.warning(
            "request %s was recorded failed, but Upstox answered the PUT: applied", failed.id
        )
        await self._announce_applied(corrected, primary, secondary)
        return corrected

    async def _announce_applied(
        self, applied: ChangeRequest, primary: str | None, secondary: str | None
    ) -> None:
        await self._cards.update(applied)
        await self._cards.follow_up(
            applied,
            f"The static IPs are now {_shown(primary, secondary)} (request `{applied.id}`, "
            f"approved by <@{applied.decided_by}>). {LOGOUT_NOTICE}",
        )

    async def _move(
        self,
        request: ChangeRequest,
        from_state: RequestState,
        to_state: RequestState,
        audit: NewAuditEvent,
        **values: Any,
    ) -> tuple[ChangeRequest, bool]:
        """One atomic transition: (the updated request, True), or — when another task or
        replica moved it first — (the request as it is now, False)."""
        moved = await self._db.requests.transition(
            request.id,
            from_state,
            to_state,
            audit=audit,
            **values,
        )
        if moved is not None:
            return moved, True
        return await self._db.requests.get(request.id) or request, False

    async def _alert_logged_out(self) -> None:
        try:
            await self._login_alerts.logged_out(
                TokenDeath(TokenState.INVALIDATED, IP_CHANGE_LOGOUT)
            )
        except Exception:
            log.exception("could not post the login alert after the change")

    async def _fail(
        self,
        request: ChangeRequest,
        from_state: RequestState,
        reason: str,
        details: dict[str, object],
        event: AuditEvent = AuditEvent.FAILED,
    ) -> ChangeRequest:
        failed, won = await self._move(
            request,
            from_state,
            S.FAILED,
            NewAuditEvent(event, "bot", {"reason": reason, **details}),
            failure_reason=reason,
        )
        if not won:
            return failed
        log.warning("request %s failed: %s", failed.id, reason)
        await self._cards.update(failed)
        await self._cards.follow_up(failed, f":x: Failed: {escape(reason)}")
        return failed

    # -- reconcile ---------------------------------------------------------------------

    async def _reconcile(self, request: ChangeRequest) -> ChangeRequest:
        """Settle an "applying" request by reading the IPs back."""
        try:
            ips = await self._gateway.static_ips()
        except (UpstoxTokenInvalid, NotLoggedIn):
            # The read-back has recorded the token as dead; the change most likely went
            # through and logged everyone out, so the desk needs the login link now.
            await self._alert_logged_out()
            await self._cards.update(
                request,
                note="Upstox did not answer the change, and every session is now logged "
                "out — so it was *probably applied*. The bot will confirm by reading the "
                f"IPs back after the next login. {LOGIN_HINT}",
            )
            return request
        except UpstoxError as error:
            await self._cards.update(
                request,
                note="Upstox did not answer the change, so the outcome is not known yet. "
                f"The bot will read the IPs back to confirm ({describe_upstox_error(error)}); "
                "nothing will be re-sent.",
            )
            return request

        if matches_proposal(request, ips):
            return await self._applied(
                request,
                ips.primary_ip,
                ips.secondary_ip,
                ips.last_changed_at or self._clock(),
                {"outcome": "applied"},
                event=AuditEvent.RECONCILED,
            )
        if self._clock() - request.updated_at < self._put_grace:
            log.info("read-back of %s still shows the old IPs; settling", request.id)
            await self._cards.update(
                request,
                note="Upstox has not confirmed the change yet: the IPs read back are still "
                "the old ones, and a slow change can land a little later. The bot reads "
                "them back again shortly; nothing will be re-sent.",
            )
            return request
        reason = (
            "Upstox did not apply the change: reading the IPs back shows "
            f"{_shown(ips.primary_ip, ips.secondary_ip)}. Nothing was re-sent; make a new "
            "request if the change is still needed."
        )
        return await self._fail(
            request,
            S.APPLYING,
            reason,
            {"outcome": "failed", "primary": ips.primary_ip, "secondary": ips.secondary_ip},
            event=AuditEvent.RECONCILED,
        )

    async def reconcile_unfinished(self) -> None:
        async with self._reconcile_lock:
            unfinished = await self._db.requests.list_in_state(
                (S.APPROVED, S.APPLYING), account=self._account
            )
            for request in unfinished:
                if request.id in self._busy:
                    continue
                try:
                    await self._settle(request)
                except Exception:
                    log.exception("reconciling %s failed; will try again later", request.id)

    async def _settle(self, request: ChangeRequest) -> None:
        now = self._clock()
        if request.state is S.APPROVED:
            if now >= request.expires_at:
                await self._fail(
                    request,
                    S.APPROVED,
                    f"the approval lapsed at {format_ist(request.expires_at)} before the bot "
                    "could re-check the IPs with Upstox; nothing was sent.",
                    {"lapsed": True},
                )
                return
            await self.apply(request)
            return
        if request.id not in self._put_finished and now - request.updated_at < self._put_grace:
            return  # its PUT may still be in flight elsewhere; the next run will settle it
        self._busy.add(request.id)
        try:
            await self._reconcile(request)
        finally:
            self._busy.discard(request.id)
