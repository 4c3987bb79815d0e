"""Several Upstox apps of one user in the emulator: each logs in with its own API key,
secret and redirect, each gets its own Access Token Request, and one IP change logs every
app out."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import SecretStr

from bot.upstox import UpstoxApiError, UpstoxClient, UpstoxTokenInvalid
from bot.upstox.emulator import EmulatorServer
from tests.upstox.helpers import NotifierReceiver, admin

TRADING_APP = {
    "client_id": "trading-app-key",
    "client_secret": "trading-app-secret",
    "redirect_uri": "http://127.0.0.1:9/trading/callback",
}


async def oauth_token(
    client: UpstoxClient, *, client_id: str, client_secret: str, redirect_uri: str
) -> SecretStr:
    url = client.authorization_url(client_id=client_id, redirect_uri=redirect_uri, state="s")
    with httpx.Client(timeout=5.0, follow_redirects=False) as http:
        answer = http.get(url)
    assert answer.status_code == 302, answer.text
    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    exchanged = await client.exchange_code(
        code=code,
        client_id=client_id,
        client_secret=SecretStr(client_secret),
        redirect_uri=redirect_uri,
    )
    return exchanged.access_token


async def test_each_app_logs_in_on_its_own_and_one_ip_change_logs_all_out(
    emulator: EmulatorServer, client: UpstoxClient
) -> None:
    admin(emulator, "POST", "/apps", json=TRADING_APP)
    config = emulator.state.config
    own = await oauth_token(
        client,
        client_id=config.client_id,
        client_secret=config.client_secret,
        redirect_uri=config.redirect_uri,
    )
    trading = await oauth_token(client, **TRADING_APP)
    records = emulator.state.tokens
    assert records[trading.get_secret_value()].client_id == "trading-app-key"
    assert records[own.get_secret_value()].client_id == config.client_id
    assert (await client.get_profile(trading)).user_id == config.user_id

    await client.update_static_ips(own, primary_ip="8.8.8.8", secondary_ip=None)

    for token in (own, trading):
        with pytest.raises(UpstoxTokenInvalid):
            await client.get_profile(token)


async def test_an_app_code_or_secret_works_only_for_that_app(
    emulator: EmulatorServer, client: UpstoxClient
) -> None:
    admin(emulator, "POST", "/apps", json=TRADING_APP)
    config = emulator.state.config
    with pytest.raises(UpstoxApiError):
        await oauth_token(
            client,
            client_id=TRADING_APP["client_id"],
            client_secret=config.client_secret,  # the main app's secret
            redirect_uri=TRADING_APP["redirect_uri"],
        )
    with httpx.Client(timeout=5.0, follow_redirects=False) as http:
        wrong_redirect = http.get(
            client.authorization_url(
                client_id=TRADING_APP["client_id"], redirect_uri=config.redirect_uri, state="s"
            )
        )
    assert wrong_redirect.status_code == 400
    refused = httpx.post(
        f"{emulator.base_url}/_emulator/apps", json={**TRADING_APP, "client_id": config.client_id}
    )
    assert refused.status_code == 400


async def test_each_app_gets_its_own_access_token_request_on_its_own_notifier(
    emulator: EmulatorServer, client: UpstoxClient
) -> None:
    config = emulator.state.config
    with NotifierReceiver() as own_notifier, NotifierReceiver() as trading_notifier:
        admin(emulator, "POST", "/config", json={"notifier_url": own_notifier.url})
        admin(emulator, "POST", "/apps", json={**TRADING_APP, "notifier_url": trading_notifier.url})
        for client_id, secret in (
            (config.client_id, config.client_secret),
            (TRADING_APP["client_id"], TRADING_APP["client_secret"]),
        ):
            await client.start_access_token_request(
                client_id=client_id, client_secret=SecretStr(secret)
            )

        first = admin(
            emulator, "POST", "/token-requests/approve", params={"client_id": "trading-app-key"}
        )
        second = admin(emulator, "POST", "/token-requests/approve")
        assert trading_notifier.arrived.wait(5) and own_notifier.arrived.wait(5)

    assert first["payload"]["client_id"] == "trading-app-key"
    assert second["payload"]["client_id"] == config.client_id
    assert [b["client_id"] for b in trading_notifier.received] == ["trading-app-key"]
    assert [b["client_id"] for b in own_notifier.received] == [config.client_id]
    snapshot = admin(emulator, "GET", "/state")
    assert snapshot["apps"][0]["client_secret"] == "(set)"
