"""`python -m bot check`, the doctor, run as a user runs it against the emulator and the fake
Slack: all ✓ on a good set-up, and each broken set-up gives its ✗ line (with the fix) and
exit 1. The doctor changes nothing: it posts nothing and never calls Upstox's PUT."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bot.upstox.emulator import EmulatorServer
from tests.conftest import REGISTERED_PRIMARY
from tests.support.bot_runner import APPROVAL_CHANNEL, BotProcess, InProcessBot
from tests.support.fake_slack import FakeSlack
from tests.support.public_ip_server import PublicIpServer

Check = Callable[..., tuple[int, list[str]]]


@pytest.fixture
def good_env(
    env: dict[str, str], fake_slack: FakeSlack, ip_server: PublicIpServer
) -> dict[str, str]:
    fake_slack.usergroups["SAPPROVERS"] = ["UAPPROVER3"]
    ip_server.body = REGISTERED_PRIMARY
    return {**env, "PUBLIC_IP_URL": ip_server.url()}


@pytest.fixture
def started_once(good_env: dict[str, str], make_bot: Callable[..., InProcessBot]) -> InProcessBot:
    """The bot has run once: the schema is migrated and UPSTOX_ACCESS_TOKEN stored."""
    return make_bot(PUBLIC_IP_URL=good_env["PUBLIC_IP_URL"])


@pytest.fixture
def check(good_env: dict[str, str], tmp_path: Path, fake_slack: FakeSlack) -> Check:
    def run(**overrides: str) -> tuple[int, list[str]]:
        env = {**good_env, **{k.upper(): v for k, v in overrides.items()}}
        fake_slack.reset()
        proc = BotProcess(env, cwd=tmp_path, args=["check"])
        code = proc.wait_exit(timeout=60)
        posted = [c.method for c in fake_slack.calls if c.method.startswith(("chat.", "views."))]
        assert posted == []  # the doctor never says anything in Slack
        return code, proc.lines

    return run


def _line(lines: list[str], start: str) -> str:
    found = [line for line in lines if line.startswith(start)]
    assert len(found) == 1, "\n".join(lines)
    return found[0]


def test_a_good_set_up_is_all_ticks_and_exit_0(
    started_once: InProcessBot, check: Check, emulator: EmulatorServer
) -> None:
    code, lines = check()
    assert code == 0, "\n".join(lines)
    assert all(line.startswith("✓ ") for line in lines), "\n".join(lines)
    names = [line.split(":")[0] for line in lines]
    assert names == [
        "✓ configuration",
        "✓ Slack token",
        "✓ Slack scopes",
        f"✓ approval channel {APPROVAL_CHANNEL}",
        "✓ user group SAPPROVERS",
        "✓ database (sqlite)",
        "✓ Upstox token",
        "✓ UPSTOX_REDIRECT_URI",
        "✓ public IP",
    ]
    assert f"✓ public IP: {REGISTERED_PRIMARY} is registered" in lines
    assert not [c for c in emulator.state.calls if c.method == "PUT"]


def test_bot_not_in_the_channel(
    started_once: InProcessBot, check: Check, fake_slack: FakeSlack
) -> None:
    fake_slack.not_member_of.add(APPROVAL_CHANNEL)
    code, lines = check()
    assert code == 1
    assert _line(lines, f"✗ approval channel {APPROVAL_CHANNEL}") == (
        f"✗ approval channel {APPROVAL_CHANNEL}: the bot is not a member — fix: in Slack: "
        f"/invite @staticip-bot in <#{APPROVAL_CHANNEL}>"
    )


def test_dead_upstox_token(
    started_once: InProcessBot, check: Check, emulator: EmulatorServer, upstox_token: str
) -> None:
    emulator.state.revoke(emulator.state.tokens[upstox_token])
    code, lines = check()
    assert code == 1
    assert _line(lines, "✗ Upstox token") == (
        "✗ Upstox token: Upstox refused the stored token — fix: /staticip login in Slack "
        "(or set UPSTOX_ACCESS_TOKEN)"
    )
    # Without a working token the registered IPs cannot be read either.
    assert _line(lines, "✗ public IP").startswith("✗ public IP: ")


def test_dead_slack_token(started_once: InProcessBot, check: Check, fake_slack: FakeSlack) -> None:
    fake_slack.token_error = "invalid_auth"
    code, lines = check()
    assert code == 1
    assert _line(lines, "✗ Slack token") == (
        "✗ Slack token: Slack refused SLACK_BOT_TOKEN (invalid_auth) — fix: copy the Bot User "
        "OAuth Token (xoxb-…) from the app's OAuth & Permissions page"
    )


def test_wrong_upstox_user(started_once: InProcessBot, check: Check, upstox_token: str) -> None:
    # The bot is pinned to another Upstox user than the one the stored token belongs to.
    code, lines = check(UPSTOX_USER_ID="ZZ0001")
    assert code == 1
    assert _line(lines, "✗ Upstox token") == (
        "✗ Upstox token: belongs to Upstox user EMU001, expected ZZ0001 — fix: log in as the "
        "account's own user: /staticip login"
    )


def test_bad_redirect_path(started_once: InProcessBot, check: Check) -> None:
    code, lines = check(UPSTOX_REDIRECT_URI="https://bot.example.com/callback")
    assert code == 1
    assert _line(lines, "✗ UPSTOX_REDIRECT_URI") == (
        "✗ UPSTOX_REDIRECT_URI: https://bot.example.com/callback does not end in "
        "/upstox/callback — fix: set it (and the Upstox app's redirect URL) to "
        "https://<this host>/upstox/callback"
    )


def test_unregistered_host_ip(
    started_once: InProcessBot, check: Check, ip_server: PublicIpServer
) -> None:
    ip_server.body = "203.0.113.9"
    code, lines = check()
    assert code == 1
    assert _line(lines, "✗ public IP") == (
        f"✗ public IP: this host's 203.0.113.9 is not registered (registered: "
        f"{REGISTERED_PRIMARY}) — fix: /staticip set 203.0.113.9 in Slack"
    )


def test_missing_scope_and_unmigrated_database(
    check: Check, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    # Never started: nothing migrated, nothing stored.
    fake_slack.scopes = ["chat:write"]
    code, lines = check(DATABASE_URL=f"sqlite:///{tmp_path / 'fresh.db'}")
    assert code == 1
    assert _line(lines, "✗ Slack scopes").startswith(
        "✗ Slack scopes: missing commands, usergroups:read — fix: "
    )
    assert _line(lines, "✗ database (sqlite)").endswith(
        "— fix: start the bot once: it migrates the schema at start-up"
    )


def test_bad_configuration_is_one_line_per_problem(check: Check) -> None:
    code, lines = check(SLACK_APPROVAL_CHANNEL="#trading", SLACK_SIGNING_SECRET="")
    assert code == 1
    assert lines == [
        "✗ configuration: SLACK_APPROVAL_CHANNEL: must be a channel ID like C0123ABCD (not a "
        "#name) — fix: set it in the environment or .env",
        "✗ configuration: SLACK_SIGNING_SECRET is required in HTTP mode (or set SLACK_APP_TOKEN "
        "for Socket Mode) — fix: set it in the environment or .env",
    ]
