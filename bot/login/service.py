"""Getting the bot logged back in to Upstox.

Two ways in, both ending in `TokenService.store` and one confirmation in the channel:

- OAuth: a login link to Upstox's authorization dialog carries a `state` that is random,
  stored (single use, short-lived, bound to the account and to who asked) and signed, so a
  forged state is refused before the database is touched. The callback consumes the state
  exactly once, exchanges the code once, checks the new token with a profile call and
  stores it.
- Access Token Request: the user approves on the phone and Upstox POSTs the token to the
  notifier webhook. That webhook has no signature, so it is accepted only for our
  client_id, only while a request the bot started is outstanding, and only after the
  token passed a profile call.

Every login is for one Upstox app of the account (`Settings.upstox_apps`): the signed
state names the app (and the stored state row is bound to it), the code is exchanged with
that app's key and secret, the notifier routes a token by its `client_id`, and the token is
stored for that app only. Only the bot's own app's token (`default`) is used for the IP API.

`LoginAlerts` owns the "logged out" alert (one per outage, with a fresh login link); its
callers are the apply flow after a change and the watcher's token check — never a read.
After a login, `LoginService._logged_in` is the whole sequence, top to bottom: store the
token, deliver it to the trading system's sinks (`bot.login.delivery`), confirm in the
channel (clearing the alert), finish a change that waited for this login, refresh the App
Home.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from pydantic import SecretStr, ValidationError

from bot.config import OWN_APP_NAME, Settings, UpstoxApp
from bot.errors import UserFacingError
from bot.ist import Clock, format_ist
from bot.log import redactor
from bot.login.access import LoginAccess
from bot.login.delivery import TokenDelivery
from bot.login.tokens import NotLoggedIn, TokenDeath, TokenService, TokenStatus
from bot.slack.alerts import Alerts
from bot.slack.channel import Blocks, SlackChannel
from bot.store.crypto import derive_key
from bot.store.database import Database
from bot.store.models import AuditEvent, OAuthState, TokenRequest, TokenSource, TokenState
from bot.upstox import NotifierPayload, Profile, UpstoxClient, UpstoxError, UpstoxTokenInvalid
from bot.upstox_messages import describe_upstox_error

log = logging.getLogger(__name__)

TOKEN_DEAD = "token_dead"  # noqa: S105 - an alert condition, not a secret
# Who asked, for links posted in the channel by an alert rather than for one person.
ALERT_REQUESTER = "alert"
# Who asked, for the Access Token Request the bot starts by itself each trading morning.
MORNING_REQUESTER = "morning"
LINK_TTL = timedelta(minutes=10)
# A channel alert is often read hours after it was posted (the daily expiry is at 03:30
# IST), so its link lives longer; it is still single-use, signed and bound to the account,
# and the callback refuses a login as a different Upstox user than the last one.
ALERT_LINK_TTL = timedelta(hours=12)
STATE_RETENTION = timedelta(days=1)
UNREADABLE_REASON = "the stored token cannot be decrypted (was BOT_SECRET_KEY changed?)"
NOTIFIER_MESSAGE_TYPE = "access_token"

_STATE_KEY_INFO = b"staticip-bot/oauth-state/v1"
_STATE_SEPARATOR = "."


@dataclass(frozen=True, slots=True)
class LoginLink:
    """A URL to Upstox's login dialog. It holds a signed state, never a token."""

    url: str
    expires_at: datetime
    requested_by: str
    app: str = OWN_APP_NAME


@dataclass(frozen=True, slots=True)
class LoginResult:
    user_id: str
    requested_by: str
    via: TokenSource
    app: str = OWN_APP_NAME


class LoginRefused(Exception):
    """A login attempt that changed nothing. `public_message` is safe to show anyone."""

    def __init__(self, public_message: str, *, reason: str, status: int = 400) -> None:
        super().__init__(public_message)
        self.public_message = public_message
        self.reason = reason
        self.status = status


class LoginMessages(Protocol):
    """How the channel hears about the token; implemented with Block Kit in bot/slack."""

    def token_dead(
        self, death: TokenDeath, link: LoginLink, others: Sequence[LoginLink] = ()
    ) -> tuple[str, Blocks | None]: ...

    def logged_in(self, result: LoginResult) -> tuple[str, Blocks | None]: ...


class Reconciler(Protocol):
    """Finishes a change that waited for a login (the change-request service); told who
    logged in, so the change's thread can say so."""

    async def reconcile_soon(self, login: LoginResult | None = None) -> None: ...


class HomeRefresh(Protocol):
    """Re-publishes the App Home for recent viewers (the Home publisher)."""

    def refresh_soon(self) -> None: ...


class StateSigner:
    """`<nonce>.<slack user>.<HMAC-SHA256(nonce, account, user)>`, base64url, no padding;
    for a trading system's app `<nonce>.<slack user>.<app>.<HMAC(nonce, account, user,
    app)>`.

    The Slack user (and the app) ride in the state so the signature can be checked before
    any database read; the account does not (it is this bot's own), so a state minted for
    another account fails the signature, and one minted for app A cannot be turned into one
    for app B.
    """

    def __init__(self, secret: SecretStr, account: str) -> None:
        self._key = derive_key(secret.get_secret_value(), info=_STATE_KEY_INFO)
        self._account = account

    def sign(self, nonce: str, user: str, app: str = OWN_APP_NAME) -> str:
        bound = (nonce, user) if app == OWN_APP_NAME else (nonce, user, app)
        return _STATE_SEPARATOR.join((*bound, self._mac(*bound)))

    def verify(self, state: str) -> tuple[str, str, str] | None:
        """(nonce, user, app) if the signature is ours for this account, else None."""
        parts = state.split(_STATE_SEPARATOR)
        if len(parts) not in (3, 4) or not all(parts) or len(state) > 512:
            return None
        *bound, mac = parts
        if not hmac.compare_digest(mac.encode("ascii", "replace"), self._mac(*bound).encode()):
            return None
        app = bound[2] if len(bound) == 3 else OWN_APP_NAME
        return bound[0], bound[1], app

    def _mac(self, nonce: str, user: str, *app: str) -> str:
        message = "\n".join((nonce, self._account, user, *app)).encode("utf-8")
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class LoginLinks:
    """Single-use, signed links to Upstox's login dialog."""

    def __init__(
        self,
        *,
        settings: Settings,
        db: Database,
        upstox: UpstoxClient,
        secret_key: SecretStr,
        clock: Clock,
        access: LoginAccess | None = None,
    ) -> None:
        self._settings = settings
        self._account = settings.account
        self._db = db
        self._upstox = upstox
        self.signer = StateSigner(secret_key, self._account)
        self._clock = clock
        self._access = access
        # Every Upstox app of the account, the bot's own (`default`) first.
        self.apps: dict[str, UpstoxApp] = {app.name: app for app in settings.upstox_apps}

    def app(self, name: str) -> UpstoxApp:
        """The configured app called `name`, or a `UserFacingError` naming those there are."""
        app = self.apps.get(name)
        if app is None:
            known = ", ".join(f"`{n}`" for n in self.apps)
            shown = name[:40].replace("`", "")
            raise UserFacingError(f"There is no Upstox app `{shown}`. The apps are: {known}.")
        return app

    async def check_may_log_in(self, slack_user: str) -> None:
        """Raise a `UserFacingError` unless this Slack user may log the bot in (the channel
        alert's link, `ALERT_REQUESTER`, is for whoever is in the approvals channel)."""
        if self._access is not None and slack_user != ALERT_REQUESTER:
            await self._access.check(slack_user)

    @property
    def redirect_uri(self) -> str:
        return str(self._settings.upstox_redirect_uri)

    async def login_link(
        self, requested_by: str, *, ttl: timedelta = LINK_TTL, app: str = OWN_APP_NAME
    ) -> LoginLink:
        """A fresh single-use link to Upstox's login dialog for `requested_by`, for the
        Upstox app `app` (its token is stored for that app only).

        `requested_by` is the Slack user id, or `ALERT_REQUESTER` for a channel alert.
        """
        upstox_app = self.app(app)
        await self.check_may_log_in(requested_by)
        now = self._clock()
        # Housekeeping: used and expired states are worthless after a day.
        await self._db.oauth_states.purge(now - STATE_RETENTION)
        row = await self._db.oauth_states.create(
            self._account, requested_by, ttl=ttl, now=now, app=app
        )
        url = self._upstox.authorization_url(
            client_id=upstox_app.client_id,
            redirect_uri=str(upstox_app.redirect_uri),
            state=self.signer.sign(row.nonce, requested_by, app),
        )
        return LoginLink(url=url, expires_at=row.expires_at, requested_by=requested_by, app=app)


class LoginAlerts:
    """The channel's "logged out" alert (one per outage) and the login confirmation."""

    def __init__(
        self,
        *,
        links: LoginLinks,
        alerts: Alerts,
        channel: SlackChannel,
        messages: LoginMessages,
    ) -> None:
        self._links = links
        self._alerts = alerts
        self._channel = channel
        self._messages = messages

    async def logged_out(self, death: TokenDeath) -> bool:
        """Post the alert with a fresh login link, unless one is up already."""
        if await self._alerts.is_active(TOKEN_DEAD):
            return False
        link = await self._links.login_link(ALERT_REQUESTER, ttl=ALERT_LINK_TTL)
        # Every trading system's app died too (a change, the 03:30 IST expiry): a link each.
        others = [
            await self._links.login_link(ALERT_REQUESTER, ttl=ALERT_LINK_TTL, app=name)
            for name in self._links.apps
            if name != OWN_APP_NAME
        ]
        text, blocks = self._messages.token_dead(death, link, others)
        return await self._alerts.start(
            TOKEN_DEAD, text, blocks, details={"reason": death.reason, "state": death.state.value}
        )

    def confirmation(self, result: LoginResult) -> str:
        """The one line that says who logged in, and how."""
        return self._messages.logged_in(result)[0]

    async def logged_in(self, result: LoginResult) -> None:
        """Clear the alert with the confirmation (or just confirm); never raises."""
        text, blocks = self._messages.logged_in(result)
        try:
            # The alert is about the bot's own app; a trading app's login is just confirmed.
            own = result.app == OWN_APP_NAME
            if not (own and await self._alerts.clear(TOKEN_DEAD, text, blocks)):
                await self._channel.post(text, blocks)
        except Exception:
            # The token is stored; a lost confirmation must not turn the login into a failure.
            log.exception("could not post the login confirmation")


def death_of(status: TokenStatus) -> TokenDeath | None:
    """What killed the token, if it is dead (None while valid or never logged in)."""
    if status.health == "unreadable":
        return TokenDeath(TokenState.INVALIDATED, UNREADABLE_REASON)
    if status.health == "expired":
        return TokenDeath(TokenState.EXPIRED, status.reason or "the daily 03:30 IST expiry")
    if status.health == "invalidated":
        return TokenDeath(TokenState.INVALIDATED, status.reason or "invalidated by Upstox")
    return None


class LoginService:
    """The two ways back in: the OAuth callback and the Access Token Request."""

    def __init__(
        self,
        *,
        settings: Settings,
        db: Database,
        upstox: UpstoxClient,
        tokens: TokenService,
        links: LoginLinks,
        alerts: LoginAlerts,
        reconciler: Reconciler,
        home: HomeRefresh,
        clock: Clock,
        delivery: TokenDelivery,
        app_tokens: Mapping[str, TokenService] | None = None,
    ) -> None:
        self._settings = settings
        self._account = settings.account
        self._db = db
        self._upstox = upstox
        self._tokens = tokens
        self._delivery = delivery
        self._links = links
        self._alerts = alerts
        self._reconciler = reconciler
        self._home = home
        self._signer = links.signer
        self._clock = clock
        # Each app's token; the bot's own is `tokens` (the one the IP API is called with).
        self._app_tokens = {OWN_APP_NAME: tokens, **(app_tokens or {})}

    # The Upstox user this bot manages ---------------------------------------------------

    async def managed_user(self) -> str | None:
        """UPSTOX_USER_ID, else the user of the stored token (learnt from Upstox now if it
        was seeded without one); None while nothing is known."""
        if self._settings.upstox_user_id:
            return self._settings.upstox_user_id
        stored = await self._db.tokens.get(self._account)
        if stored is None:
            return None
        return stored.user_id or await self.learn_seeded_user()

    async def learn_seeded_user(self) -> str | None:
        """Record who a token stored without a user (UPSTOX_ACCESS_TOKEN) belongs to, from a
        profile call. Best effort: when Upstox does not answer it is tried again at the next
        token check or login. Returns the user, when known."""
        if self._settings.upstox_user_id:
            return self._settings.upstox_user_id  # configured: nothing to learn
        stored = await self._db.tokens.get(self._account)
        if stored is None or stored.user_id is not None:
            return stored.user_id if stored is not None else None
        try:
            token = await self._tokens.usable()
            profile = await self._upstox.get_profile(token.secret)
        except (NotLoggedIn, UpstoxError) as exc:
            log.info("the seeded token's Upstox user is not known yet: %s", type(exc).__name__)
            return None
        await self._tokens.record_user(profile.user_id, token)
        return profile.user_id

    # The OAuth callback ----------------------------------------------------------------

    async def complete_oauth(
        self,
        *,
        code: str | None,
        state: str | None,
        error: str | None = None,
        error_description: str | None = None,
    ) -> LoginResult:
        """Finish a browser login; raises `LoginRefused` (and changes nothing) otherwise."""
        if error:
            # The state is left alone: anyone who saw it could send `error=` with it, and
            # burning it would kill the alert's login link. A refused login changed nothing.
            said = f"{error}: {error_description}" if error_description else error
            raise LoginRefused(
                f"Upstox did not log you in ({said[:200]}). Nothing was changed. "
                "Run /staticip login in Slack to try again.",
                reason="upstox_error",
            )
        row = await self._consume_state(state)
        app = self._links.apps.get(row.app)
        if app is None:
            raise LoginRefused(
                "This login link is for an Upstox app the bot no longer has. Nothing was changed.",
                reason="unknown_app",
            )
        if not code:
            raise LoginRefused(
                "Upstox sent no login code. Run /staticip login in Slack for a new link.",
                reason="missing_code",
            )
        try:
            answer = await self._upstox.exchange_code(
                code=code,
                client_id=app.client_id,
                client_secret=app.client_secret,
                redirect_uri=str(app.redirect_uri),
            )
        except UpstoxError as exc:
            log.warning("Upstox refused the login code: %s", exc)
            raise LoginRefused(
                f"Upstox refused the login code ({exc}). Nothing was changed. "
                "Run /staticip login in Slack for a new link.",
                reason="exchange_failed",
                status=502,
            ) from None
        token = answer.access_token
        redactor.add([token.get_secret_value()])
        profile = await self._verified_profile(token, claimed_user=answer.user_id)
        return await self._logged_in(
            token, profile, requested_by=row.slack_user_id, via=TokenSource.OAUTH, app=app.name
        )

    async def _consume_state(self, state: str | None) -> OAuthState:
        if not state:
            raise LoginRefused(
                "This login link is incomplete (no state). Use the link from Slack.",
                reason="missing_state",
            )
        verified = self._signer.verify(state)
        if verified is None:
            log.warning("login callback with a forged or foreign state refused")
            raise LoginRefused(
                "This login link is not valid. Run /staticip login in Slack for a new one.",
                reason="forged_state",
            )
        nonce, user, app = verified
        now = self._clock()
        row = await self._db.oauth_states.consume(nonce, now=now)
        if row is None:
            raise await self._why_unusable(nonce, now)
        if row.account != self._account or row.slack_user_id != user or row.app != app:
            log.warning("login callback with a state bound elsewhere refused")
            raise LoginRefused(
                "This login link belongs to another account. Nothing was changed.",
                reason="cross_account",
            )
        return row

    async def _why_unusable(self, nonce: str, now: datetime) -> LoginRefused:
        known = await self._db.oauth_states.get(nonce)
        if known is not None and known.consumed_at is not None:
            return LoginRefused(
                "This login link was already used. Nothing was changed. "
                "Run /staticip login in Slack if you need to log in again.",
                reason="reused_state",
            )
        if known is not None and known.expires_at <= now:
            return LoginRefused(
                f"This login link expired at {format_ist(known.expires_at)}. Nothing was "
                "changed. Run /staticip login in Slack for a new one.",
                reason="expired_state",
            )
        return LoginRefused(
            "This login link is not known to the bot. Run /staticip login in Slack for a new one.",
            reason="unknown_state",
        )

    def signs(self, state: str) -> bool:
        """Whether `state` carries this account's signature."""
        return self._signer.verify(state) is not None

    def has_client(self, client_id: object) -> bool:
        return any(app.client_id == client_id for app in self._links.apps.values())

    # The Access Token Request ----------------------------------------------------------

    @property
    def app_names(self) -> tuple[str, ...]:
        """Every Upstox app of the account, the bot's own (`default`) first."""
        return tuple(self._links.apps)

    async def start_token_request(self, requested_by: str, app: str = OWN_APP_NAME) -> TokenRequest:
        """Ask Upstox to prompt the user on the phone; the token arrives on the notifier."""
        upstox_app = self._links.app(app)
        await self._links.check_may_log_in(requested_by)
        try:
            started = await self._upstox.start_access_token_request(
                client_id=upstox_app.client_id,
                client_secret=upstox_app.client_secret,
            )
        except UpstoxError as exc:
            log.warning("Access Token Request for app %s refused: %s", app, exc)
            raise UserFacingError(_token_request_error(exc), code="token_request_failed") from None
        request = await self._db.token_requests.create(
            self._account,
            requested_by,
            expires_at=started.authorization_expiry,
            now=self._clock(),
            app=app,
        )
        await self._db.audit.append(
            account=self._account,
            event=AuditEvent.TOKEN_REQUESTED,
            actor=requested_by,
            details={
                "request_id": request.id,
                "expires_at": request.expires_at.isoformat(),
                "app": app,
            },
        )
        return request

    async def start_every_token_request(
        self, requested_by: str, apps: Sequence[str] | None = None
    ) -> list[tuple[str, TokenRequest | UserFacingError]]:
        """The Access Token Request for every app (or `apps`) at once: per app the request,
        or what Upstox said. Raises only when none could be started."""
        await self._links.check_may_log_in(requested_by)
        started: list[tuple[str, TokenRequest | UserFacingError]] = []
        for name in apps if apps is not None else self.app_names:
            try:
                started.append((name, await self.start_token_request(requested_by, name)))
            except UserFacingError as error:
                started.append((name, error))
        failures = [outcome for _, outcome in started if isinstance(outcome, UserFacingError)]
        if failures and len(failures) == len(started):
            raise failures[0]
        return started

    async def accept_notifier(self, payload: Any) -> LoginResult:
        """The notifier webhook: store the token only when every check passes.

        Anyone can POST here, so nothing from the payload reaches the log redactor (that
        would let a stranger blank out words in every log line) until the token has proved
        itself with Upstox; `TokenService.store` registers it then.
        """
        if not isinstance(payload, Mapping):
            raise LoginRefused("expected a JSON object", reason="bad_payload")
        if payload.get("message_type") != NOTIFIER_MESSAGE_TYPE:
            raise LoginRefused("not an access token message", reason="wrong_message_type")
        try:
            message = NotifierPayload.model_validate(dict(payload))
        except ValidationError:
            raise LoginRefused("malformed access token message", reason="bad_payload") from None
        # Routed by client_id: each app's token is stored for that app only.
        app = next((a for a in self._links.apps.values() if a.client_id == message.client_id), None)
        if app is None:
            log.warning("notifier message for another client_id refused")
            raise LoginRefused("unknown client_id", reason="wrong_client_id")
        if not message.access_token.get_secret_value():
            raise LoginRefused("empty access token", reason="bad_payload")
        now = self._clock()
        outstanding = await self._db.token_requests.outstanding(
            self._account, now=now, app=app.name
        )
        if not outstanding:
            log.warning("notifier message while no Access Token Request is outstanding refused")
            raise LoginRefused(
                "no access token request is outstanding", reason="not_outstanding", status=409
            )
        profile = await self._verified_profile(message.access_token, claimed_user=message.user_id)
        closed = await self._db.token_requests.complete_outstanding(
            self._account, now=now, app=app.name
        )
        if not closed:
            raise LoginRefused(
                "no access token request is outstanding", reason="not_outstanding", status=409
            )
        return await self._logged_in(
            message.access_token,
            profile,
            requested_by=closed[0].requested_by,
            via=TokenSource.NOTIFIER,
            app=app.name,
        )

    # Shared steps ----------------------------------------------------------------------

    async def _verified_profile(self, token: SecretStr, *, claimed_user: str) -> Profile:
        """The profile behind a new token; it must work and be the expected Upstox user."""
        try:
            profile = await self._upstox.get_profile(token)
        except UpstoxTokenInvalid:
            log.warning("a new Upstox token failed the profile check")
            raise LoginRefused(
                "Upstox rejected the new token. Nothing was changed.", reason="token_rejected"
            ) from None
        except UpstoxError as exc:
            log.warning("profile check of a new token failed: %s", exc)
            raise LoginRefused(
                f"The new token could not be checked: {describe_upstox_error(exc)}",
                reason="profile_failed",
                status=502,
            ) from None
        if profile.user_id != claimed_user:
            log.warning("new token belongs to %s, not %s as claimed", profile.user_id, claimed_user)
            raise LoginRefused(
                "The new token belongs to a different Upstox user. Nothing was changed.",
                reason="user_mismatch",
            )
        expected = await self.managed_user()
        if expected is not None and profile.user_id != expected:
            log.warning("login as %s refused: this bot manages %s", profile.user_id, expected)
            raise LoginRefused(
                f"You logged in to Upstox as {profile.user_id}, but this bot manages "
                f"{expected}. Nothing was changed; log in as {expected}.",
                reason="wrong_user",
                status=403,
            )
        return profile

    async def _logged_in(
        self,
        token: SecretStr,
        profile: Profile,
        *,
        requested_by: str,
        via: TokenSource,
        app: str = OWN_APP_NAME,
    ) -> LoginResult:
        """After a login of `app`, in this order: store its token, hand it to the app's
        sinks, confirm, show the hand-over ("trading can resume"), finish a waiting change,
        refresh."""
        await self._app_tokens[app].store(token, user_id=profile.user_id, via=via)
        handover = await self._delivery.deliver(app)
        result = LoginResult(user_id=profile.user_id, requested_by=requested_by, via=via, app=app)
        log.info("logged in to Upstox as %s via %s (app %s)", profile.user_id, via.value, app)
        await self._alerts.logged_in(result)
        await self._delivery.announce(
            handover,
            logged_in=self._alerts.confirmation(result),
            morning=requested_by == MORNING_REQUESTER,
        )
        await self._reconciler.reconcile_soon(result)
        self._home.refresh_soon()
        return result


def _token_request_error(exc: UpstoxError) -> str:
    if exc.code == "UDAPI1123":
        return (
            "Upstox has no notifier URL for this app, so it cannot send the token. Set the "
            "app's notifier URL to this bot's `/upstox/notifier` under Developer Apps, or "
            "use `/staticip login` to log in in the browser."
        )
    if exc.code == "UDAPI100069":
        return (
            "Upstox refused the app's API key or secret (UDAPI100069). Check "
            "UPSTOX_CLIENT_ID and UPSTOX_CLIENT_SECRET."
        )
    return (
        f"Upstox did not start the phone approval: {describe_upstox_error(exc)} "
        "You can still log in in the browser with `/staticip login`."
    )


class AccountLogins:
    """Every account's login service, for the two Upstox routes shared by all of them.

    A callback goes to the account whose key signed its state (a state is signed for one
    account, so a link minted for account A can only ever store a token for A); a notifier
    message goes to the account owning its client_id. Anything else goes to the first
    account, which refuses it as usual.
    """

    def __init__(self, logins: Sequence[LoginService]) -> None:
        self._logins = tuple(logins)

    def _for_state(self, state: str | None) -> LoginService:
        if state and len(self._logins) > 1:
            for login in self._logins:
                if login.signs(state):
                    return login
        return self._logins[0]

    async def complete_oauth(
        self,
        *,
        code: str | None,
        state: str | None,
        error: str | None = None,
        error_description: str | None = None,
    ) -> LoginResult:
        return await self._for_state(state).complete_oauth(
            code=code, state=state, error=error, error_description=error_description
        )

    async def accept_notifier(self, payload: Any) -> LoginResult:
        client_id = payload.get("client_id") if isinstance(payload, dict) else None
        login = next((x for x in self._logins if x.has_client(client_id)), self._logins[0])
        return await login.accept_notifier(payload)
