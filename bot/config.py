"""The one settings model. Nothing else in the bot reads the environment.

Values come from environment variables and an optional `.env` file. A missing or malformed
value stops start-up with one readable line per problem (see `load_settings`).
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
import string
from datetime import date, time, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import unquote, urlsplit

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.market_hours import TradingHours, parse_windows

USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
GROUP_ID = re.compile(r"^S[A-Z0-9]{2,}$")
CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,}$")
_DURATION_PART = re.compile(r"(\d+)\s*(d|h|m|s)")


def parse_duration(value: Any) -> timedelta:
    """Accept `90` (seconds), `45s`, `30m`, `24h`, `1d`, `1h30m` or a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        text = str(value).strip().lower()
        if text.isdigit():
            seconds = float(text)
        else:
            parts = _DURATION_PART.findall(text)
            if not parts or _DURATION_PART.sub("", text).strip():
                raise ValueError(f"not a duration: {value!r} (use e.g. 90s, 30m, 24h, 1h30m)")
            unit = {"d": 86400, "h": 3600, "m": 60, "s": 1}
            seconds = float(sum(int(n) * unit[u] for n, u in parts))
    if seconds <= 0:
        raise ValueError("must be a positive duration")
    return timedelta(seconds=seconds)


def _split_ids(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        items = [str(v) for v in value]
    else:
        items = str(value).split(",")
    return [item.strip() for item in items if item.strip()]


MIN_SECRET_KEY_CHARS = 32
MIN_SECRET_KEY_BITS = 256
_KEY_ADVICE = "use 32 random bytes, e.g. the output of `openssl rand -base64 32`"
# TOKEN_API_KEYS and TOKEN_WEBHOOK_SECRET: long enough not to be guessed.
MIN_TOKEN_SECRET_CHARS = 16


# The usual alphabets of generated keys, smallest first, with the bits each character holds.
_KEY_ALPHABETS = (
    (set(string.digits), math.log2(10)),
    (set(string.hexdigits), math.log2(16)),
    (set(string.ascii_letters + string.digits), math.log2(62)),
    (set(string.ascii_letters + string.digits + "-_+/="), math.log2(64)),  # base64, padded
)


def secret_key_problem(value: str) -> str | None:
    """Why `value` cannot be a BOT_SECRET_KEY, or None.

    Entropy cannot be measured from one value, only bounded: n characters from the
    smallest usual alphabet (digits, hex, alphanumeric, base64, printable) holding them all
    carry at most n·log2(its size) bits. Below 256 bits (32 bytes) the key is refused, and
    so is a value made of a few repeated characters.
    """
    if len(value) < MIN_SECRET_KEY_CHARS:
        return f"must be at least {MIN_SECRET_KEY_CHARS} characters long: {_KEY_ADVICE}"
    used = set(value)
    bits_per_char = next(
        (bits for alphabet, bits in _KEY_ALPHABETS if used <= alphabet), math.log2(94)
    )
    if len(used) < 8 or len(value) * bits_per_char < MIN_SECRET_KEY_BITS - 1e-9:
        return f"does not look random enough to hold 32 bytes of entropy: {_KEY_ADVICE}"
    return None


def long_token_keys(value: list[SecretStr]) -> list[SecretStr]:
    """TOKEN_API_KEYS: every key long enough not to be guessed."""
    if any(len(key.get_secret_value()) < MIN_TOKEN_SECRET_CHARS for key in value):
        raise ValueError(
            f"every key must be at least {MIN_TOKEN_SECRET_CHARS} characters long: {_KEY_ADVICE}"
        )
    return value


def webhook_secret(value: SecretStr | None) -> SecretStr | None:
    """TOKEN_WEBHOOK_SECRET: empty means unset; otherwise long enough."""
    if value is None or not value.get_secret_value().strip():
        return None
    if len(value.get_secret_value()) < MIN_TOKEN_SECRET_CHARS:
        raise ValueError(
            f"must be at least {MIN_TOKEN_SECRET_CHARS} characters long: {_KEY_ADVICE}"
        )
    return value


def token_file_path(value: Path | None) -> Path | None:
    """TOKEN_FILE: its folder must exist (the temp file is created there, then renamed)."""
    if value is None or str(value).strip() in ("", "."):
        return None
    if not value.parent.is_dir():
        raise ValueError(f"the folder {value.parent} does not exist")
    if value.is_dir():
        raise ValueError("is a folder: name the file, e.g. /srv/trading/token.json")
    return value


APP_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
OWN_APP_NAME = "default"


class UpstoxApp(BaseModel):
    """One Upstox app of an account and the sinks of its token.

    The single-app environment form (`Settings.upstox_apps`) makes one, named `default`;
    the accounts file of the several-accounts issue can list several under an account
    (`[[accounts.apps]]` with these same keys), each served at `GET /token/<name>`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    name: str = OWN_APP_NAME
    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    redirect_uri: AnyHttpUrl
    token_file: Path | None = None
    token_api_keys: list[SecretStr] = Field(default_factory=list)
    token_webhook_url: AnyHttpUrl | None = None
    token_webhook_secret: SecretStr | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not APP_NAME.match(value):
            raise ValueError("must be lower-case letters, digits, - or _ (it is a URL path)")
        return value

    @field_validator("token_api_keys")
    @classmethod
    def _long_keys(cls, value: list[SecretStr]) -> list[SecretStr]:
        return long_token_keys(value)

    @field_validator("token_webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        return webhook_secret(value)

    @field_validator("token_file")
    @classmethod
    def _token_file(cls, value: Path | None) -> Path | None:
        return token_file_path(value)

    @model_validator(mode="after")
    def _webhook_pair(self) -> UpstoxApp:
        if (self.token_webhook_url is None) != (self.token_webhook_secret is None):
            raise ValueError(
                "set TOKEN_WEBHOOK_URL and TOKEN_WEBHOOK_SECRET together: every webhook "
                "delivery is signed"
            )
        return self


ACCOUNT_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
DEFAULT_ACCOUNT = "default"
# Words a command reads where an account name could stand: never an account's name.
RESERVED_ACCOUNT_NAMES = frozenset({"all", "phone", "help", "page", "default-app"})


class Account(BaseModel):
    """One Upstox user the bot guards: its apps (the bot's own first), who may request and
    approve its changes and where its cards go.

    The environment form describes one account named `default`; `STATICIP_CONFIG` (a TOML
    file) lists several. Stored rows are keyed by `key`, the client id of the account's own
    app, so an account keeps its history when it moves from the environment to the file.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    name: str
    upstox_user_id: str | None = None
    apps: tuple[UpstoxApp, ...]
    slack_approval_channel: str
    slack_approvers: tuple[str, ...]
    slack_requesters: tuple[str, ...] = ()
    upstox_access_token: SecretStr | None = None

    @property
    def key(self) -> str:
        return self.apps[0].client_id


Duration = Annotated[timedelta, NoDecode]
AppList = Annotated[list[UpstoxApp], NoDecode]
IdList = Annotated[list[str], NoDecode]
SecretList = Annotated[list[SecretStr], NoDecode]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        hide_input_in_errors=True,
    )

    host: str = "0.0.0.0"
    port: int = Field(default=3000, ge=0, le=65535)
    log_level: str = "INFO"
    log_format: str = "text"
    metrics_enabled: bool = False

    slack_bot_token: SecretStr
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: AnyHttpUrl = AnyHttpUrl("https://slack.com/api/")
    slack_approval_channel: str
    slack_approvers: IdList
    slack_requesters: IdList = Field(default_factory=list)

    upstox_client_id: str = Field(min_length=1)
    upstox_client_secret: SecretStr
    upstox_redirect_uri: AnyHttpUrl
    upstox_access_token: SecretStr | None = None
    # The one Upstox user this bot manages: a login (callback or notifier) as anyone else
    # is refused. Unset, the first user seen (seeded token or first login) is kept.
    upstox_user_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    upstox_base_url: AnyHttpUrl = AnyHttpUrl("https://api.upstox.com")
    upstox_timeout: Duration = timedelta(seconds=10)

    database_url: str = "sqlite:///staticip-bot.db"
    bot_secret_key: SecretStr | None = None
    approval_ttl: Duration = timedelta(hours=24)
    # How many distinct approvers (never the requester) must approve before a change.
    approvals_required: int = Field(default=1, ge=1, le=10)
    public_ip_url: AnyHttpUrl | None = None

    # Read only to refuse them: Bolt reads these two from the environment by itself.
    slack_client_id: str | None = Field(default=None, exclude=True)
    slack_client_secret: SecretStr | None = Field(default=None, exclude=True)

    allow_non_public_ips: bool = False
    check_interval: Duration = timedelta(minutes=5)
    morning_reminder_at: time = time(9, 0)
    # Trading hours (IST, weekdays): a change inside them logs the trading system out
    # mid-session, so the card warns and offers "Approve for after close".
    trading_hours: Annotated[str, NoDecode] = "09:15-15:30"
    market_holidays: Annotated[list[date], NoDecode] = Field(default_factory=list)
    apply_after_close_at: time = time(15, 35)
    approver_cache_ttl: Duration = timedelta(seconds=120)
    # How long a command waits for Upstox before telling the user it did not answer in
    # time; shorter than Upstox timeout × read retries, so nobody waits in silence.
    reply_deadline: Duration = timedelta(seconds=8)

    # Handing the token to the trading system (bot/login/delivery.py).
    token_file: Path | None = None
    token_api_keys: SecretList = Field(default_factory=list)
    token_webhook_url: AnyHttpUrl | None = None
    token_webhook_secret: SecretStr | None = None
    # A webhook delivery is retried (capped backoff) for at most this long.
    token_webhook_give_up: Duration = timedelta(minutes=30)
    # A fresh token nobody picked up (GET /token) within this long raises one alert.
    token_pickup_alert_after: Duration = timedelta(minutes=15)
    # On weekdays at this IST time the bot starts the Access Token Request by itself.
    morning_token_request: bool = True
    morning_token_request_at: time = time(8, 30)
    # The trading systems' Upstox apps of the same user, besides the bot's own (`default`,
    # the UPSTOX_* and TOKEN_* variables above): a JSON list of objects with the keys of
    # `UpstoxApp` (name, client_id, client_secret, redirect_uri, token_file, …).
    upstox_trading_apps: AppList = Field(default_factory=list)
    # A TOML file listing several accounts (see `bot.accounts_file`); unset, the variables
    # above describe the one account `default`.
    staticip_config: Path | None = None

    # Set by `load_settings` from STATICIP_CONFIG; `for_account` sets the name.
    _accounts: tuple[Account, ...] = PrivateAttr(default=())
    _account_name: str = PrivateAttr(default=DEFAULT_ACCOUNT)

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token_prefix(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith("xoxb-"):
            raise ValueError('must be a bot token starting with "xoxb-"')
        return value

    @field_validator("slack_app_token")
    @classmethod
    def _app_token_prefix(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if not value.get_secret_value().startswith("xapp-"):
            raise ValueError('must be an app-level token starting with "xapp-"')
        return value

    @field_validator(
        "upstox_user_id",
        "public_ip_url",
        "token_webhook_url",
        "token_file",
        "staticip_config",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """`NAME=` in the environment or a .env file means "not set", as for secrets."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator(
        "slack_signing_secret",
        "upstox_access_token",
        "bot_secret_key",
        "token_webhook_secret",
    )
    @classmethod
    def _empty_secret_is_none(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        return value

    @field_validator("bot_secret_key")
    @classmethod
    def _strong_secret_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            problem = secret_key_problem(value.get_secret_value())
            if problem:
                raise ValueError(problem)
        return value

    @field_validator("token_api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> list[str]:
        return _split_ids(value)

    @field_validator("token_api_keys")
    @classmethod
    def _long_keys(cls, value: list[SecretStr]) -> list[SecretStr]:
        return long_token_keys(value)

    @field_validator("token_webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        return webhook_secret(value)

    @field_validator("token_file")
    @classmethod
    def _token_file(cls, value: Path | None) -> Path | None:
        return token_file_path(value)

    @field_validator("upstox_trading_apps", mode="before")
    @classmethod
    def _apps_json(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if not value.strip():
            return []
        try:
            return json.loads(value)
        except ValueError:
            raise ValueError(
                'must be a JSON list of apps, e.g. [{"name": "algo", "client_id": "…", '
                '"client_secret": "…", "redirect_uri": "https://bot.example/upstox/callback"}]'
            ) from None

    @field_validator("upstox_trading_apps")
    @classmethod
    def _distinct_apps(cls, value: list[UpstoxApp]) -> list[UpstoxApp]:
        names = [app.name for app in value]
        if "phone" in names:
            raise ValueError('"phone" cannot name an app (`/staticip login phone` is taken)')
        if OWN_APP_NAME in names:
            raise ValueError(
                f'give every trading app a "name" other than "{OWN_APP_NAME}" (the bot\'s own '
                "app, configured by UPSTOX_CLIENT_ID and the TOKEN_* variables)"
            )
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"app names must be unique: {', '.join(repeated)}")
        ids = [app.client_id for app in value]
        if len(set(ids)) != len(ids):
            raise ValueError("every app needs its own client_id (the notifier routes by it)")
        return value

    @field_validator("slack_approval_channel")
    @classmethod
    def _channel_id(cls, value: str) -> str:
        if not CHANNEL_ID.match(value):
            raise ValueError("must be a channel ID like C0123ABCD (not a #name)")
        return value

    @field_validator("slack_approvers", "slack_requesters", mode="before")
    @classmethod
    def _split(cls, value: Any) -> list[str]:
        return _split_ids(value)

    @field_validator("trading_hours")
    @classmethod
    def _trading_hours(cls, value: str) -> str:
        parse_windows(value)  # raises ValueError with the reason
        return value

    @field_validator("market_holidays", mode="before")
    @classmethod
    def _holidays(cls, value: Any) -> list[date]:
        if isinstance(value, list):
            return value
        return [date.fromisoformat(item) for item in _split_ids(value)]

    @property
    def market(self) -> TradingHours:
        return TradingHours(parse_windows(self.trading_hours), frozenset(self.market_holidays))

    @field_validator("slack_approvers")
    @classmethod
    def _approver_ids(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("list at least one approver (user ID U…/W… or user-group ID S…)")
        bad = [v for v in value if not (USER_ID.match(v) or GROUP_ID.match(v))]
        if bad:
            raise ValueError(f"not a user ID (U…/W…) or user-group ID (S…): {', '.join(bad)}")
        return value

    @field_validator("slack_requesters")
    @classmethod
    def _requester_ids(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not (USER_ID.match(v) or GROUP_ID.match(v))]
        if bad:
            raise ValueError(f"not a user ID (U…/W…) or user-group ID (S…): {', '.join(bad)}")
        return value

    @field_validator(
        "upstox_timeout",
        "approval_ttl",
        "check_interval",
        "approver_cache_ttl",
        "token_webhook_give_up",
        "token_pickup_alert_after",
        mode="before",
    )
    @classmethod
    def _duration(cls, value: Any) -> timedelta:
        return parse_duration(value)

    @field_validator("reply_deadline", mode="before")
    @classmethod
    def _reply_deadline(cls, value: Any) -> timedelta:
        return parse_duration(value)

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql", "postgres://")):
            raise ValueError("must be sqlite:///path/to/file.db or postgresql://user@host/db")
        if value.startswith(("postgresql", "postgres://")) and not _has_module("psycopg"):
            raise ValueError("PostgreSQL needs its driver: pip install 'staticip-bot[postgres]'")
        return value

    @field_validator("log_format")
    @classmethod
    def _log_format(cls, value: str) -> str:
        fmt = value.strip().lower()
        if fmt not in {"text", "json"}:
            raise ValueError("must be text or json")
        return fmt

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return level

    @model_validator(mode="after")
    def _mode_requirements(self) -> Settings:
        problems = cross_field_problems(
            slack_client_id=self.slack_client_id,
            slack_client_secret=self.slack_client_secret,
            slack_app_token=self.slack_app_token,
            slack_signing_secret=self.slack_signing_secret,
            database_url=self.database_url,
            bot_secret_key=self.bot_secret_key,
            token_webhook_url=self.token_webhook_url,
            token_webhook_secret=self.token_webhook_secret,
        )
        if any(app.client_id == self.upstox_client_id for app in self.upstox_trading_apps):
            problems.append(
                "UPSTOX_TRADING_APPS: a trading app has the bot's own UPSTOX_CLIENT_ID; every "
                "app needs its own client_id (the notifier routes tokens by it)"
            )
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @property
    def upstox_apps(self) -> tuple[UpstoxApp, ...]:
        """The account's Upstox apps: the bot's own (`default`) first, then the trading
        systems' (UPSTOX_TRADING_APPS)."""
        own = UpstoxApp(
            name=OWN_APP_NAME,
            client_id=self.upstox_client_id,
            client_secret=self.upstox_client_secret,
            redirect_uri=self.upstox_redirect_uri,
            token_file=self.token_file,
            token_api_keys=list(self.token_api_keys),
            token_webhook_url=self.token_webhook_url,
            token_webhook_secret=self.token_webhook_secret,
        )
        return (own, *self.upstox_trading_apps)

    @property
    def accounts(self) -> tuple[Account, ...]:
        """Every account, in the order configured (the environment form: one, `default`)."""
        if self._accounts:
            return self._accounts
        return (
            Account(
                name=DEFAULT_ACCOUNT,
                upstox_user_id=self.upstox_user_id,
                apps=self.upstox_apps,
                slack_approval_channel=self.slack_approval_channel,
                slack_approvers=tuple(self.slack_approvers),
                slack_requesters=tuple(self.slack_requesters),
                upstox_access_token=self.upstox_access_token,
            ),
        )

    @property
    def account_name(self) -> str:
        """The name of the account these settings are for (see `for_account`)."""
        return self._account_name

    def with_accounts(self, accounts: tuple[Account, ...]) -> Settings:
        """These settings serving `accounts`; the account fields become the first one's."""
        if not accounts:
            raise ValueError("list at least one account")
        copy = self.for_account(accounts[0]).model_copy(
            # The global Slack people and channel stay (e.g. where a host move's card goes).
            update={
                "slack_approval_channel": self.slack_approval_channel,
                "slack_approvers": self.slack_approvers,
                "slack_requesters": self.slack_requesters,
            }
        )
        copy._accounts = accounts
        return copy

    def for_account(self, account: Account) -> Settings:
        """These settings as one account sees them: its apps, people, channel and user.
        Every service of the account is built with these, so none of them has to know that
        other accounts exist."""
        own, *trading = account.apps
        copy = self.model_copy(
            update={
                "upstox_client_id": own.client_id,
                "upstox_client_secret": own.client_secret,
                "upstox_redirect_uri": own.redirect_uri,
                "upstox_access_token": account.upstox_access_token,
                "upstox_user_id": account.upstox_user_id,
                "slack_approval_channel": account.slack_approval_channel,
                "slack_approvers": list(account.slack_approvers),
                "slack_requesters": list(account.slack_requesters),
                "token_file": own.token_file,
                "token_api_keys": list(own.token_api_keys),
                "token_webhook_url": own.token_webhook_url,
                "token_webhook_secret": own.token_webhook_secret,
                "upstox_trading_apps": list(trading),
            }
        )
        copy._accounts = self._accounts
        copy._account_name = account.name
        return copy

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgres://", "postgresql"))

    @property
    def account(self) -> str:
        """The Upstox account this bot guards; keyed by the app's client id."""
        return self.upstox_client_id

    @property
    def slack_api_base(self) -> str:
        url = str(self.slack_api_url)
        return url if url.endswith("/") else url + "/"

    @property
    def upstox_base(self) -> str:
        return str(self.upstox_base_url).rstrip("/")

    def secret_values(self) -> list[str]:
        """Every configured secret, for the log redactor."""
        secrets = [
            self.slack_bot_token,
            self.slack_signing_secret,
            self.slack_app_token,
            self.upstox_client_secret,
            self.upstox_access_token,
            self.bot_secret_key,
            self.token_webhook_secret,
            *self.token_api_keys,
        ]
        for app in self.upstox_trading_apps:
            secrets += [app.client_secret, app.token_webhook_secret, *app.token_api_keys]
        for account in self._accounts:
            secrets.append(account.upstox_access_token)
            for app in account.apps:
                secrets += [app.client_secret, app.token_webhook_secret, *app.token_api_keys]
        values = [s.get_secret_value() for s in secrets if s is not None]
        try:
            password = urlsplit(self.database_url).password
        except ValueError:
            password = None
        if password:
            # As written in the URL and as a driver would print it once decoded.
            values += [password, unquote(password)]
        return values


def _is_set(value: object) -> bool:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return bool(value and str(value).strip())


def cross_field_problems(
    *,
    slack_client_id: object,
    slack_client_secret: object,
    slack_app_token: object,
    slack_signing_secret: object,
    database_url: object,
    bot_secret_key: object,
    token_webhook_url: object,
    token_webhook_secret: object,
) -> list[str]:
    """The problems between fields. Called on the validated settings, and on the raw values
    when some field is malformed, so that one start-up reports every problem at once."""
    problems = []
    if _is_set(slack_client_id) and _is_set(slack_client_secret):
        problems.append(
            "unset SLACK_CLIENT_ID and SLACK_CLIENT_SECRET: with both present Bolt "
            "silently switches to multi-workspace OAuth installs and ignores the bot token"
        )
    if not _is_set(slack_app_token) and not _is_set(slack_signing_secret):
        problems.append(
            "SLACK_SIGNING_SECRET is required in HTTP mode (or set SLACK_APP_TOKEN for Socket Mode)"
        )
    if _is_set(token_webhook_url) != _is_set(token_webhook_secret):
        problems.append(
            "set TOKEN_WEBHOOK_URL and TOKEN_WEBHOOK_SECRET together: every webhook delivery "
            "is signed"
        )
    postgres = str(database_url or "").startswith(("postgres://", "postgresql"))
    if postgres and not _is_set(bot_secret_key):
        problems.append("BOT_SECRET_KEY is required with PostgreSQL: every replica must share it")
    return problems


_CROSS_FIELDS = (
    "slack_client_id",
    "slack_client_secret",
    "slack_app_token",
    "slack_signing_secret",
    "database_url",
    "bot_secret_key",
    "token_webhook_url",
    "token_webhook_secret",
)


class _RawCrossFields(BaseSettings):
    """The fields the cross-field checks read, unvalidated, from the same sources."""

    model_config = Settings.model_config

    slack_client_id: str | None = None
    slack_client_secret: str | None = None
    slack_app_token: str | None = None
    slack_signing_secret: str | None = None
    database_url: str | None = "sqlite:///staticip-bot.db"
    bot_secret_key: str | None = None
    token_webhook_url: str | None = None
    token_webhook_secret: str | None = None


def _has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


class SettingsError(Exception):
    """Start-up configuration problems, one readable line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _problem_lines(error: ValidationError) -> list[str]:
    lines = []
    for item in error.errors():
        field = ".".join(str(p) for p in item["loc"]).upper()
        message = item["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        if item["type"] == "missing":
            message = "is required but not set"
        if field:
            lines.append(f"{field}: {message}")
        else:
            lines.extend(message.split("\n"))
    return lines


def _cross_field_lines(overrides: dict[str, Any]) -> list[str]:
    """The cross-field problems of the raw values (a field-level error hides the model's)."""
    picked = {k: v for k, v in overrides.items() if k in _CROSS_FIELDS or k.startswith("_")}
    try:
        raw = _RawCrossFields(**picked)
    except ValidationError:
        return []
    return cross_field_problems(**{name: getattr(raw, name) for name in _CROSS_FIELDS})


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment (and `.env`), raising SettingsError on problems:
    every problem at once, per field and between fields. With STATICIP_CONFIG set, the
    accounts come from that file (`bot.accounts_file`)."""
    from bot import accounts_file  # it imports this module

    path, raw = accounts_file.configured_path(overrides)
    if path is not None:
        return accounts_file.load(path, raw, overrides)
    return build_settings(**overrides)


def build_settings(**overrides: Any) -> Settings:
    """The settings from the environment and `overrides` alone, or SettingsError."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        lines = _problem_lines(error)
        if any(item["loc"] for item in error.errors()):  # the model check did not run
            lines += [line for line in _cross_field_lines(overrides) if line not in lines]
        raise SettingsError(lines) from None
