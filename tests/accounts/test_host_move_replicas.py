"""Two replicas on PostgreSQL, three accounts from a STATICIP_CONFIG file: a host move's
Approve clicked 20 times across both replicas still sends exactly one PUT per account."""

from __future__ import annotations

import re
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from bot.requests.blocks import MOVE_APPROVE_ACTION
from bot.store.request_states import RequestState
from bot.upstox.emulator import EmulatorServer
from tests.support.bot_runner import (
    UPSTOX_CLIENT_ID,
    UPSTOX_CLIENT_SECRET,
    BotProcess,
    wait_until,
)
from tests.support.conversation import new_key, slash
from tests.support.databases import postgres_schema_url
from tests.support.fake_slack import FakeSlack
from tests.support.replicas import PUT, StoreProbe
from tests.support.slack_requests import block_actions_body, post_signed
from tests.support.upstox_users import DEFAULT_REDIRECT_URI, add_upstox_user

pytestmark = [pytest.mark.postgres, pytest.mark.stress]

S = RequestState
CLICKS = 20
MOVE_ID = re.compile(r"Host move `(m-[a-z0-9]+)`")
PER_ACCOUNT = (
    "UPSTOX_CLIENT_ID",
    "UPSTOX_CLIENT_SECRET",
    "UPSTOX_REDIRECT_URI",
    "UPSTOX_ACCESS_TOKEN",
    "UPSTOX_USER_ID",
    "SLACK_APPROVAL_CHANNEL",
    "SLACK_APPROVERS",
)


def config_file(path: Path, accounts: list[tuple[str, str, str, str]]) -> Path:
    """A STATICIP_CONFIG file; every secret an `env:` reference (see the environment)."""
    lines = ['[slack]\napproval_channel = "CAPPROVALS"\napprovers = ["UBOTH", "UOTHER"]\n']
    for name, user_id, client_id, _ in accounts:
        slug = name.upper()
        lines.append(
            f'[[accounts]]\nname = "{name}"\nupstox_user_id = "{user_id}"\n'
            f'upstox_access_token = "env:{slug}_TOKEN"\n'
            f'[[accounts.apps]]\nclient_id = "{client_id}"\n'
            f'client_secret = "env:{slug}_SECRET"\nredirect_uri = "{DEFAULT_REDIRECT_URI}"\n'
        )
    path.write_text("\n".join(lines))
    path.chmod(0o600)
    return path


def test_twenty_approve_clicks_on_two_replicas_move_each_account_once(
    env: dict[str, str],
    emulator: EmulatorServer,
    upstox_token: str,
    fake_slack: FakeSlack,
    http: httpx.Client,
    tmp_path: Path,
) -> None:
    family = add_upstox_user(emulator, "EMU002", primary_ip="203.0.113.20")
    prop = add_upstox_user(emulator, "EMU003", primary_ip="203.0.113.30")
    accounts = [
        ("desk", "EMU001", UPSTOX_CLIENT_ID, UPSTOX_CLIENT_SECRET),
        ("family", family.user_id, family.client_id, family.client_secret),
        ("prop", prop.user_id, prop.client_id, prop.client_secret),
    ]
    secrets = {
        "DESK_TOKEN": upstox_token,
        "FAMILY_TOKEN": family.access_token,
        "PROP_TOKEN": prop.access_token,
        **{f"{name.upper()}_SECRET": secret for name, _, _, secret in accounts},
    }
    with postgres_schema_url() as database_url:
        replica_env = {k: v for k, v in env.items() if k not in PER_ACCOUNT}
        replica_env |= {
            **secrets,
            "DATABASE_URL": database_url,
            "STATICIP_CONFIG": str(config_file(tmp_path / "staticip.toml", accounts)),
        }
        procs = []
        try:
            for i in range(2):
                workdir = tmp_path / f"replica{i}"
                workdir.mkdir()
                procs.append(BotProcess(replica_env, cwd=workdir))
            for proc in procs:
                proc.wait_ready(timeout=30)
            run_storm(procs, fake_slack, http, emulator, StoreProbe(database_url))
        finally:
            for proc in procs:
                proc.kill()


def run_storm(
    procs: list[BotProcess],
    fake_slack: FakeSlack,
    http: httpx.Client,
    emulator: EmulatorServer,
    store: StoreProbe,
) -> None:
    first, second = procs
    answer = str(slash(http, first.base_url, fake_slack, "set all 8.8.8.8 new colo").params["text"])
    found = MOVE_ID.search(answer)
    assert found, answer
    move_id = found[1]

    barrier = threading.Barrier(CLICKS)
    local = threading.local()

    def fire(i: int) -> int:
        if not hasattr(local, "http"):
            local.http = httpx.Client(timeout=30.0)
        body = block_actions_body(
            MOVE_APPROVE_ACTION,
            move_id,
            user_id=("UBOTH", "UOTHER")[i % 2],
            response_url=fake_slack.response_url(new_key("storm")),
        )
        barrier.wait(timeout=20)
        return post_signed(local.http, procs[i % 2].base_url, body).status_code

    with ThreadPoolExecutor(max_workers=CLICKS) as pool:
        statuses = list(pool.map(fire, range(CLICKS)))
    assert statuses == [200] * CLICKS

    def all_applied() -> bool:
        parts = store.run(lambda db: db.requests.in_move(move_id))
        return len(parts) == 3 and all(p.state is S.APPLIED for p in parts)

    wait_until(all_applied, timeout=60, interval=0.2)
    per_user = Counter(call.user_id for call in emulator.state.calls_to(PUT))
    assert per_user == {"EMU001": 1, "EMU002": 1, "EMU003": 1}
    for user in ("EMU001", "EMU002", "EMU003"):
        assert emulator.state.user(user).ips.primary_ip == "8.8.8.8"
    # Each account was approved once, by one click (its own atomic transition decided).
    parts = store.run(lambda db: db.requests.in_move(move_id))
    for part in parts:
        assert store.events(part.id) == ["requested", "approved", "applying", "applied"]
    for proc in (first, second):
        assert proc.proc.poll() is None, proc.output()
        out = proc.output()
        assert "Traceback" not in out and " ERROR " not in out, out
