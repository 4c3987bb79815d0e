"""Steps shared by the change-request tests: commands, clicks, and what reached Slack,
Upstox and the store."""

from __future__ import annotations

import httpx

from bot.requests.blocks import APPROVE_ACTION, HISTORY_OLDER_ACTION, REJECT_ACTION
from bot.store.models import AuditEntry, ChangeRequest
from bot.store.request_states import RequestState
from bot.upstox.emulator import EmulatorServer
from tests.support.bot_runner import InProcessBot, wait_until
from tests.support.conversation import finish_reject, new_key, slash
from tests.support.fake_slack import FakeSlack, SlackCall
from tests.support.slack_requests import block_actions_body, post_signed

CHANNEL = "CAPPROVALS"
PUT = "PUT /v2/user/ip"
NEW_PRIMARY = "8.8.8.8"
NEW_SECONDARY = "9.9.9.9"


def click(
    http: httpx.Client,
    base_url: str,
    fake_slack: FakeSlack,
    value: str,
    *,
    user_id: str,
    approve: bool = True,
    wait: bool = True,
    reason: str = "",
) -> str:
    """A click on Approve/Reject; returns the response_url key (ephemeral answers go there).

    Reject opens the reason modal: it is then submitted (with `reason`) as Slack would."""
    key = new_key("click")
    trigger_id = f"trigger-{key}"
    body = block_actions_body(
        APPROVE_ACTION if approve else REJECT_ACTION,
        value,
        user_id=user_id,
        response_url=fake_slack.response_url(key),
        trigger_id=trigger_id,
    )
    response = post_signed(http, base_url, body)
    assert response.status_code == 200, response.text
    if not approve:
        finish_reject(
            http,
            base_url,
            fake_slack,
            key=key,
            trigger_id=trigger_id,
            request_id=value,
            user_id=user_id,
            reason=reason,
        )
    return key


def cards(fake_slack: FakeSlack) -> list[SlackCall]:
    return [
        c
        for c in fake_slack.calls_to("chat.postMessage")
        if str(c.params.get("text", "")).startswith("IP change request")
    ]


def card_updates(fake_slack: FakeSlack, request_id: str) -> list[SlackCall]:
    return [
        c
        for c in fake_slack.calls_to("chat.update")
        if str(c.params.get("text", "")).startswith(f"IP change request {request_id}")
    ]


def channel_posts(fake_slack: FakeSlack, containing: str) -> list[SlackCall]:
    return [
        c
        for c in fake_slack.calls_to("chat.postMessage")
        if c.params.get("channel") == CHANNEL and containing in c.text_blob()
    ]


def stored(bot: InProcessBot, request_id: str) -> ChangeRequest:
    found = bot.run(bot.services.db.requests.get(request_id))
    assert found is not None
    return found


def all_requests(bot: InProcessBot) -> list[ChangeRequest]:
    return bot.run(bot.services.db.requests.list_in_state(list(RequestState)))


def events(bot: InProcessBot, request_id: str) -> list[str]:
    entries: list[AuditEntry] = bot.run(bot.services.db.audit.list_for_request(request_id))
    return [e.event for e in entries]


def wait_state(
    bot: InProcessBot, request_id: str, state: RequestState, timeout: float = 10.0
) -> ChangeRequest:
    wait_until(lambda: stored(bot, request_id).state is state, timeout)
    return stored(bot, request_id)


def puts(emulator: EmulatorServer) -> int:
    return len(emulator.state.calls_to(PUT))


def request_change(
    http: httpx.Client,
    bot: InProcessBot,
    fake_slack: FakeSlack,
    args: str = f"{NEW_PRIMARY} {NEW_SECONDARY} moved to the new VPS",
    *,
    user_id: str = "UREQUESTER",
) -> ChangeRequest:
    """Make a valid request; return it once its card is posted."""
    answer = slash(http, bot.base_url, fake_slack, f"set {args}", user_id=user_id)
    assert "is posted for approval" in answer.params["text"], answer.params
    [request] = [r for r in all_requests(bot) if r.state is RequestState.PENDING]
    assert request.card_ts is not None
    return request


def last_card(fake_slack: FakeSlack, request_id: str, containing: str) -> str:
    def found() -> str | None:
        updates = card_updates(fake_slack, request_id)
        return (
            updates[-1].text_blob() if updates and containing in updates[-1].text_blob() else None
        )

    blob: str = fake_slack.wait_for(lambda _: found())
    return blob


def reconcile_until(
    bot: InProcessBot, request_id: str, state: RequestState, timeout: float = 10.0
) -> ChangeRequest:
    """Run the reconcile sweep (as the periodic job would) until the request is in `state`.

    The card's note can be seen a moment before the click's own apply task has finished;
    a sweep in that moment rightly leaves the request to that task, so sweep again."""

    def settled() -> bool:
        bot.run(bot.services.requests.reconcile_unfinished())
        return stored(bot, request_id).state is state

    wait_until(settled, timeout)
    return stored(bot, request_id)


def click_older(
    http: httpx.Client,
    base_url: str,
    fake_slack: FakeSlack,
    value: str,
    *,
    user_id: str = "UREQUESTER",
    key: str | None = None,
) -> SlackCall:
    """A signed click on a history message's Older button (`value`: the button's value, as
    Slack sends it back); returns what the bot posted to the message's response_url."""
    key = key or new_key("older")
    body = block_actions_body(
        HISTORY_OLDER_ACTION,
        value,
        user_id=user_id,
        response_url=fake_slack.response_url(key),
        channel_id="CDM",
        block_id="history",
    )
    response = post_signed(http, base_url, body)
    assert response.status_code == 200, response.text
    return fake_slack.wait_for_response(key)
