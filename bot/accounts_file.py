"""`STATICIP_CONFIG`: a TOML file listing several Upstox accounts.

```toml
[slack]                        # global; every account may override each key
approval_channel = "C0123456789"
approvers = ["U0123456789", "S0123456789"]
requesters = []

[[accounts]]
name = "desk"                  # lower-case letters, digits, -; used in commands
upstox_user_id = "AB1234"      # optional: a login as anyone else is refused
upstox_access_token = "env:DESK_SEED_TOKEN"   # optional seed
approvers = ["U0123456789"]    # optional overrides of [slack]
approval_channel = "C0987654321"
requesters = []

[[accounts.apps]]              # the bot's own app: named "default", or else the first
client_id = "…"
client_secret = "env:DESK_SECRET"
redirect_uri = "https://bot.example.com/upstox/callback"
token_file = "/srv/desk/token.json"   # and the other token sinks of `UpstoxApp`
```

Secrets (`client_secret`, `token_webhook_secret`, `token_api_keys` or each of its keys,
`upstox_access_token`) are inline or `"env:NAME"`, read from the environment (or the `.env`
file). A file holding an inline secret must not be readable by group or others. Every
problem is one line, prefixed with where it is (`STATICIP_CONFIG accounts[1] (family).apps[0]
.client_secret: …`), and all of them are reported at once as a `SettingsError`.

The rest of the settings (Slack tokens, database, keys, behaviour) still come from the
environment; the variables that describe the one environment account are refused while the
file is in use, so that no value is silently ignored.
"""

from __future__ import annotations

import ipaddress
import os
import re
import stat
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings

from bot import config
from bot.config import (
    ACCOUNT_NAME,
    CHANNEL_ID,
    GROUP_ID,
    OWN_APP_NAME,
    RESERVED_ACCOUNT_NAMES,
    USER_ID,
    Account,
    Settings,
    SettingsError,
    UpstoxApp,
)

ENV_PREFIX = "env:"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_UPSTOX_USER_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_VAR = "STATICIP_CONFIG"

# The environment variables that describe the one environment account, and where the same
# value lives in the file. While the file is in use, setting one of them is a mistake.
ACCOUNT_VARIABLES = {
    "upstox_client_id": "accounts[].apps[].client_id",
    "upstox_client_secret": "accounts[].apps[].client_secret",
    "upstox_redirect_uri": "accounts[].apps[].redirect_uri",
    "upstox_access_token": "accounts[].upstox_access_token",
    "upstox_user_id": "accounts[].upstox_user_id",
    "upstox_trading_apps": "more [[accounts.apps]]",
    "token_file": "accounts[].apps[].token_file",
    "token_api_keys": "accounts[].apps[].token_api_keys",
    "token_webhook_url": "accounts[].apps[].token_webhook_url",
    "token_webhook_secret": "accounts[].apps[].token_webhook_secret",
    "slack_approval_channel": "[slack] approval_channel, or an account's",
    "slack_approvers": "[slack] approvers, or an account's",
    "slack_requesters": "[slack] requesters, or an account's",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


class FileSlack(_Strict):
    approval_channel: str | None = None
    approvers: list[str] | None = None
    requesters: list[str] | None = None


class FileApp(_Strict):
    name: str | None = None
    client_id: str = Field(min_length=1)
    client_secret: str
    redirect_uri: str
    token_file: str | None = None
    # A list of keys, or one string: `"env:NAME"` naming a comma-separated list.
    token_api_keys: list[str] | str = Field(default_factory=list)
    token_webhook_url: str | None = None
    token_webhook_secret: str | None = None

    @model_validator(mode="after")
    def _webhook_pair(self) -> FileApp:
        if (self.token_webhook_url is None) != (self.token_webhook_secret is None):
            raise ValueError(
                "set token_webhook_url and token_webhook_secret together: every webhook "
                "delivery is signed"
            )
        return self


class FileAccount(_Strict):
    name: str
    upstox_user_id: str | None = None
    upstox_access_token: str | None = None
    approval_channel: str | None = None
    approvers: list[str] | None = None
    requesters: list[str] | None = None
    apps: list[FileApp] = Field(default_factory=list)


class FileTop(_Strict):
    slack: dict[str, Any] = Field(default_factory=dict)
    accounts: list[dict[str, Any]] = Field(default_factory=list)


class _FileModeVariables(BaseSettings):
    """STATICIP_CONFIG and the environment account's variables, raw, from the same sources
    as the settings (environment, `.env`, overrides)."""

    model_config = Settings.model_config

    staticip_config: Any = None
    upstox_client_id: Any = None
    upstox_client_secret: Any = None
    upstox_redirect_uri: Any = None
    upstox_access_token: Any = None
    upstox_user_id: Any = None
    upstox_trading_apps: Any = None
    token_file: Any = None
    token_api_keys: Any = None
    token_webhook_url: Any = None
    token_webhook_secret: Any = None
    slack_approval_channel: Any = None
    slack_approvers: Any = None
    slack_requesters: Any = None


def _is_set(value: object) -> bool:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if isinstance(value, list | tuple):
        return bool(value)
    return value is not None and bool(str(value).strip())


def _where(parts: tuple[str | int, ...]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _allowed_keys(model: type[BaseModel]) -> str:
    return ", ".join(model.model_fields)


def _model_at(parts: tuple[str | int, ...], model: type[BaseModel]) -> type[BaseModel]:
    """The model a location inside `model` points into (for the list of known keys)."""
    if model is FileAccount and parts[:1] == ("apps",) and len(parts) >= 2:
        return FileApp
    return model


def _validation_lines(error: ValidationError, model: type[BaseModel], prefix: str) -> list[str]:
    lines = []
    for item in error.errors():
        loc = tuple(item["loc"])
        where = f"{prefix}.{_where(loc)}" if loc else prefix
        where = where.rstrip(".")
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "missing":
            message = "is required"
        elif item["type"] == "extra_forbidden":
            known = _allowed_keys(_model_at(loc[:-1], model))
            message = f"unknown key (the keys here are: {known})"
        lines.append(f"{where}: {message}")
    return lines


APP_SECRETS = ("client_secret", "token_webhook_secret", "token_api_keys")
ACCOUNT_SECRETS = ("upstox_access_token",)


def _inline_secrets(accounts: list[dict[str, Any]]) -> list[str]:
    """Where the file writes a secret inline (not `"env:NAME"`), valid or not."""

    def inline(value: object) -> bool:
        if isinstance(value, list):
            return any(inline(item) for item in value)
        return isinstance(value, str) and bool(value.strip()) and not value.startswith(ENV_PREFIX)

    found = []
    for index, account in enumerate(accounts):
        found += [f"accounts[{index}].{key}" for key in ACCOUNT_SECRETS if inline(account.get(key))]
        apps = account.get("apps")
        for number, app in enumerate(apps if isinstance(apps, list) else []):
            if isinstance(app, dict):
                found += [
                    f"accounts[{index}].apps[{number}].{key}"
                    for key in APP_SECRETS
                    if inline(app.get(key))
                ]
    return found


class _Secrets:
    """Resolves `"env:NAME"` references from the environment, then the `.env` file."""

    def __init__(self, environ: Mapping[str, str], dotenv: Mapping[str, str | None]) -> None:
        self.environ = environ
        self.dotenv = dotenv

    def resolve(self, value: str, where: str, problems: list[str]) -> str | None:
        if not value.startswith(ENV_PREFIX):
            return value
        name = value[len(ENV_PREFIX) :].strip()
        if not _ENV_NAME.match(name):
            problems.append(
                f'{_VAR} {where}: "{value}" is not an environment reference: write "env:NAME", '
                'e.g. "env:DESK_SECRET"'
            )
            return None
        resolved = self.environ.get(name)
        if resolved is None:
            resolved = self.dotenv.get(name)
        if resolved is None or not resolved.strip():
            problems.append(
                f"{_VAR} {where}: refers to the environment variable {name}, which is not set"
            )
            return None
        return resolved


def _ids_problem(values: list[str], *, approvers: bool) -> str | None:
    if approvers and not values:
        return "list at least one approver (user ID U…/W… or user-group ID S…)"
    bad = [v for v in values if not (USER_ID.match(v) or GROUP_ID.match(v))]
    if bad:
        return f"not a user ID (U…/W…) or user-group ID (S…): {', '.join(bad)}"
    return None


def _name_problem(name: str) -> str | None:
    if not ACCOUNT_NAME.match(name):
        return (
            "must be 1–32 lower-case letters, digits or - (starting with a letter or digit): "
            "it is typed in commands"
        )
    if name in RESERVED_ACCOUNT_NAMES:
        taken = ", ".join(sorted(RESERVED_ACCOUNT_NAMES))
        return f'"{name}" is a word of the commands and cannot name an account ({taken})'
    looks_like_ip = True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        looks_like_ip = not any(c.isalpha() for c in name)
    if looks_like_ip:
        return "must contain a letter: a name of digits could be taken for an IP address"
    return None


class _Reader:
    def __init__(self, path: Path, secrets: _Secrets) -> None:
        self.path = path
        self.secrets = secrets
        self.problems: list[str] = []
        self.client_ids: dict[str, str] = {}  # client_id → where first seen
        self.user_ids: dict[str, str] = {}

    def _at(self, where: str) -> str:
        return f"{_VAR} {where}"

    def read(self) -> tuple[FileSlack | None, tuple[Account, ...]]:
        data = self._load()
        if data is None:
            return None, ()
        try:
            top = FileTop.model_validate(data)
        except ValidationError as error:
            self.problems += [
                line.replace(f"{_VAR} .", f"{_VAR} ", 1)
                for line in _validation_lines(error, FileTop, f"{_VAR} ")
            ]
            return None, ()
        slack: FileSlack | None = None
        try:
            slack = FileSlack.model_validate(top.slack)
        except ValidationError as error:
            self.problems += _validation_lines(error, FileSlack, self._at("slack"))
        if slack is not None:
            self._check_slack(slack)
        if not top.accounts:
            self.problems.append(
                f"{_VAR}: {self.path} lists no accounts: add at least one [[accounts]] table"
            )
        accounts: list[Account] = []
        names: dict[str, str] = {}
        for index, raw in enumerate(top.accounts):
            label = raw.get("name")
            where = f"accounts[{index}]" + (f" ({label})" if isinstance(label, str) else "")
            try:
                entry = FileAccount.model_validate(raw)
            except ValidationError as error:
                self.problems += _validation_lines(error, FileAccount, self._at(where))
                continue
            if entry.name in names:
                self.problems.append(
                    f"{self._at(where)}.name: {entry.name!r} is also the name of "
                    f"{names[entry.name]}: every account needs its own name"
                )
            else:
                names[entry.name] = where
            account = self._account(entry, where, slack or FileSlack())
            if account is not None:
                accounts.append(account)
        self._check_permissions(_inline_secrets(top.accounts))
        return slack, tuple(accounts)

    def _load(self) -> dict[str, Any] | None:
        try:
            text = self.path.read_bytes().decode("utf-8")
        except OSError as error:
            self.problems.append(f"{_VAR}: cannot read {self.path}: {error.strerror or error}")
            return None
        except UnicodeDecodeError:
            self.problems.append(f"{_VAR}: {self.path} is not UTF-8 text")
            return None
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            self.problems.append(f"{_VAR}: {self.path} is not valid TOML: {error}")
            return None

    def _check_slack(self, slack: FileSlack) -> None:
        if slack.approval_channel is not None and not CHANNEL_ID.match(slack.approval_channel):
            self.problems.append(
                f"{self._at('slack.approval_channel')}: must be a channel ID like C0123ABCD "
                "(not a #name)"
            )
        for key, approvers in (("approvers", True), ("requesters", False)):
            values = getattr(slack, key)
            if values is not None and (values or not approvers):
                problem = _ids_problem(values, approvers=approvers)
                if problem:
                    self.problems.append(f"{self._at('slack.' + key)}: {problem}")

    def _account(self, entry: FileAccount, where: str, slack: FileSlack) -> Account | None:
        before = len(self.problems)
        at = self._at(where)
        problem = _name_problem(entry.name)
        if problem:
            self.problems.append(f"{at}.name: {problem}")
        if entry.upstox_user_id is not None:
            if not _UPSTOX_USER_ID.match(entry.upstox_user_id):
                self.problems.append(
                    f"{at}.upstox_user_id: must be the Upstox user id, e.g. AB1234"
                )
            elif entry.upstox_user_id in self.user_ids:
                self.problems.append(
                    f"{at}.upstox_user_id: {entry.upstox_user_id} is also the user of "
                    f"{self.user_ids[entry.upstox_user_id]}: one account per Upstox user"
                )
            else:
                self.user_ids[entry.upstox_user_id] = where
        channel = entry.approval_channel or slack.approval_channel
        if channel is None:
            self.problems.append(
                f"{at}: has no approval_channel: set it in [slack] or in the account"
            )
        elif entry.approval_channel is not None and not CHANNEL_ID.match(channel):
            self.problems.append(
                f"{at}.approval_channel: must be a channel ID like C0123ABCD (not a #name)"
            )
        approvers = entry.approvers if entry.approvers is not None else slack.approvers
        if not approvers:
            self.problems.append(
                f"{at}: has no approvers: list them in [slack] approvers or in the account's "
                "approvers (user IDs U…/W… or user-group IDs S…)"
            )
        elif entry.approvers is not None:
            problem = _ids_problem(entry.approvers, approvers=True)
            if problem:
                self.problems.append(f"{at}.approvers: {problem}")
        requesters = entry.requesters if entry.requesters is not None else slack.requesters
        if entry.requesters is not None:
            problem = _ids_problem(entry.requesters, approvers=False)
            if problem:
                self.problems.append(f"{at}.requesters: {problem}")
        seed = None
        if entry.upstox_access_token is not None:
            seed = self.secrets.resolve(
                entry.upstox_access_token, f"{where}.upstox_access_token", self.problems
            )
            if seed is not None and not seed.strip():
                seed = None
        apps = self._apps(entry, where)
        if len(self.problems) > before or not apps or channel is None or not approvers:
            return None
        return Account(
            name=entry.name,
            upstox_user_id=entry.upstox_user_id,
            apps=apps,
            slack_approval_channel=channel,
            slack_approvers=tuple(approvers),
            slack_requesters=tuple(requesters or ()),
            upstox_access_token=SecretStr(seed) if seed else None,
        )

    def _apps(self, entry: FileAccount, where: str) -> tuple[UpstoxApp, ...]:
        at = self._at(where)
        if not entry.apps:
            self.problems.append(
                f"{at}: has no apps: add an [[accounts.apps]] table with the bot's own Upstox "
                "app (client_id, client_secret, redirect_uri)"
            )
            return ()
        own = next((i for i, a in enumerate(entry.apps) if a.name == OWN_APP_NAME), 0)
        order = [own, *(i for i in range(len(entry.apps)) if i != own)]
        apps: list[UpstoxApp] = []
        names: dict[str, int] = {}
        for index in order:
            raw = entry.apps[index]
            app_where = f"{where}.apps[{index}]"
            name = OWN_APP_NAME if index == own else raw.name
            if index == own and raw.name not in (None, OWN_APP_NAME):
                # Renaming it would quietly break `GET /token/<name>` and `login <name>`.
                self.problems.append(
                    f"{self._at(app_where)}.name: the bot's own app (the first, when none is "
                    f'named "{OWN_APP_NAME}") is called "{OWN_APP_NAME}": leave its name '
                    f'out, name it "{OWN_APP_NAME}", or name another app "{OWN_APP_NAME}"'
                )
            if name is None:
                self.problems.append(
                    f"{self._at(app_where)}.name: is required for every app but the bot's own "
                    f'(the one named "{OWN_APP_NAME}", or else the first)'
                )
                continue
            if name == "phone":
                self.problems.append(
                    f'{self._at(app_where)}.name: "phone" cannot name an app '
                    "(`/staticip login phone` is taken)"
                )
            if name in names:
                self.problems.append(
                    f"{self._at(app_where)}.name: {name!r} is also the name of "
                    f"{where}.apps[{names[name]}]: app names must be unique in an account"
                )
            names.setdefault(name, index)
            if raw.client_id in self.client_ids:
                self.problems.append(
                    f"{self._at(app_where)}.client_id: is also the client_id of "
                    f"{self.client_ids[raw.client_id]}: every app needs its own client_id "
                    "(the notifier routes tokens by it)"
                )
            else:
                self.client_ids[raw.client_id] = app_where
            app = self._app(raw, name, app_where)
            if app is not None:
                apps.append(app)
        return tuple(apps)

    def _app(self, raw: FileApp, name: str, where: str) -> UpstoxApp | None:
        before = len(self.problems)
        secret = self.secrets.resolve(raw.client_secret, f"{where}.client_secret", self.problems)
        webhook_secret = None
        if raw.token_webhook_secret is not None:
            webhook_secret = self.secrets.resolve(
                raw.token_webhook_secret, f"{where}.token_webhook_secret", self.problems
            )
        if isinstance(raw.token_api_keys, str):
            joined = self.secrets.resolve(
                raw.token_api_keys, f"{where}.token_api_keys", self.problems
            )
            keys = [key.strip() for key in (joined or "").split(",") if key.strip()]
        else:
            keys = [
                key
                for i, item in enumerate(raw.token_api_keys)
                if (
                    key := self.secrets.resolve(item, f"{where}.token_api_keys[{i}]", self.problems)
                )
            ]
        if len(self.problems) > before:
            return None
        values: dict[str, Any] = {
            "name": name,
            "client_id": raw.client_id,
            "client_secret": secret,
            "redirect_uri": raw.redirect_uri,
            "token_file": raw.token_file,
            "token_api_keys": keys,
            "token_webhook_url": raw.token_webhook_url,
            "token_webhook_secret": webhook_secret,
        }
        try:
            return UpstoxApp.model_validate(values)
        except ValidationError as error:
            self.problems += _validation_lines(error, FileApp, self._at(where))
            return None

    def _check_permissions(self, inline: list[str]) -> None:
        if not inline:
            return
        try:
            mode = stat.S_IMODE(self.path.stat().st_mode)
        except OSError:
            return
        if mode & 0o077:
            first = inline[0]
            more = len(inline) - 1
            also = f" and {more} more" if more else ""
            self.problems.append(
                f"{_VAR}: {self.path} holds inline secrets ({first}{also}) and is readable "
                f"by group or others (mode {mode:04o}): chmod 600 {self.path}, or write "
                'them as "env:NAME" references'
            )


def _dotenv(overrides: Mapping[str, Any]) -> dict[str, str | None]:
    env_file = overrides.get("_env_file", Settings.model_config.get("env_file"))
    files = env_file if isinstance(env_file, list | tuple) else [env_file]
    values: dict[str, str | None] = {}
    for file in files:
        if file is not None and Path(file).is_file():
            values.update(dotenv_values(file))
    return values


def configured_path(overrides: Mapping[str, Any]) -> tuple[Path | None, _FileModeVariables]:
    """STATICIP_CONFIG (from the overrides, the environment or `.env`), if set."""
    picked = {
        k: v
        for k, v in overrides.items()
        if k in _FileModeVariables.model_fields or k.startswith("_")
    }
    raw = _FileModeVariables(**picked)
    value = raw.staticip_config
    if not _is_set(value):
        return None, raw
    return Path(str(value).strip()), raw


# Valid stand-ins for the environment account's required fields, used when the file has
# problems, so that the settings' own problems are still reported in the same pass.
_STAND_INS = {
    "upstox_client_id": "unset",
    "upstox_client_secret": "unset",
    "upstox_redirect_uri": "http://127.0.0.1/upstox/callback",
    "slack_approval_channel": "C000000000",
    "slack_approvers": ["U000000000"],
}


def load(path: Path, raw: _FileModeVariables, overrides: dict[str, Any]) -> Settings:
    """The settings with the accounts of the file at `path` (see the module docstring)."""
    problems = [
        f"{name.upper()} is set but {_VAR} lists the accounts: unset one (in the file: {where})"
        for name, where in ACCOUNT_VARIABLES.items()
        if _is_set(getattr(raw, name))
    ]
    reader = _Reader(path, _Secrets(os.environ, _dotenv(overrides)))
    slack, accounts = reader.read()
    problems += reader.problems
    fields: dict[str, Any] = dict(_STAND_INS)
    if accounts and not problems:
        own = accounts[0].apps[0]
        global_slack = slack or FileSlack()
        fields = {
            "upstox_client_id": own.client_id,
            "upstox_client_secret": own.client_secret,
            "upstox_redirect_uri": own.redirect_uri,
            "slack_approval_channel": global_slack.approval_channel
            or accounts[0].slack_approval_channel,
            "slack_approvers": list(global_slack.approvers or accounts[0].slack_approvers),
            "slack_requesters": list(global_slack.requesters or ()),
        }
    others = {k: v for k, v in overrides.items() if k not in ACCOUNT_VARIABLES}
    try:
        settings = config.build_settings(**others, **fields)
    except SettingsError as error:
        problems += [line for line in error.problems if line not in problems]
    if problems:
        raise SettingsError(problems)
    return settings.with_accounts(accounts)
