"""The Upstox apps of an account and where each app's fresh token goes (its sinks).

An account (one Upstox user) has apps: the bot's own (`default`, the one the IP API is
called with), described by the single-app environment variables (`UPSTOX_CLIENT_ID`…,
`TOKEN_FILE`, `TOKEN_API_KEYS`, `TOKEN_WEBHOOK_URL`/`TOKEN_WEBHOOK_SECRET`), and the
trading systems' (`UPSTOX_TRADING_APPS`, a JSON list of `UpstoxApp`). Each has its own
token (`TokenService(app=…)`), logins, sinks and `GET /token/<app>`. The accounts file of
the several-accounts issue will list the apps under an account with the same `UpstoxApp`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import SecretStr

from bot.config import OWN_APP_NAME, Settings, UpstoxApp

# The name of the bot's own app when the environment describes a single app.
OWN_APP = OWN_APP_NAME


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    url: str
    secret: SecretStr

    @property
    def host(self) -> str:
        """Where it points, for messages (never the full URL: it may carry credentials)."""
        return urlsplit(self.url).hostname or "?"


@dataclass(frozen=True, slots=True)
class Sinks:
    file: Path | None = None
    api_keys: tuple[SecretStr, ...] = ()
    webhook: WebhookTarget | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """The configured sinks, in the order they are served."""
        named = (("file", self.file), ("api", self.api_keys), ("webhook", self.webhook))
        return tuple(name for name, value in named if value)


@dataclass(frozen=True, slots=True)
class TokenApp:
    """One Upstox app (API key + secret + redirect URI) and the sinks of its token."""

    name: str
    client_id: str
    sinks: Sinks


def apps_from_settings(settings: Settings) -> tuple[TokenApp, ...]:
    """Every app of the account with its sinks (`Settings.upstox_apps`)."""
    return tuple(token_app_of(app) for app in settings.upstox_apps)


def token_app_of(app: UpstoxApp) -> TokenApp:
    """The delivery side of one configured app."""
    webhook = None
    if app.token_webhook_url is not None and app.token_webhook_secret is not None:
        webhook = WebhookTarget(str(app.token_webhook_url), app.token_webhook_secret)
    sinks = Sinks(file=app.token_file, api_keys=tuple(app.token_api_keys), webhook=webhook)
    return TokenApp(name=app.name, client_id=app.client_id, sinks=sinks)
