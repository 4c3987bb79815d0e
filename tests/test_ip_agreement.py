"""One IP normaliser (`bot.ips`): `::ffff:13.232.10.11` registered at Upstox and
`13.232.10.11` as this host's IP are the same address for `show`, for the drift watcher
and for the apply step's re-check."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from bot.store.request_states import RequestState
from bot.upstox.emulator import EmulatorServer
from tests.conftest import REGISTERED_AT
from tests.jobs.helpers import posts, run_job
from tests.login.helpers import slash
from tests.requests.helpers import NEW_PRIMARY, click, puts, request_change, wait_state
from tests.support.bot_runner import InProcessBot
from tests.support.fake_slack import FakeSlack
from tests.support.public_ip_server import PublicIpServer

MAPPED = "::ffff:13.232.10.11"
PLAIN = "13.232.10.11"


def test_mapped_and_plain_ipv4_are_one_address_for_show_drift_and_apply(
    make_bot: Callable[..., InProcessBot],
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    ip_server: PublicIpServer,
    http: httpx.Client,
) -> None:
    emulator.state.set_ips(MAPPED, None, primary_ip_updated_at=REGISTERED_AT)
    ip_server.body = PLAIN
    bot = make_bot(public_ip_url=ip_server.url())

    # show: this host's IP is registered.
    shown = slash(http, bot, fake_slack, "show", key="show").text_blob()
    assert f"This host's public IP `{PLAIN}` is registered (primary)" in shown

    # drift: no alert, however often the watcher looks.
    assert run_job(bot, "ip_watch")
    assert run_job(bot, "ip_watch")
    assert posts(fake_slack, "is not registered with Upstox") == []

    # apply: a request made against the mapped spelling is not "drifted" when Upstox
    # spells the same address plainly at the re-check; exactly one PUT goes out.
    request = request_change(http, bot, fake_slack, f"{NEW_PRIMARY} moving to the new host")
    assert request.current_primary == MAPPED
    emulator.state.set_ips(PLAIN, None, primary_ip_updated_at=REGISTERED_AT)
    click(http, bot.base_url, fake_slack, request.id, user_id="UAPPROVER1")
    applied = wait_state(bot, request.id, RequestState.APPLIED)
    assert applied.failure_reason is None
    assert puts(emulator) == 1
    assert emulator.state.ips.primary_ip == NEW_PRIMARY
