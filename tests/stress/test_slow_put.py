"""The slow-PUT race between two replicas (issue 16, item 4).

Upstox takes longer to answer the PUT than the old grace (twice UPSTOX_TIMEOUT), and
commits it after the bot's own total deadline has passed. Neither replica may call the
request failed on the strength of a read-back that still shows the old IPs: it stays
"applying" through the settling period and ends "applied", with one PUT.
"""

from __future__ import annotations

import time

import httpx
import pytest

from bot.store.request_states import RequestState
from bot.upstox.emulator import EmulatorServer
from tests.stress.conftest import StartReplicas
from tests.support.fake_slack import FakeSlack
from tests.support.replicas import PUT, StoreProbe, click, log_in_via_callback, request_change

pytestmark = pytest.mark.stress

S = RequestState
NEW_IPS = ("8.8.8.8", "9.9.9.9")
SETTINGS = {"UPSTOX_TIMEOUT": "3s", "CHECK_INTERVAL": "1s"}
OLD_GRACE_SECONDS = 6  # 2 × UPSTOX_TIMEOUT
PUT_LATENCY = OLD_GRACE_SECONDS + 1.5


def test_a_put_slower_than_the_grace_ends_applied_never_failed(
    replicas: StartReplicas,
    store: StoreProbe,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    http: httpx.Client,
) -> None:
    first, second = replicas(SETTINGS, SETTINGS)
    request_id = request_change(http, first.base_url, fake_slack)
    emulator.state.put_delay = PUT_LATENCY
    assert click(http, first.base_url, fake_slack, request_id, user_id="UAPPROVER1").status == 200

    seen: list[RequestState] = []
    logged_in = False
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline:
        state = store.request(request_id).state
        if not seen or seen[-1] is not state:
            seen.append(state)
        if state in (S.APPLIED, S.FAILED):
            break
        committed = (emulator.state.ips.primary_ip, emulator.state.ips.secondary_ip) == NEW_IPS
        if committed and not logged_in:
            # The change logged every session out: someone logs in (on the other replica),
            # and the read-back that follows finds the new IPs.
            assert log_in_via_callback(http, second.base_url, fake_slack).status_code == 200
            logged_in = True
        time.sleep(0.1)

    assert S.FAILED not in seen, (seen, store.events(request_id))
    assert seen[-1] is S.APPLIED, seen
    assert len(emulator.state.calls_to(PUT)) == 1
    assert store.events(request_id) == ["requested", "approved", "applying", "reconciled"]
    for proc in (first, second):
        assert "Traceback" not in proc.output(), proc.output()
