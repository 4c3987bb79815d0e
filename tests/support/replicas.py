"""Driving real bot processes (replicas, crashes) from a test: start, click, log in, and read
their shared database directly.

Everything here goes through the bot's real edges: signed Slack requests, the OAuth
redirect, the Upstox emulator. The only shortcut is `StoreProbe`, which opens the bot's own
database with the bot's own store code to read what the replicas recorded.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import httpx

from bot.requests.blocks import APPROVE_ACTION, REJECT_ACTION
from bot.store.database import Database, open_database
from bot.store.models import ChangeRequest
from bot.store.request_states import RequestState
from tests.support.bot_runner import BOT_SECRET_KEY, BotProcess, wait_until
from tests.support.conversation import finish_reject, new_key, slash
from tests.support.fake_slack import FakeSlack, SlackCall
from tests.support.slack_requests import block_actions_body, post_signed

T = TypeVar("T")
PUT = "PUT /v2/user/ip"
CARD_ID = re.compile(r"IP change request (r-[a-z0-9]+)")


def start_replica(env: Mapping[str, str], workdir: Path, timeout: float = 20.0) -> BotProcess:
    """`python -m bot` with `env`, ready to serve (its own working directory)."""
    workdir.mkdir(parents=True, exist_ok=True)
    return BotProcess(env, cwd=workdir).wait_ready(timeout=timeout)


class StoreProbe:
    """The replicas' database, opened by the test with the bot's own store code."""

    def __init__(self, url: str, secret_key: str = BOT_SECRET_KEY) -> None:
        self.url = url
        self.secret_key = secret_key

    def run(self, use: Callable[[Database], Awaitable[T]]) -> T:
        async def go() -> T:
            db = await open_database(self.url, secret_key=self.secret_key, create_schema=False)
            try:
                return await use(db)
            finally:
                await db.close()

        return asyncio.run(go())

    def request(self, request_id: str) -> ChangeRequest:
        found = self.run(lambda db: db.requests.get(request_id))
        assert found is not None, request_id
        return found

    def events(self, request_id: str) -> list[str]:
        entries = self.run(lambda db: db.audit.list_for_request(request_id))
        return [e.event for e in entries]

    def wait_state(
        self, request_id: str, state: RequestState, timeout: float = 15.0
    ) -> ChangeRequest:
        wait_until(lambda: self.request(request_id).state is state, timeout, interval=0.1)
        return self.request(request_id)


def request_change(
    http: httpx.Client,
    base_url: str,
    fake_slack: FakeSlack,
    args: str = "8.8.8.8 9.9.9.9 moved to the new VPS",
) -> str:
    """Make a valid request through `base_url`; return its id (read from the posted card)."""
    earlier = len(card_ids(fake_slack))
    answer = slash(http, base_url, fake_slack, f"set {args}")
    assert "is posted for approval" in answer.params["text"], answer.params
    ids: list[str] = fake_slack.wait_for(
        lambda _: (found := card_ids(fake_slack))[earlier:] and found
    )
    return ids[earlier]


def card_ids(fake_slack: FakeSlack) -> list[str]:
    """The request ids of the approval cards posted so far, oldest first."""
    matches = [
        CARD_ID.match(str(c.params.get("text", "")))
        for c in fake_slack.calls_to("chat.postMessage")
    ]
    return [m.group(1) for m in matches if m]


@dataclass(frozen=True)
class Click:
    base_url: str
    user_id: str
    key: str
    status: int


def click(
    http: httpx.Client,
    base_url: str,
    fake_slack: FakeSlack,
    value: str,
    *,
    user_id: str,
    approve: bool = True,
    extra_headers: dict[str, str] | None = None,
    key: str | None = None,
) -> Click:
    """One signed Approve/Reject click; its ephemeral answer (if any) goes to `key`."""
    key = key or new_key("click")
    trigger_id = f"trigger-{key}"
    body = block_actions_body(
        APPROVE_ACTION if approve else REJECT_ACTION,
        value,
        user_id=user_id,
        response_url=fake_slack.response_url(key),
        trigger_id=trigger_id,
    )
    response = post_signed(http, base_url, body, extra_headers=extra_headers)
    if not approve and response.status_code == 200:  # Reject asks for a reason: submit it
        finish_reject(
            http,
            base_url,
            fake_slack,
            key=key,
            trigger_id=trigger_id,
            request_id=value,
            user_id=user_id,
        )
    return Click(base_url, user_id, key, response.status_code)


def click_storm(
    targets: Iterable[tuple[str, str]], fake_slack: FakeSlack, value: str
) -> list[Click]:
    """Fire one Approve click per (base_url, user_id) at once, released by one barrier."""
    plan = list(targets)
    barrier = threading.Barrier(len(plan))
    local = threading.local()

    def fire(target: tuple[str, str]) -> Click:
        if not hasattr(local, "http"):
            local.http = httpx.Client(timeout=20.0)
        barrier.wait(timeout=20)
        return click(local.http, target[0], fake_slack, value, user_id=target[1])

    with ThreadPoolExecutor(max_workers=len(plan)) as pool:
        return list(pool.map(fire, plan))


def log_in_via_callback(
    http: httpx.Client, base_url: str, fake_slack: FakeSlack, *, user_id: str = "UREQUESTER"
) -> httpx.Response:
    """What a person does: `/staticip login`, open the link, Upstox redirects back.

    The emulator redirects to the configured UPSTOX_REDIRECT_URI; the browser is sent to
    the same path and query on `base_url`, the replica actually listening.
    """
    answer = slash(http, base_url, fake_slack, "login", user_id=user_id)
    return follow_login_link(http, base_url, login_link(answer))


def login_link(answer: SlackCall) -> str:
    for block in answer.params.get("blocks") or []:
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            if element.get("url"):
                return str(element["url"])
    raise AssertionError(f"no login link in {answer.params}")


def callback_url(http: httpx.Client, base_url: str, link: str) -> str:
    """Open the login dialog; the bot's callback URL with a fresh code, on `base_url`."""
    dialog = http.get(link, follow_redirects=False)
    assert dialog.status_code == 302, dialog.text
    location = urlsplit(dialog.headers["location"])
    return f"{base_url}{location.path}?{location.query}"


def follow_login_link(http: httpx.Client, base_url: str, link: str) -> httpx.Response:
    return http.get(callback_url(http, base_url, link))


def responses_with(fake_slack: FakeSlack, keys: Iterable[str]) -> dict[str, SlackCall]:
    """The first response_url post for each key that has one."""
    wanted = set(keys)
    found: dict[str, SlackCall] = {}
    for call in fake_slack.responses():
        if call.response_url_id in wanted and call.response_url_id not in found:
            found[call.response_url_id] = call
    return found
