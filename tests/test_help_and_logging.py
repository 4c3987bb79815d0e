"""`/staticip help`, unknown subcommands, and what the logs may contain."""

from __future__ import annotations

import logging

import httpx
import pytest

from bot.log import configure_logging, redactor
from tests.support.bot_runner import SLACK_BOT_TOKEN, InProcessBot, wait_until
from tests.support.fake_slack import FakeSlack
from tests.support.slack_requests import SIGNING_SECRET, post_signed, slash_command_body


@pytest.mark.parametrize("text", ["help", "HELP", "  help  "])
def test_help_is_an_ephemeral_ack(
    bot: InProcessBot, http: httpx.Client, fake_slack: FakeSlack, text: str
) -> None:
    response = post_signed(http, bot.base_url, slash_command_body(text))
    assert response.status_code == 200
    body = response.json()
    assert body["response_type"] == "ephemeral"
    assert "/staticip set <primary> [<secondary>] <reason…>" in body["text"]
    assert "<#CAPPROVALS>" in body["text"]
    assert fake_slack.responses() == []


def test_unknown_subcommand_names_it_and_shows_usage(bot: InProcessBot, http: httpx.Client) -> None:
    response = post_signed(http, bot.base_url, slash_command_body("frobnicate 1.2.3.4"))
    assert response.status_code == 200
    text = response.json()["text"]
    assert text.startswith("Unknown subcommand `frobnicate`.")
    assert "/staticip history [page]" in text


def test_log_lines_carry_request_ids_and_no_secrets(
    bot: InProcessBot, http: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("DEBUG", bot.services.settings.secret_values())
    out = ""

    def request_logged() -> bool:
        # The request line is written after the response has left, so wait for it.
        nonlocal out
        out += capsys.readouterr().out
        return "POST /slack/events -> 200" in out

    try:
        post_signed(http, bot.base_url, slash_command_body("help"))
        logging.getLogger("test").info("token is %s", SLACK_BOT_TOKEN)
        logging.getLogger("test").info("Authorization: Bearer abc.def-ghi")
        wait_until(request_logged, timeout=5)
    finally:
        logging.getLogger().setLevel(logging.WARNING)
    request_lines = [line for line in out.splitlines() if "POST /slack/events -> 200" in line]
    assert request_lines and "req=-" not in request_lines[0]
    assert SLACK_BOT_TOKEN not in out and SIGNING_SECRET not in out
    assert "abc.def-ghi" not in out
    assert out.count("[redacted]") >= 2


def test_redactor_hides_known_values_and_token_shapes() -> None:
    redactor.add(["super-secret-value-123"])
    text = redactor.redact("a super-secret-value-123 b xoxb-1-2-abc c xapp-1-A-b")
    assert text == "a [redacted] b [redacted] c [redacted]"
