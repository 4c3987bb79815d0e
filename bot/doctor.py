"""`staticip-bot check`: the doctor. One line per check, ✓ or ✗ with the fix; exit 0 only
when every check passes.

It reads and asks: no message is posted, no token is stored or marked dead, the database
is not migrated (the server does that at start-up). The one thing `build` may write is the
key file beside the SQLite database when BOT_SECRET_KEY is unset, as the first start would.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, replace

from pydantic import SecretStr
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.app import AccountBot, Bot, build
from bot.config import Settings, SettingsError, load_settings
from bot.ips import same_ip
from bot.log import configure_logging
from bot.login.tokens import NotLoggedIn
from bot.slack.identity import SlackAuth, SlackTokenRejected, SlackUnreachable
from bot.upstox.errors import UpstoxError, UpstoxTokenInvalid

CALLBACK_PATH = "/upstox/callback"
# What the bot calls: chat.postMessage/update/postEphemeral/getPermalink, views.*, the
# slash command; usergroups.users.list only when a user group is configured.
REQUIRED_SCOPES = frozenset({"chat:write", "commands"})
GROUP_SCOPE = "usergroups:read"
PASS, FAIL = "✓", "✗"


@dataclass(frozen=True)
class Result:
    name: str
    ok: bool
    detail: str
    fix: str | None = None

    def line(self) -> str:
        text = f"{PASS if self.ok else FAIL} {self.name}: {self.detail}"
        return text if self.ok or not self.fix else f"{text} — fix: {self.fix}"


def _ok(name: str, detail: str) -> Result:
    return Result(name, True, detail)


def _fail(name: str, detail: str, fix: str) -> Result:
    return Result(name, False, detail, fix)


def _groups(bot: Bot) -> list[str]:
    ids = [
        i
        for account in bot.accounts
        for i in (*account.settings.slack_approvers, *account.settings.slack_requesters)
    ]
    return sorted({i for i in ids if i.startswith("S")})


class Doctor:
    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self.settings = bot.settings
        self._auth: SlackAuth | None = None
        self._token: SecretStr | None = None

    async def run(self) -> list[Result]:
        """The bot's checks and each account's (named after the account when several)."""
        several = len(self.bot.accounts) > 1

        def named(account: AccountBot, result: Result) -> Result:
            return replace(result, name=f"{account.name}: {result.name}") if several else result

        results = [await self.slack_token(), await self.slack_scopes()]
        results += [named(a, await self.channel_membership(a)) for a in self.bot.accounts]
        results += await self.approver_groups()
        results.append(await self.database())
        for account in self.bot.accounts:
            self._token = None
            for check in (self.upstox_token, self.redirect_uri, self.public_ip):
                results.append(named(account, await check(account)))
        return results

    # -- Slack -------------------------------------------------------------------------

    async def slack_token(self) -> Result:
        name = "Slack token"
        try:
            self._auth = await self.bot.identity.verify()
        except SlackTokenRejected as error:
            return _fail(
                name,
                f"Slack refused SLACK_BOT_TOKEN ({error.error})",
                "copy the Bot User OAuth Token (xoxb-…) from the app's OAuth & Permissions page",
            )
        except SlackUnreachable as error:
            return _fail(
                name, f"Slack did not answer ({error})", "check SLACK_API_URL and the network"
            )
        return _ok(name, f"valid (bot user {self._auth.user_id}, team {self._auth.team_id})")

    async def slack_scopes(self) -> Result:
        name = "Slack scopes"
        if self._auth is None:
            return _fail(name, "not checked: the token does not work", "fix the Slack token")
        needed = set(REQUIRED_SCOPES)
        if _groups(self.bot):
            needed.add(GROUP_SCOPE)
        if self._auth.scopes is None:
            return _fail(
                name, "Slack did not report the token's scopes", "reinstall the app to Slack"
            )
        missing = sorted(needed - self._auth.scopes)
        if missing:
            return _fail(
                name,
                f"missing {', '.join(missing)}",
                "add them under OAuth & Permissions (or from manifest.yml) and reinstall the app",
            )
        return _ok(name, ", ".join(sorted(needed)))

    async def channel_membership(self, account: AccountBot) -> Result:
        channel = account.settings.slack_approval_channel
        name = f"approval channel {channel}"
        if self._auth is None:
            return _fail(name, "not checked: the token does not work", "fix the Slack token")
        try:
            response = await self.bot.slack.conversations_info(channel=channel)
        except SlackApiError as error:
            code = str(error.response.get("error"))
            if code == "missing_scope":
                return _fail(
                    name,
                    "cannot tell whether the bot is a member (missing_scope)",
                    "add the channels:read scope (groups:read for a private channel)",
                )
            return _fail(
                name, f"Slack says {code}", "set SLACK_APPROVAL_CHANNEL to the channel's ID"
            )
        except (SlackClientError, OSError) as error:
            return _fail(name, f"Slack did not answer ({type(error).__name__})", "try again")
        info = response.get("channel") or {}
        if not info.get("is_member"):
            return _fail(
                name, "the bot is not a member", f"in Slack: /invite @staticip-bot in <#{channel}>"
            )
        return _ok(name, "the bot is a member")

    async def approver_groups(self) -> list[Result]:
        results = []
        for group in _groups(self.bot):
            name = f"user group {group}"
            if self._auth is None:
                results.append(
                    _fail(name, "not checked: the token does not work", "fix the Slack token")
                )
                continue
            try:
                response = await self.bot.slack.usergroups_users_list(usergroup=group)
            except SlackApiError as error:
                code = str(error.response.get("error"))
                results.append(
                    _fail(name, f"does not resolve ({code})", "use the group's S… ID from Slack")
                )
                continue
            except (SlackClientError, OSError) as error:
                results.append(_fail(name, f"Slack did not answer ({error})", "try again"))
                continue
            users = response.get("users") or []
            if users:
                results.append(_ok(name, f"{len(users)} member(s)"))
            else:
                results.append(_fail(name, "has no members", "add its approvers in Slack"))
        return results

    # -- the store and Upstox ----------------------------------------------------------

    async def database(self) -> Result:
        name = f"database ({self.bot.db.backend})"
        if not await self.bot.db.ping():
            return _fail(name, "unreachable", "check DATABASE_URL and that the server runs")
        try:
            problems = await self.bot.db.schema_problems()
        except Exception as error:
            return _fail(name, f"cannot read the schema ({type(error).__name__})", "check it")
        if problems:
            return _fail(
                name,
                "not migrated: " + "; ".join(problems[:3]),
                "start the bot once: it migrates the schema at start-up",
            )
        return _ok(name, "reachable and migrated")

    async def upstox_token(self, account: AccountBot) -> Result:
        name = "Upstox token"
        login = "/staticip login in Slack (or set UPSTOX_ACCESS_TOKEN)"
        try:
            usable = await account.tokens.usable()
            stored_user = (await account.tokens.status()).user_id
        except NotLoggedIn:
            return _fail(name, "no usable token is stored", login)
        except Exception as error:
            return _fail(name, f"cannot read the stored token ({type(error).__name__})", login)
        try:
            profile = await self.bot.upstox.get_profile(usable.secret)
        except UpstoxTokenInvalid:
            return _fail(name, "Upstox refused the stored token", login)
        except UpstoxError as error:
            return _fail(name, f"the profile call failed ({error})", "check UPSTOX_BASE_URL")
        self._token = usable.secret
        expected = account.settings.upstox_user_id or stored_user
        if expected and profile.user_id != expected:
            return _fail(
                name,
                f"belongs to Upstox user {profile.user_id}, expected {expected}",
                "log in as the account's own user: /staticip login",
            )
        return _ok(name, f"works (Upstox user {profile.user_id})")

    async def redirect_uri(self, account: AccountBot) -> Result:
        name = "UPSTOX_REDIRECT_URI"
        redirect = account.settings.upstox_redirect_uri
        uri = str(redirect)
        if not (redirect.path or "").endswith(CALLBACK_PATH):
            return _fail(
                name,
                f"{uri} does not end in {CALLBACK_PATH}",
                f"set it (and the Upstox app's redirect URL) to https://<this host>{CALLBACK_PATH}",
            )
        return _ok(name, uri)

    async def public_ip(self, account: AccountBot) -> Result:
        name = "public IP"
        if not self.bot.public_ip.configured:
            return _ok(name, "not checked (PUBLIC_IP_URL is unset)")
        ip = await self.bot.public_ip.current()
        if ip is None:
            return _fail(name, "PUBLIC_IP_URL did not answer an IP", "check PUBLIC_IP_URL")
        if self._token is None:
            return _fail(
                name, f"{ip}: cannot read the registered IPs without a token", "fix the token"
            )
        try:
            ips = await self.bot.upstox.get_static_ips(self._token)
        except UpstoxError as error:
            return _fail(name, f"{ip}: reading the registered IPs failed ({error})", "try again")
        registered = [i for i in (ips.primary_ip, ips.secondary_ip) if i]
        if not any(same_ip(ip, other) for other in registered):
            shown = ", ".join(registered) or "none"
            return _fail(
                name,
                f"this host's {ip} is not registered (registered: {shown})",
                f"/staticip set {ip} in Slack",
            )
        return _ok(name, f"{ip} is registered")


async def _diagnose(settings: Settings) -> list[Result]:
    bot = build(settings)
    try:
        return await Doctor(bot).run()
    finally:
        await bot.upstox.aclose()
        await bot.public_ip.aclose()
        await bot.db.close()


def main() -> int:
    try:
        settings = load_settings()
    except SettingsError as error:
        for problem in error.problems:
            print(_fail("configuration", problem, "set it in the environment or .env").line())
        return 1
    configure_logging("ERROR", settings.secret_values())  # stdout is the checks' lines
    try:
        results = asyncio.run(_diagnose(settings))
    except SettingsError as error:  # e.g. a key file that cannot be read
        for problem in error.problems:
            print(_fail("configuration", problem, "fix it").line())
        return 1
    print(_ok("configuration", "valid").line())
    for result in results:
        print(result.line())
    sys.stdout.flush()
    return 0 if all(r.ok for r in results) else 1
