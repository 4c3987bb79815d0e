"""Handing every fresh Upstox token to the trading system, and proving it was handed over.

Three sinks per app (see `bot.login.apps`), all carrying the same JSON (`token_json`):

- the token file: written atomically (a temp file in the same folder, fsync, rename), mode
  0600, so a reader sees the old file or the new one, never half of one;
- `GET /token`: a consumer with an API key fetches it, optionally long-polling
  (`?wait=SECONDS&after=<issued_at>`) until a newer token exists. Keys are kept only as
  HMACs and compared in constant time; every fetch is recorded under the key's
  fingerprint — the pickup proof;
- the webhook: the JSON is POSTed, signed (`X-Staticip-Signature: v1=<hex HMAC-SHA256 of
  "v1:<timestamp>:<body>">`), retried with capped backoff until a 2xx or the give-up
  limit; at most one delivery per app in flight, every attempt recorded, and a token that
  has been replaced is never delivered (the older delivery is cancelled, and each attempt
  first checks that its token is still the current one — also against other replicas).

`TokenDelivery.deliver` is called by the after-login flow (`LoginService._logged_in`) as
one of its explicit steps. Nothing here logs or posts a token.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import SecretStr

from bot.ist import IST, Clock, format_ist, to_ist
from bot.log import redactor
from bot.login.apps import TokenApp, WebhookTarget
from bot.login.tokens import TokenService, TokenStatus, UsableToken
from bot.slack.alerts import Alerts
from bot.slack.channel import PostedMessage, SlackChannel
from bot.store.crypto import derive_key
from bot.store.database import Database
from bot.store.models import ChangeRequest, RequestState
from bot.store.models import TokenDelivery as DeliveryRecord

log = logging.getLogger(__name__)

SINK_FILE = "file"
SINK_API = "api"
SINK_WEBHOOK = "webhook"
# A webhook delivery that ended (anything else was interrupted and is resumed at start-up).
_WEBHOOK_DONE = frozenset({"delivered", "gave_up", "superseded"})
# Not a sink: the record that a change's card thread told the way back.
SINK_CHANNEL = "channel"
# A login this long after a change is no longer "the way back" from it.
RECOVERY_WINDOW = timedelta(hours=12)

WEBHOOK_DOWN = "token_webhook_down"
NOT_PICKED_UP = "token_not_picked_up"
MAX_WAIT_SECONDS = 300.0
# A waiting GET /token also re-reads the database this often, so a login on another
# replica wakes it too (a login on this replica wakes it at once).
WAIT_POLL_SECONDS = 1.0
WEBHOOK_TIMEOUT_SECONDS = 10.0
SIGNATURE_VERSION = "v1"
TIMESTAMP_HEADER = "X-Staticip-Timestamp"
SIGNATURE_HEADER = "X-Staticip-Signature"

_KEY_FINGERPRINT_INFO = b"staticip-bot/token-api-key/v1"


def token_json(app: TokenApp, token: UsableToken, status: TokenStatus) -> dict[str, Any]:
    """The one shape of a delivered token (file, endpoint and webhook)."""
    assert status.expires_at is not None
    return {
        "access_token": token.secret.get_secret_value(),
        "token_type": "Bearer",
        "user_id": status.user_id,
        "client_id": app.client_id,
        "issued_at": token.obtained_at.astimezone(IST).isoformat(),
        "expires_at": status.expires_at.astimezone(IST).isoformat(),
    }


def encode(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8")


def sign(secret: SecretStr, timestamp: str, body: bytes) -> str:
    """`v1=<hex HMAC-SHA256 of "v1:<timestamp>:<body>">`."""
    message = f"{SIGNATURE_VERSION}:{timestamp}:".encode() + body
    digest = hmac.new(secret.get_secret_value().encode(), message, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={digest}"


def write_atomically(path: Path, body: bytes) -> None:
    """Replace `path` with `body` so that no reader ever sees a partial file; mode 0600."""
    folder = path.parent
    fd, temp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    # The rename itself must survive a crash too.
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class ApiKeys:
    """The keys allowed to `GET /token`, held only as keyed hashes.

    A presented key is hashed the same way and compared with every stored hash in constant
    time, so neither the answer nor its timing tells which key (or how much of one) matched.
    The fingerprint recorded for a fetch is a prefix of that hash: it names the key without
    revealing it.
    """

    def __init__(self, keys: tuple[SecretStr, ...], secret_key: SecretStr) -> None:
        self._hmac_key = derive_key(secret_key.get_secret_value(), info=_KEY_FINGERPRINT_INFO)
        self._hashes = tuple(self._hash(k.get_secret_value()) for k in keys)

    def __bool__(self) -> bool:
        return bool(self._hashes)

    def _hash(self, key: str) -> bytes:
        return hmac.new(self._hmac_key, key.encode("utf-8"), hashlib.sha256).digest()

    def fingerprint_of(self, presented: str | None) -> str | None:
        """The fingerprint of the matching key, or None (missing, malformed or wrong)."""
        if not presented or not self._hashes:
            return None
        digest = self._hash(presented)
        found = None
        for known in self._hashes:
            if hmac.compare_digest(digest, known):
                found = known
        return None if found is None else found.hex()[:12]


def bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


@dataclass
class Handover:
    """One token's way to the trading system, shown in one channel message updated in
    place: each sink's outcome, then "trading can resume"."""

    app: TokenApp
    issued_at: datetime
    file: str | None = None
    webhook: str | None = None
    webhook_detail: str | None = None
    # When the webhook's first attempt was made (earlier than now when resumed).
    webhook_started: datetime | None = None
    message: PostedMessage | None = None
    # The way back, when this token follows a change: "IPs changed …", "Logged in …".
    story: tuple[str, ...] = ()
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def finished(self) -> bool:
        return self.webhook not in ("delivering",)

    @property
    def complete(self) -> bool:
        """Every configured sink has the token."""
        sinks = self.app.sinks
        file_ok = sinks.file is None or self.file == "written"
        webhook_ok = sinks.webhook is None or self.webhook == "delivered"
        return file_ok and webhook_ok

    def text(self) -> str:
        sinks = self.app.sinks
        lines = list(self.story)
        lines.append(
            f"Token hand-over for app {self.app.name} (issued {format_ist(self.issued_at)}):"
        )
        if sinks.file is not None:
            written = "written" if self.file == "written" else "could not be written"
            lines.append(f"• token file {written}")
        if sinks.api_keys:
            lines.append(f"• GET /token serves it to {len(sinks.api_keys)} key(s)")
        if sinks.webhook is not None:
            said = {
                "delivering": "delivering…",
                "delivered": "accepted",
                "gave_up": "not accepted; the bot stopped retrying",
                "superseded": "not sent: a newer token replaced it",
            }.get(self.webhook or "", "pending")
            detail = f" ({self.webhook_detail})" if self.webhook_detail else ""
            lines.append(f"• webhook ({sinks.webhook.host}) {said}{detail}")
        if self.complete:
            lines.append(":white_check_mark: Trading can resume.")
        elif not self.finished:
            lines.append(":hourglass_flowing_sand: Waiting for the trading system.")
        elif self.webhook != "superseded":
            lines.append(":warning: The trading system has not got this token.")
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class AppDeliveries:
    """For status and the App Home: the last hand-over per sink and the last pickup."""

    app: str
    sinks: tuple[str, ...]
    last: Mapping[str, DeliveryRecord]
    last_pickup: DeliveryRecord | None
    # A trading system's app: its own token's state (the bot's own is shown elsewhere).
    token: TokenStatus | None = None

    def describe(self) -> str:
        """One line, plain text (no Slack markup, nothing secret)."""
        token = "" if self.token is None else f"Upstox app {self.app}: {self.token.describe()}."
        if not self.sinks:
            return token
        delivery = self._describe_sinks()
        return f"{token} {delivery}" if token else delivery

    def _describe_sinks(self) -> str:
        parts = []
        for sink in self.sinks:
            record = self.last.get(sink)
            label = {SINK_FILE: "file", SINK_API: "GET /token", SINK_WEBHOOK: "webhook"}[sink]
            if sink == SINK_API:
                pickup = self.last_pickup
                if pickup is None:
                    parts.append(f"{label}: not fetched yet")
                else:
                    parts.append(
                        f"{label}: last fetched by key {pickup.key_fingerprint} "
                        f"{format_ist(pickup.at)}"
                    )
                continue
            if record is None:
                parts.append(f"{label}: nothing delivered yet")
                continue
            attempt = f", attempt {record.attempt}" if sink == SINK_WEBHOOK else ""
            detail = f" ({record.detail}{attempt})" if sink == SINK_WEBHOOK else ""
            parts.append(f"{label}: {record.outcome}{detail} {format_ist(record.at)}")
        return f"Token delivery ({self.app}): " + "; ".join(parts) + "."


@dataclass(frozen=True, slots=True)
class FetchAnswer:
    """What `GET /token` answers: a status and a JSON body (None: an empty body)."""

    status: int
    body: dict[str, Any] | None = None


class FetchRefused(Exception):
    def __init__(self, status: int, body: dict[str, Any] | None = None) -> None:
        super().__init__(status)
        self.answer = FetchAnswer(status, body)


def parse_wait(raw: str | None) -> float:
    if raw is None or raw == "":
        return 0.0
    try:
        wait = float(raw)
    except ValueError:
        wait = -1.0
    if not 0 <= wait <= MAX_WAIT_SECONDS:
        raise FetchRefused(400, {"error": "bad_wait", "message": "wait is seconds, from 0 to 300"})
    return wait


def parse_after(raw: str | None) -> datetime | None:
    if not raw:
        return None
    # An unencoded "+05:30" arrives as " 05:30" (a "+" in a query string is a space).
    text = raw.strip().replace(" ", "+")
    try:
        after = datetime.fromisoformat(text)
    except ValueError:
        after = None
    if after is None or after.tzinfo is None:
        raise FetchRefused(
            400,
            {"error": "bad_after", "message": "after is an issued_at value (ISO-8601, offset)"},
        )
    return after


class _Waiters:
    """Wakes every waiting fetch when a token is stored on this replica."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def wait(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._event.wait()


class TokenDelivery:
    """Every app's sinks: deliver after a login, serve `GET /token`, retry the webhook."""

    def __init__(
        self,
        *,
        account: str,
        apps: tuple[TokenApp, ...],
        db: Database,
        tokens: TokenService,
        alerts: Alerts,
        channel: SlackChannel,
        secret_key: SecretStr,
        clock: Clock,
        webhook_give_up: timedelta = timedelta(minutes=30),
        pickup_alert_after: timedelta = timedelta(minutes=15),
        http: httpx.AsyncClient | None = None,
        app_tokens: Mapping[str, TokenService] | None = None,
    ) -> None:
        self._account = account
        self.apps = {app.name: app for app in apps}
        self._db = db
        self._tokens = tokens
        # Each app's own token; the first app (the bot's own) has `tokens`.
        self._app_tokens = dict(app_tokens or {})
        self._alerts = alerts
        self._channel = channel
        self._clock = clock
        self._keys = {app.name: ApiKeys(app.sinks.api_keys, secret_key) for app in apps}
        self._waiters = _Waiters()
        # Fetches holding a `wait` right now.
        self.waiting = 0
        self._closing = False
        self._webhooks: dict[str, asyncio.Task[None]] = {}
        self._webhook_lock = asyncio.Lock()
        self.webhook_give_up = webhook_give_up
        self.pickup_alert_after = pickup_alert_after
        # Backoff between webhook attempts: base × 2^(attempt-1), capped.
        self.backoff_base = 2.0
        self.backoff_cap = 300.0
        # Made at the first webhook POST: most set-ups have no webhook, and each client
        # loads the CA bundle (tens of ms and about a MB at start-up).
        self._http = http
        for app in apps:
            secrets: list[str | None] = [k.get_secret_value() for k in app.sinks.api_keys]
            if app.sinks.webhook is not None:
                secrets.append(app.sinks.webhook.secret.get_secret_value())
                # httpx logs the URL it POSTs to: a credential in it must not reach the log.
                url = urlsplit(app.sinks.webhook.url)
                secrets += [url.password, url.query]
            redactor.add(secret for secret in secrets if secret)

    @property
    def own_app(self) -> TokenApp:
        return next(iter(self.apps.values()))

    def tokens_of(self, app: TokenApp) -> TokenService:
        """The token service of `app` (the bot's own unless it is a trading system's)."""
        return self._app_tokens.get(app.name, self._tokens)

    async def report(self) -> tuple[AppDeliveries, ...]:
        """Per app with sinks: the last record of each sink and the last pickup; for each
        trading system's app also its token's state."""
        reports = []
        for app in self.apps.values():
            own = app is self.own_app
            if own and not app.sinks.names:
                continue
            last = await self._db.deliveries.latest_per_sink(self._account, app.name)
            pickup = await self._db.deliveries.latest(
                self._account, app.name, sink=SINK_API, outcome="fetched"
            )
            token = None if own else await self.tokens_of(app).status()
            reports.append(AppDeliveries(app.name, app.sinks.names, last, pickup, token))
        return tuple(reports)

    # After a login ---------------------------------------------------------------------

    async def deliver(self, app_name: str | None = None) -> Handover | None:
        """Hand the app's current token to each of its sinks; never raises.

        The file is written before this returns; waiting fetches are woken; the webhook
        runs in the background (it may retry for up to `webhook_give_up`). The returned
        hand-over is what `announce` shows in the channel.
        """
        app = self.apps[app_name] if app_name else self.own_app
        self._waiters.notify()
        try:
            status, token = await self.tokens_of(app).current()
            if token is None:
                return None
            handover = Handover(app, token.obtained_at)
            payload = token_json(app, token, status)
            if app.sinks.file is not None:
                handover.file = await self._write_file(
                    app, app.sinks.file, payload, token.obtained_at
                )
            if app.sinks.webhook is not None:
                handover.webhook = "delivering"
                await self._start_webhook(app, app.sinks.webhook, payload, handover)
        except Exception:
            # The token is stored; a failed hand-over is recorded and alerted, not raised.
            log.exception("token delivery for app %s failed", app.name)
            return None
        return handover if app.sinks.names else None

    async def announce(
        self, handover: Handover | None, *, logged_in: str, morning: bool = False
    ) -> None:
        """Post the hand-over message (updated in place as the webhook finishes).

        The first hand-over after an IP change goes into the approval card's thread (and
        to the channel too), telling the way back: IPs changed → logged out → `logged_in`
        → each sink → "trading can resume". The token of the morning request goes into the
        morning message's thread the same way.
        """
        if handover is None:
            return
        change = await self._change_to_recover_from(handover.app)
        thread_ts = None
        if change is not None and change.applied_at is not None:
            thread_ts = change.card_ts
            handover.story = (
                f":arrows_counterclockwise: IPs changed {format_ist(change.applied_at)} "
                f"(request {change.id}): Upstox logged out every session of the user.",
                logged_in,
            )
        elif morning and (posted := await self._morning_message()) is not None:
            thread_ts = posted
            handover.story = (":sunrise: The morning Access Token Request was approved.", logged_in)
        async with handover.lock:
            try:
                handover.message = await self._channel.post(handover.text(), thread_ts=thread_ts)
            except Exception:
                log.exception("could not post the token hand-over")
                return
        if change is not None:
            await self._record(handover.app, SINK_CHANNEL, "announced", None, detail=change.id)

    async def morning_posted(self, message: PostedMessage) -> None:
        """Remember today's morning message, so its token's hand-over threads under it."""
        await self._record(self.own_app, SINK_CHANNEL, "morning", None, detail=message.ts)

    async def _morning_message(self) -> str | None:
        posted = await self._db.deliveries.latest(
            self._account, self.own_app.name, sink=SINK_CHANNEL, outcome="morning"
        )
        if posted is None or self._clock() - posted.at > RECOVERY_WINDOW:
            return None
        return posted.detail

    async def _change_to_recover_from(self, app: TokenApp) -> ChangeRequest | None:
        """The latest applied change with a card, if recent and `app` has not yet told the
        way back from it (every app's first hand-over after a change goes in its thread)."""
        applied = await self._db.requests.list_in_state(RequestState.APPLIED, account=self._account)
        dated = [r for r in applied if r.applied_at is not None and r.card_ts is not None]
        if not dated:
            return None
        latest = max(dated, key=lambda r: r.applied_at or self._clock())
        assert latest.applied_at is not None
        if self._clock() - latest.applied_at > RECOVERY_WINDOW:
            return None
        announced = await self._db.deliveries.latest(
            self._account, app.name, sink=SINK_CHANNEL, outcome="announced"
        )
        if announced is not None and announced.detail == latest.id:
            return None
        return latest

    async def _progress(self, handover: Handover) -> None:
        async with handover.lock:
            if handover.message is None:
                return  # not announced yet: `announce` will show the outcome
            try:
                await self._channel.update(handover.message, handover.text())
            except Exception:
                log.exception("could not update the token hand-over")

    async def _write_file(
        self, app: TokenApp, path: Path, payload: dict[str, Any], issued_at: datetime
    ) -> str:
        try:
            await asyncio.to_thread(write_atomically, path, encode(payload) + b"\n")
        except OSError as exc:
            log.warning("could not write the token file %s: %s", path, type(exc).__name__)
            await self._record(app, SINK_FILE, "failed", issued_at, detail=type(exc).__name__)
            return "failed"
        await self._record(app, SINK_FILE, "written", issued_at, detail=str(path))
        return "written"

    # Catching up ------------------------------------------------------------------------

    async def resume(self) -> None:
        """At start-up and periodically: finish a webhook delivery of the current token
        that a stopped (or crashed) process left unfinished. One replica claims it; the
        give-up limit still counts from the first attempt."""
        for app in self.apps.values():
            target = app.sinks.webhook
            if target is None:
                continue
            status, token = await self.tokens_of(app).current()
            if token is None:
                continue
            records = [
                r
                for r in await self._db.deliveries.history(
                    self._account, app.name, sink=SINK_WEBHOOK
                )
                if r.token_issued_at == token.obtained_at
            ]
            if not records or any(r.outcome in _WEBHOOK_DONE for r in records):
                continue
            running = self._webhooks.get(app.name)
            if running is not None and not running.done():
                continue
            # A live replica records an attempt at least every backoff cap + timeout; only a
            # delivery stopped on purpose (interrupted) or silent for longer is taken over.
            quiet = self._clock() - records[-1].at
            limit = timedelta(seconds=self.backoff_cap + WEBHOOK_TIMEOUT_SECONDS + 30)
            if records[-1].outcome != "interrupted" and quiet <= limit:
                continue
            marker = hashlib.sha256(f"{app.name}\n{token.obtained_at.isoformat()}".encode())
            job = f"webhook_resume:{marker.hexdigest()[:32]}"
            now = self._clock()
            if not await self._db.daily_runs.claim(job, self._account, to_ist(now).date()):
                continue
            log.info("resuming the token webhook delivery for app %s", app.name)
            handover = Handover(app, token.obtained_at, webhook="delivering")
            handover.webhook_started = records[0].at
            await self._start_webhook(app, target, token_json(app, token, status), handover)

    # Catching up (a periodic job) -------------------------------------------------------

    async def sync_files(self) -> None:
        """Write the current token to this host's TOKEN_FILE if it holds another one.

        The login lands on one replica; replicas on other hosts (sharing PostgreSQL) bring
        their own file up to date here, within one check interval.
        """
        for app in self.apps.values():
            status, token = await self.tokens_of(app).current()
            path = app.sinks.file
            if (
                token is None
                or path is None
                or await asyncio.to_thread(_file_issued_at, path) == token.obtained_at
            ):
                continue
            await self._write_file(app, path, token_json(app, token, status), token.obtained_at)

    # The pickup check (a periodic job) --------------------------------------------------

    async def pickup_check(self) -> None:
        """One alert when a fresh token has not been picked up (no GET /token fetch, no
        webhook 2xx) within `pickup_alert_after`; cleared once when it is. Apps whose only
        sink is the file are not checked: nothing tells when a file was read."""
        for app in self.apps.values():
            if not (app.sinks.api_keys or app.sinks.webhook):
                continue
            _, token = await self.tokens_of(app).current()
            condition = f"{NOT_PICKED_UP}:{app.name}"
            if token is None:
                # Logged out: the token-dead alert says what to do; this one is moot.
                await self._alerts.clear(condition, None)
                continue
            pickup = await self._db.deliveries.first_pickup(
                self._account, app.name, token_issued_at=token.obtained_at
            )
            if pickup is not None:
                await self._alerts.clear(condition, _picked_up_text(app, pickup))
            elif self._clock() - token.obtained_at >= self.pickup_alert_after:
                await self._alerts.start(
                    condition,
                    _not_picked_up_text(app, token.obtained_at, self.pickup_alert_after),
                    details={"app": app.name},
                )

    # GET /token ------------------------------------------------------------------------

    async def fetch(
        self,
        *,
        app_name: str | None,
        authorization: str | None,
        wait: str | None,
        after: str | None,
    ) -> FetchAnswer:
        """The token for a consumer holding a key; see the module docstring."""
        app = self.apps.get(app_name) if app_name else self.own_app
        keys = self._keys.get(app.name) if app is not None else None
        fingerprint = keys.fingerprint_of(bearer(authorization)) if keys else None
        if app is None or fingerprint is None:
            # Say nothing else: not whether the app exists, not whether keys are set.
            return FetchAnswer(401)
        try:
            seconds = parse_wait(wait)
            newer_than = parse_after(after)
        except FetchRefused as refused:
            return refused.answer
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        self.waiting += 1
        try:
            while True:
                status, token = await self.tokens_of(app).current()
                fresh = token is not None and (newer_than is None or token.obtained_at > newer_than)
                remaining = deadline - loop.time()
                if fresh or remaining <= 0:
                    break
                await self._waiters.wait(min(remaining, WAIT_POLL_SECONDS))
        finally:
            self.waiting -= 1
        if token is None:
            await self._record(app, SINK_API, "no_token", None, key_fingerprint=fingerprint)
            since = await self._since(app)
            return FetchAnswer(503, {"error": "no_valid_token", "since": since})
        await self._record(app, SINK_API, "fetched", token.obtained_at, key_fingerprint=fingerprint)
        return FetchAnswer(200, token_json(app, token, status))

    async def _since(self, app: TokenApp) -> str | None:
        """When the app last stopped having a valid token (None: it never had one)."""
        stored = await self._db.tokens.get(self._account, app.name)
        if stored is None:
            return None
        moment = min(stored.updated_at, stored.expires_at)
        return moment.astimezone(IST).isoformat()

    # The webhook -----------------------------------------------------------------------

    async def _start_webhook(
        self, app: TokenApp, target: WebhookTarget, payload: dict[str, Any], handover: Handover
    ) -> None:
        """Replace any delivery still in flight for the app (its token is older)."""
        async with self._webhook_lock:
            previous = self._webhooks.pop(app.name, None)
            if previous is not None and not previous.done():
                previous.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await previous
            self._webhooks[app.name] = asyncio.create_task(
                self._webhook(app, target, payload, handover), name=f"webhook:{app.name}"
            )

    async def _webhook(
        self, app: TokenApp, target: WebhookTarget, payload: dict[str, Any], handover: Handover
    ) -> None:
        try:
            outcome, detail = await self._webhook_attempts(app, target, payload, handover)
        except asyncio.CancelledError:
            if self._closing:
                # Shutting down: recorded as interrupted, so the next start resumes it.
                await asyncio.shield(
                    self._record(app, SINK_WEBHOOK, "interrupted", handover.issued_at)
                )
                raise
            # Replaced by a newer token's delivery on this replica.
            handover.webhook = "superseded"
            await asyncio.shield(self._finish(app, handover, None))
            raise
        except Exception:
            log.exception("token webhook delivery for app %s failed", app.name)
            outcome, detail = "gave_up", "error"
        handover.webhook, handover.webhook_detail = outcome, detail
        await self._finish(app, handover, outcome)

    async def _finish(self, app: TokenApp, handover: Handover, outcome: str | None) -> None:
        try:
            if outcome is None:
                await self._record(app, SINK_WEBHOOK, "superseded", handover.issued_at)
            await self._progress(handover)
        except Exception:
            log.exception("could not record the end of a webhook delivery")

    async def _webhook_attempts(
        self, app: TokenApp, target: WebhookTarget, payload: dict[str, Any], handover: Handover
    ) -> tuple[str, str | None]:
        """Until a 2xx, a newer token, or the give-up limit; returns (outcome, detail)."""
        issued_at = handover.issued_at
        body = encode(payload)
        started = handover.webhook_started or self._clock()
        attempt = 0
        while True:
            attempt += 1
            if not await self._still_current(app, payload["access_token"]):
                await self._record(app, SINK_WEBHOOK, "superseded", issued_at, attempt=attempt)
                return "superseded", None
            detail = await self._post(target, body)
            if detail is None:
                await self._record(
                    app, SINK_WEBHOOK, "delivered", issued_at, attempt=attempt, detail="2xx"
                )
                await self._webhook_recovered(app, target, issued_at)
                return "delivered", f"attempt {attempt}"
            await self._record(
                app, SINK_WEBHOOK, "failed", issued_at, attempt=attempt, detail=detail
            )
            if self._clock() - started >= self.webhook_give_up:
                await self._record(app, SINK_WEBHOOK, "gave_up", issued_at, attempt=attempt)
                await self._webhook_down(app, target, issued_at, detail)
                return "gave_up", f"last answer: {detail}"
            delay = min(self.backoff_base * 2 ** (attempt - 1), self.backoff_cap)
            await asyncio.sleep(delay)

    async def _post(self, target: WebhookTarget, body: bytes) -> str | None:
        """None on a 2xx, else what went wrong (a status or an error class, no secrets)."""
        timestamp = str(int(self._clock().timestamp()))
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(target.secret, timestamp, body),
        }
        try:
            if self._http is None:
                self._http = httpx.AsyncClient(
                    timeout=WEBHOOK_TIMEOUT_SECONDS, follow_redirects=False
                )
            answer = await self._http.post(target.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return type(exc).__name__
        if 200 <= answer.status_code < 300:
            return None
        return f"HTTP {answer.status_code}"

    async def _still_current(self, app: TokenApp, access_token: str) -> bool:
        """Is this still the app's valid token? (A newer login, here or on another replica,
        or a logout, ends the delivery of this one.)"""
        _, token = await self.tokens_of(app).current()
        return token is not None and hmac.compare_digest(
            token.secret.get_secret_value(), access_token
        )

    async def _webhook_down(
        self, app: TokenApp, target: WebhookTarget, issued_at: datetime, detail: str
    ) -> None:
        minutes = int(self.webhook_give_up.total_seconds() // 60)
        text = (
            f":warning: The trading system's token webhook ({target.host}) did not accept "
            f"the Upstox token issued {format_ist(issued_at)} for app {app.name} within "
            f"{minutes} minutes (last answer: {detail}); the bot stopped retrying. Fix the "
            "consumer, then let it fetch the token with GET /token, or log in again to "
            "deliver a new one."
        )
        try:
            await self._alerts.start(WEBHOOK_DOWN, text, details={"app": app.name})
        except Exception:
            log.exception("could not post the webhook alert")

    async def _webhook_recovered(
        self, app: TokenApp, target: WebhookTarget, issued_at: datetime
    ) -> None:
        text = (
            f":white_check_mark: The token webhook ({target.host}) accepted the Upstox token "
            f"issued {format_ist(issued_at)} for app {app.name}."
        )
        try:
            await self._alerts.clear(WEBHOOK_DOWN, text)
        except Exception:
            log.exception("could not post the webhook recovery")

    # Records ---------------------------------------------------------------------------

    async def _record(
        self,
        app: TokenApp,
        sink: str,
        outcome: str,
        issued_at: datetime | None,
        *,
        attempt: int = 1,
        detail: str | None = None,
        key_fingerprint: str | None = None,
    ) -> None:
        await self._db.deliveries.record(
            account=self._account,
            app=app.name,
            sink=sink,
            outcome=outcome,
            token_issued_at=issued_at,
            attempt=attempt,
            detail=detail,
            key_fingerprint=key_fingerprint,
            at=self._clock(),
        )

    async def idle(self) -> None:
        """Wait for every webhook delivery in flight (tests, shutdown)."""
        tasks = [t for t in self._webhooks.values() if not t.done()]
        await asyncio.gather(*tasks, return_exceptions=True)

    async def aclose(self) -> None:
        self._closing = True
        tasks = list(self._webhooks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.aclose()


def _not_picked_up_text(app: TokenApp, issued_at: datetime, after: timedelta) -> str:
    minutes = int(after.total_seconds() // 60)
    ways = []
    if app.sinks.api_keys:
        ways.append("no GET /token fetch")
    if app.sinks.webhook is not None:
        ways.append("no webhook 2xx")
    return (
        f":warning: Nobody has picked up the Upstox token for app {app.name} issued "
        f"{format_ist(issued_at)} ({' and '.join(ways)} within {minutes} minutes). The "
        "trading system may still be logged out: check that it fetches GET /token with its "
        "key, or that its webhook answers 2xx."
    )


def _picked_up_text(app: TokenApp, pickup: DeliveryRecord) -> str:
    how = (
        f"fetched by key {pickup.key_fingerprint}"
        if pickup.sink == SINK_API
        else "accepted by the webhook"
    )
    return (
        f":white_check_mark: The Upstox token for app {app.name} was picked up: {how} "
        f"{format_ist(pickup.at)}."
    )


def _file_issued_at(path: Path) -> datetime | None:
    """The issued_at of the token in `path`, or None (missing, unreadable, not ours)."""
    try:
        issued = json.loads(path.read_bytes()).get("issued_at")
        return datetime.fromisoformat(issued) if isinstance(issued, str) else None
    except (OSError, ValueError, AttributeError):
        return None
