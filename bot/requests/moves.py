"""Host moves: one request that moves several accounts to the same new IPs.

`/staticip set all <primary> [<secondary>] <reason…>` (or `set desk,family …`) makes one
change request per account — each with its own re-check, weekly window and open-request
slot, through that account's own `ChangeRequestService` — and one card with a row per
account. An account that cannot take part (its window is closed, it has an open request,
its token is dead, the IPs are already registered) is left out with its reason on the card;
the others go on.

One click by someone who approves *every* account in the move decides it: the accounts are
then approved and applied one after the other, each one exactly once (each account's own
atomic transition decides, across replicas and repeated clicks), and one refused never stops
or undoes the others. The card re-renders from the store after every step, so it always says
which accounts moved and which did not.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.errors import UserFacingError
from bot.ist import Clock
from bot.market_hours import TradingHours
from bot.public_ip import PublicIpLookup
from bot.requests.blocks import MoveRow, MoveView, move_card
from bot.requests.service import (
    AccountDesk,
    AlreadyDecided,
    Desks,
    NotAllowed,
    UnknownRequest,
    Verb,
    who,
)
from bot.slack.channel import PostedMessage, SlackChannel
from bot.slack.mrkdwn import escape
from bot.store.database import Database
from bot.store.models import ChangeRequest
from bot.store.moves import HostMove
from bot.store.request_states import RequestState

log = logging.getLogger(__name__)

S = RequestState
ALL = "all"


class MoveCards:
    """The host move's card: rendered from the store, posted once, updated in place."""

    def __init__(
        self,
        *,
        db: Database,
        channel: SlackChannel,
        names: dict[str, str],
        clock: Clock,
        public_ip: PublicIpLookup | None = None,
        market: TradingHours | None = None,
    ) -> None:
        self._market = market
        self._db = db
        self._channel = channel
        self._names = names  # account key → name
        self._clock = clock
        self._public_ip = public_ip

    async def view(self, move: HostMove) -> MoveView:
        parts = {part.account: part for part in await self._db.requests.in_move(move.id)}
        rows = tuple(
            MoveRow(
                account=self._names.get(key, key),
                request=parts.get(key),
                refused=move.refused.get(key),
            )
            for key in move.accounts
        )
        host_check = self._public_ip is not None and self._public_ip.configured
        host_ip = None
        if host_check and self._public_ip is not None:
            try:
                host_ip = await self._public_ip.current()
            except Exception:
                log.exception("could not look up this host's public IP for the move card")
        return MoveView(
            move_id=move.id,
            requester_id=move.requester_id,
            reason=move.reason,
            proposed_primary=move.proposed_primary,
            proposed_secondary=move.proposed_secondary,
            rows=rows,
            now=self._clock(),
            host_check=host_check,
            host_ip=host_ip,
            market_open=self._market is not None and self._market.is_open(self._clock()),
        )

    async def post(self, move: HostMove) -> PostedMessage:
        text, blocks = move_card(await self.view(move))
        return await self._channel.post(text, blocks)

    async def refresh(self, move_id: str) -> None:
        """Re-render the card in place (best effort, like every card update)."""
        move = await self._db.moves.get(move_id)
        if move is None or move.card_channel is None or move.card_ts is None:
            return
        try:
            text, blocks = move_card(await self.view(move))
            await self._channel.update(PostedMessage(move.card_channel, move.card_ts), text, blocks)
        except Exception:
            log.exception("could not update the card of host move %s", move_id)

    async def permalink(self, posted: PostedMessage) -> str | None:
        return await self._channel.permalink(posted.channel, posted.ts)

    async def follow_up(self, move: HostMove, text: str) -> None:
        if move.card_channel is None or move.card_ts is None:
            return
        try:
            await self._channel.reply(PostedMessage(move.card_channel, move.card_ts), text)
        except Exception:
            log.exception("could not reply in the thread of host move %s", move.id)


@dataclass(frozen=True, slots=True)
class MoveRequested:
    move: HostMove
    parts: tuple[tuple[str, ChangeRequest], ...]
    refused: tuple[tuple[str, str], ...]
    link: str | None


class HostMoves:
    def __init__(self, *, db: Database, desks: Desks, cards: MoveCards, clock: Clock) -> None:
        self._db = db
        self._desks = desks
        self.cards = cards
        self._clock = clock

    def targets(self, word: str) -> list[AccountDesk] | None:
        """The accounts `word` names (`all`, or a comma list of names), None if it is
        neither; a comma list with an unknown name is refused with the names there are."""
        word = word.strip().lower()
        if word == ALL:
            return list(self._desks.all)
        if "," not in word:
            return None
        names = [name.strip() for name in word.split(",") if name.strip()]
        unknown = [name for name in names if self._desks.named(name) is None]
        if unknown or not names:
            shown = ", ".join(f"`{escape(n[:40])}`" for n in unknown) or "none"
            known = ", ".join(f"`{n}`" for n in self._desks.names)
            raise UserFacingError(
                f"Unknown account(s) {shown}: the accounts are {known}. Nothing was requested.",
                code="unknown_account",
            )
        picked: list[AccountDesk] = []
        for name in names:
            desk = self._desks.named(name)
            if desk is not None and desk not in picked:
                picked.append(desk)
        return picked

    async def create(
        self,
        requester_id: str,
        desks: list[AccountDesk],
        primary: str,
        secondary: str | None,
        reason: str,
    ) -> MoveRequested:
        """One request per account, one card. Refused as a whole (nothing stored) when the
        fields are wrong; otherwise each account that cannot take part is left out."""
        fields = desks[0].requests.check_fields(primary, secondary, reason)
        move = await self._db.moves.create(
            requester_id=requester_id,
            reason=fields.reason,
            proposed_primary=fields.primary,
            proposed_secondary=fields.secondary,
            accounts=[desk.key for desk in desks],
        )
        parts: list[tuple[str, ChangeRequest]] = []
        refused: dict[str, str] = {}
        for desk in desks:
            try:
                part = await desk.requests.create(
                    requester_id, primary, secondary, reason, move_id=move.id
                )
            except UserFacingError as error:
                refused[desk.key] = error.user_message
            else:
                parts.append((desk.name, part))
        names = {desk.key: desk.name for desk in desks}
        left_out = tuple((names[key], why) for key, why in refused.items())
        if not parts:
            await self._db.moves.settle(move.id, refused=refused, channel=None, ts=None)
            lines = "\n".join(f"• `{name}`: {why}" for name, why in left_out)
            raise UserFacingError(
                f"No account can take part in the move, so nothing was requested:\n{lines}",
                code="move_refused",
            )
        try:
            posted = await self.cards.post(
                await self._db.moves.settle(move.id, refused=refused, channel=None, ts=None) or move
            )
        except Exception:
            log.exception("could not post the card of host move %s", move.id)
            for name, part in parts:
                owner = self._desks.named(name)
                if owner is not None:
                    await owner.requests.withdraw(part, "the approval card could not be posted")
            raise UserFacingError(
                "The bot could not post the host move's card in the approvals channel (is the "
                "bot in that channel?), so the move was withdrawn and nothing will change."
            ) from None
        settled = await self._db.moves.settle(
            move.id, refused=refused, channel=posted.channel, ts=posted.ts
        )
        for _, part in parts:
            await self._db.requests.set_card(part.id, posted.channel, posted.ts)
        link = await self.cards.permalink(posted)
        return MoveRequested(settled or move, tuple(parts), left_out, link)

    async def decide(self, move_id: str, user_id: str, verb: Verb) -> str:
        """Approve or reject every waiting account of the move, one after the other; the
        answer for the person who clicked says what happened to each."""
        move = await self._db.moves.get(move_id.strip().lower()[:40]) if move_id else None
        if move is None:
            raise UnknownRequest("This host move does not exist. Nothing was changed.")
        parts = await self._db.requests.in_move(move.id)
        waiting = [part for part in parts if part.state is S.PENDING]
        if not waiting:
            raise AlreadyDecided(f"Host move `{move.id}` was already decided; see its card.")
        if user_id == move.requester_id:
            raise NotAllowed(
                "You asked for this move, so someone else must decide it — nobody approves "
                "their own change, approvers included. Nothing was changed."
            )
        desks = {part.id: self._desk(part) for part in parts}
        not_approver = [
            desk.name
            for desk in dict.fromkeys(desks.values())
            if not await desk.requests.approvers.contains(user_id)
        ]
        if not_approver:
            names = ", ".join(f"`{name}`" for name in not_approver)
            raise NotAllowed(
                f"Only someone who approves every account in the move can decide it, and you "
                f"do not approve {names}. Nothing was changed."
            )
        verb_text = "Approved" if verb is Verb.APPROVE else "Rejected"
        await self.cards.follow_up(
            move,
            f":{'white_check_mark' if verb is Verb.APPROVE else 'no_entry_sign'}: {verb_text} by "
            f"{who(user_id)}: each waiting account in turn"
            + (
                ", each re-checked, then one request to Upstox each."
                if verb is Verb.APPROVE
                else "."
            ),
        )
        answers = []
        order = {key: i for i, key in enumerate(move.accounts)}
        for part in sorted(waiting, key=lambda p: order.get(p.account, 0)):
            desk = desks[part.id]
            answers.append(f"• `{desk.name}`: {await self._decide_part(desk, part, user_id, verb)}")
        await self.cards.refresh(move.id)
        return f"Host move `{move.id}`:\n" + "\n".join(answers)

    async def cancel(self, move_id: str, user_id: str) -> str:
        """`/staticip cancel m-…`: every waiting account of the move is cancelled (by its
        requester or an approver of that account; each account's own rules decide)."""
        move = await self._db.moves.get(move_id.strip().lower()[:40])
        if move is None:
            raise UnknownRequest("This host move does not exist. Nothing was changed.")
        waiting = [p for p in await self._db.requests.in_move(move.id) if p.state is S.PENDING]
        if not waiting:
            raise AlreadyDecided(f"Host move `{move.id}` was already decided; see its card.")
        answers = []
        for part in waiting:
            desk = self._desk(part)
            try:
                await desk.requests.cancel(part.id, user_id)
            except UserFacingError as error:
                answers.append(f"• `{desk.name}`: {error.user_message}")
            else:
                answers.append(f"• `{desk.name}`: cancelled")
        await self.cards.refresh(move.id)
        return f"Host move `{move.id}`:\n" + "\n".join(answers)

    async def _decide_part(
        self, desk: AccountDesk, part: ChangeRequest, user_id: str, verb: Verb
    ) -> str:
        try:
            decided = await desk.requests.decide(part.id, user_id, verb)
        except AlreadyDecided:
            return "already decided (another click won)"
        except UserFacingError as error:
            if verb is Verb.APPROVE:
                # Not approvable now (e.g. logged out): out of the move, with the reason.
                await desk.requests.withdraw(part, error.user_message)
            return f"not applied — {error.user_message}"
        except Exception:
            log.exception("host move: deciding %s failed", part.id)
            return "failed on the bot's side; see the card"
        return {
            S.APPLIED: "moved",
            S.FAILED: f"refused — {decided.failure_reason or 'see the card'}",
            S.REJECTED: "rejected",
            S.SCHEDULED: "scheduled",
            S.PENDING: "approval recorded; more approvals are needed",
        }.get(decided.state, decided.state.value)

    def _desk(self, part: ChangeRequest) -> AccountDesk:
        desk = self._desks.of_key(part.account)
        if desk is None:  # an account removed from the configuration since
            raise UserFacingError(
                f"Request `{part.id}` of this move is for an account the bot no longer "
                "serves. Nothing was changed."
            )
        return desk
