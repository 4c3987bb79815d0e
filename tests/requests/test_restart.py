"""A pending request survives a hard kill of the server process and is approved once after
the restart (the real `python -m bot`, on SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import httpx

from bot.upstox.emulator import EmulatorServer
from tests.requests.helpers import (
    NEW_PRIMARY,
    NEW_SECONDARY,
    card_updates,
    cards,
    click,
)
from tests.support.bot_runner import BotProcess
from tests.support.conversation import buttons, slash
from tests.support.fake_slack import FakeSlack


def test_pending_request_survives_a_kill_and_is_approved_once(
    env: dict[str, str],
    any_database_url: str,
    tmp_path: Path,
    http: httpx.Client,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
) -> None:
    process_env = {**env, "DATABASE_URL": any_database_url}
    first = BotProcess(process_env, cwd=tmp_path).wait_ready()
    try:
        answer = slash(http, first.base_url, fake_slack, f"set {NEW_PRIMARY} {NEW_SECONDARY} vps")
        assert "is posted for approval" in answer.params["text"]
    finally:
        first.kill()
    [card] = cards(fake_slack)
    request_id = buttons(card.params)[0]["value"]

    second = BotProcess(process_env, cwd=tmp_path).wait_ready()
    try:
        click(http, second.base_url, fake_slack, request_id, user_id="UAPPROVER1")
        fake_slack.wait_for(
            lambda _: any(
                "*Applied*" in u.text_blob() for u in card_updates(fake_slack, request_id)
            )
        )
        key = click(http, second.base_url, fake_slack, request_id, user_id="UAPPROVER2")
        assert (
            "already approved by <@UAPPROVER1>" in fake_slack.wait_for_response(key).params["text"]
        )
    finally:
        second.kill()
    assert len(emulator.state.calls_to("PUT /v2/user/ip")) == 1
    assert (emulator.state.ips.primary_ip, emulator.state.ips.secondary_ip) == (
        NEW_PRIMARY,
        NEW_SECONDARY,
    )
    # The card posted by the first process was updated in place by the second.
    update = card_updates(fake_slack, request_id)[-1]
    assert (update.params["channel"], update.params["ts"]) == (
        card.params["channel"],
        fake_slack.calls_to("chat.getPermalink")[0].params["message_ts"],
    )
