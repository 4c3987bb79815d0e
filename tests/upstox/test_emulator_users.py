"""Several Upstox users in one emulator: each has its own IPs, week lock, tokens, rate-limit
windows, PUT slot and apps; a token decides whose IPs it reads and changes, a client_id
decides whose login it is; faults and the call log can be narrowed to one user."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import SecretStr

from bot.ist import IST
from bot.upstox import UpstoxClient
from bot.upstox.emulator import EmulatorServer
from tests.support.bot_runner import wait_until
from tests.support.upstox_users import (
    EmulatedUser,
    add_upstox_user,
    emulator_with_users,
    user_body,
)
from tests.upstox.helpers import NotifierReceiver, admin, error_codes, raw

WEDNESDAY = datetime(2026, 4, 1, 10, 0, tzinfo=IST)
LAST_WEEK = datetime(2026, 3, 24, 10, 0, tzinfo=IST)  # a Tuesday: this week may change
A_IPS = ("203.0.113.1", "203.0.113.2")
B_IPS = ("198.51.100.1", None)
PUT = "PUT /v2/user/ip"


@pytest.fixture
def two_users(emulator: EmulatorServer) -> tuple[str, EmulatedUser]:
    """User A is the default user (a token of it); user B is added over the admin API."""
    emulator.state.clock.set(WEDNESDAY)
    emulator.state.set_ips(*A_IPS, LAST_WEEK, LAST_WEEK)
    a_token = emulator.state.issue_token().value
    b = add_upstox_user(
        emulator, "EMU002", name="Second Trader", primary_ip=B_IPS[0], last_changed_at=LAST_WEEK
    )
    return a_token, b


def ips(emulator: EmulatorServer, token: str) -> dict[str, object]:
    response = raw(emulator, "GET", "/v2/user/ip", token)
    assert response.status_code == 200, response.text
    data: dict[str, object] = response.json()["data"]
    return data


def test_each_token_reads_its_own_users_ips(
    emulator: EmulatorServer, two_users: tuple[str, EmulatedUser]
) -> None:
    a_token, b = two_users
    a = ips(emulator, a_token)
    b_seen = ips(emulator, b.access_token)
    assert (a["user_id"], a["primary_ip"], a["secondary_ip"]) == ("EMU001", *A_IPS)
    assert (b_seen["user_id"], b_seen["primary_ip"]) == ("EMU002", B_IPS[0])
    assert "secondary_ip" not in b_seen  # never set for B
    assert b_seen["primary_ip_updated_at"] == "2026-03-24 10:00:00"
    profile = raw(emulator, "GET", "/v2/user/profile", b.access_token).json()["data"]
    assert (profile["user_id"], profile["user_name"]) == ("EMU002", "Second Trader")


def test_a_change_by_one_user_leaves_the_other_alone(
    emulator: EmulatorServer, two_users: tuple[str, EmulatedUser]
) -> None:
    a_token, b = two_users
    b_second_token = admin(emulator, "POST", "/tokens", json={"user_id": b.user_id})
    assert b_second_token["user_id"] == b.user_id

    put = raw(emulator, "PUT", "/v2/user/ip", a_token, json={"primary_ip": "203.0.113.50"})
    assert put.status_code == 200, put.text
    assert put.json()["data"]["user_id"] == "EMU001"
    assert put.json()["data"]["access_tokens_invalidated"] is True

    # A's tokens died; B's did not, and B's IPs are as they were.
    assert raw(emulator, "GET", "/v2/user/ip", a_token).status_code == 401
    assert ips(emulator, b.access_token)["primary_ip"] == B_IPS[0]
    assert ips(emulator, b_second_token["access_token"])["user_id"] == b.user_id
    assert emulator.state.ips.primary_ip == "203.0.113.50"  # the default user is A

    # The week lock is per user: B may still change this week, A may not again.
    a_again = emulator.state.issue_token().value
    refused = raw(emulator, "PUT", "/v2/user/ip", a_again, json={"primary_ip": "203.0.113.51"})
    assert refused.status_code == 423 and error_codes(refused) == ["UDAPI1185"]
    b_put = raw(emulator, "PUT", "/v2/user/ip", b.access_token, json={"primary_ip": "198.51.100.9"})
    assert b_put.status_code == 200, b_put.text
    assert b_put.json()["data"]["user_id"] == b.user_id
    assert emulator.state.user(b.user_id).ips.primary_ip == "198.51.100.9"
    assert emulator.state.ips.primary_ip == "203.0.113.50"  # A untouched by B's change
    assert raw(emulator, "GET", "/v2/user/ip", a_again).status_code == 200  # B's PUT: not A's
    assert raw(emulator, "GET", "/v2/user/ip", b_second_token["access_token"]).status_code == 401

    state_b = admin(emulator, "GET", "/state", params={"user_id": b.user_id})
    assert state_b["user_id"] == b.user_id
    assert state_b["next_change_allowed_at"] == "2026-04-06T00:00:00+05:30"
    assert [t["alive"] for t in state_b["tokens"]] == [False, False]
    assert b.access_token not in json.dumps(state_b)


def test_the_put_log_says_whose_put_it_was(
    emulator: EmulatorServer, two_users: tuple[str, EmulatedUser]
) -> None:
    a_token, b = two_users
    raw(emulator, "PUT", "/v2/user/ip", b.access_token, json={"primary_ip": "198.51.100.7"})
    raw(emulator, "PUT", "/v2/user/ip", a_token, json={"primary_ip": "203.0.113.7"})
    raw(emulator, "GET", "/v2/user/ip", "not-a-token")

    calls = admin(emulator, "GET", "/calls")
    puts = [
        (c["user_id"], c["body"]["primary_ip"], c["status"]) for c in calls if c["route"] == PUT
    ]
    assert puts == [("EMU002", "198.51.100.7", 200), ("EMU001", "203.0.113.7", 200)]
    assert calls[-1]["user_id"] is None  # an unknown token is nobody's
    only_b = admin(emulator, "GET", "/calls", params={"user_id": b.user_id})
    assert [(c["route"], c["user_id"]) for c in only_b] == [(PUT, "EMU002")]
    assert [c.user_id for c in emulator.state.calls_to(PUT, user_id="EMU001")] == ["EMU001"]


async def test_login_with_the_second_users_app_gives_that_users_token(
    emulator: EmulatorServer, two_users: tuple[str, EmulatedUser], client: UpstoxClient
) -> None:
    _, b = two_users
    url = client.authorization_url(client_id=b.client_id, redirect_uri=b.redirect_uri, state="b")
    with httpx.Client(timeout=5.0) as http:
        dialog = http.get(url)
    assert dialog.status_code == 302
    [code] = parse_qs(urlsplit(dialog.headers["location"]).query)["code"]

    token = await client.exchange_code(
        code=code,
        client_id=b.client_id,
        client_secret=SecretStr(b.client_secret),
        redirect_uri=b.redirect_uri,
    )

    assert token.user_id == b.user_id
    profile = await client.get_profile(token.access_token)
    assert (profile.user_id, profile.user_name) == (b.user_id, "Second Trader")
    record = emulator.state.tokens[token.access_token.get_secret_value()]
    assert (record.user_id, record.client_id, record.source) == (b.user_id, b.client_id, "oauth")
    assert ips(emulator, token.access_token.get_secret_value())["primary_ip"] == B_IPS[0]
    # Both login calls are logged as B's, found by the client_id they carry.
    logins = [c for c in admin(emulator, "GET", "/calls") if "login" in c["path"]]
    assert [c["user_id"] for c in logins] == [b.user_id, b.user_id]


async def test_a_users_extra_app_and_its_token_request_belong_to_that_user(
    emulator: EmulatorServer, client: UpstoxClient
) -> None:
    with NotifierReceiver() as notifier:
        b = add_upstox_user(
            emulator,
            "EMU002",
            apps=[
                {
                    "client_id": "b-algo-key",
                    "client_secret": "b-algo-secret",
                    "redirect_uri": "http://127.0.0.1:4000/cb",
                    "notifier_url": notifier.url,
                }
            ],
        )
        await client.start_access_token_request(
            client_id="b-algo-key", client_secret=SecretStr("b-algo-secret")
        )
        with httpx.Client(base_url=f"{emulator.base_url}/_emulator", timeout=5.0) as http:
            assert (
                http.post("/token-requests/approve", params={"user_id": "EMU001"}).status_code
                == 409
            )
        approved = admin(emulator, "POST", "/token-requests/approve", params={"user_id": b.user_id})
        assert notifier.arrived.wait(5)
    assert approved["payload"]["user_id"] == b.user_id
    assert approved["payload"]["client_id"] == "b-algo-key"
    assert ips(emulator, approved["payload"]["access_token"])["user_id"] == b.user_id
    assert emulator.state.user_for_client("b-algo-key") == b.user_id


def test_a_fault_for_one_user_spares_the_other(
    emulator: EmulatorServer, two_users: tuple[str, EmulatedUser]
) -> None:
    a_token, b = two_users
    admin(
        emulator,
        "POST",
        "/faults",
        json={"faults": [{"route": "GET /v2/user/ip", "status": 503, "user_id": b.user_id}]},
    )
    assert raw(emulator, "GET", "/v2/user/ip", a_token).status_code == 200
    assert raw(emulator, "GET", "/v2/user/ip", b.access_token).status_code == 503
    assert raw(emulator, "GET", "/v2/user/ip", b.access_token).status_code == 200  # count 1

    # The body's user_id targets every fault in it; a drop of A's PUT leaves B's PUT alone.
    admin(
        emulator,
        "POST",
        "/faults",
        json={"user_id": "EMU001", "faults": [{"route": "*", "kind": "drop", "count": 5}]},
    )
    b_put = raw(emulator, "PUT", "/v2/user/ip", b.access_token, json={"primary_ip": "198.51.100.3"})
    assert b_put.status_code == 200
    with pytest.raises(httpx.RemoteProtocolError):
        raw(emulator, "GET", "/v2/user/ip", a_token)
    [fault] = admin(emulator, "GET", "/state")["faults"]
    assert (fault["user_id"], fault["count"]) == ("EMU001", 4)
    admin(emulator, "DELETE", "/faults")

    # A fault naming no user hits anyone's call, as with a single user.
    admin(emulator, "POST", "/faults", json={"faults": [{"route": "*", "status": 500}]})
    assert raw(emulator, "GET", "/v2/user/ip", b.access_token).status_code == 500
    assert raw(emulator, "GET", "/v2/user/ip", a_token).status_code == 200


async def test_a_fault_on_the_token_exchange_finds_the_user_by_client_id(
    emulator: EmulatorServer, two_users: tuple[str, EmulatedUser], client: UpstoxClient
) -> None:
    _, b = two_users
    config = emulator.state.config
    admin(
        emulator,
        "POST",
        "/faults",
        params={"user_id": b.user_id},
        json={"faults": [{"route": "POST /v2/login/authorization/token", "status": 502}]},
    )
    form = {"code": "x", "grant_type": "authorization_code"}
    a_form = {
        **form,
        "client_id": config.client_id,
        "client_secret": config.client_secret,
        "redirect_uri": config.redirect_uri,
    }
    b_form = {
        **form,
        "client_id": b.client_id,
        "client_secret": b.client_secret,
        "redirect_uri": b.redirect_uri,
    }
    # A's exchange reaches the real handler (a bad code), B's meets the fault.
    a_answer = raw(emulator, "POST", "/v2/login/authorization/token", data=a_form)
    assert error_codes(a_answer) == ["UDAPI100016"]
    assert raw(emulator, "POST", "/v2/login/authorization/token", data=b_form).status_code == 502
    exchanges = emulator.state.calls_to("POST /v2/login/authorization/token")
    assert [(c.user_id, c.status) for c in exchanges] == [("EMU001", 400), ("EMU002", 502)]


def test_rate_limit_windows_and_the_put_slot_are_per_user(
    emulator: EmulatorServer, two_users: tuple[str, EmulatedUser]
) -> None:
    a_token, b = two_users
    admin(emulator, "POST", "/config", json={"rate_limits": [[60, 2]]})
    for _ in range(2):
        assert raw(emulator, "GET", "/v2/user/ip", a_token).status_code == 200
    assert error_codes(raw(emulator, "GET", "/v2/user/ip", a_token)) == ["UDAPI10005"]
    assert raw(emulator, "GET", "/v2/user/ip", b.access_token).status_code == 200
    admin(emulator, "POST", "/config", json={"rate_limits": [[60, 100]]})

    # A's PUT hangs in flight; B's goes through, a second one of A's is refused (1186).
    emulator.state.put_delay = 30
    answers: queue.Queue[httpx.Response] = queue.Queue()
    body = {"primary_ip": "203.0.113.60"}
    worker = threading.Thread(
        target=lambda: answers.put(raw(emulator, "PUT", "/v2/user/ip", a_token, json=body))
    )
    worker.start()
    try:
        wait_until(lambda: admin(emulator, "GET", "/state")["put_in_flight"])
        emulator.state.put_delay = 0
        b_put = raw(emulator, "PUT", "/v2/user/ip", b.access_token, json={"primary_ip": "1.1.1.1"})
        assert b_put.status_code == 200, b_put.text
        a_second = raw(emulator, "PUT", "/v2/user/ip", a_token, json=body)
        assert error_codes(a_second) == ["UDAPI1186"]
    finally:
        emulator.state.hangs.release_all()
        worker.join(10)
    assert answers.get(timeout=5).status_code == 503  # released unapplied
    assert emulator.state.ips.primary_ip == A_IPS[0]


def test_admin_targets_a_user_and_refuses_unknown_or_clashing_ones(
    emulator: EmulatorServer, two_users: tuple[str, EmulatedUser]
) -> None:
    _, b = two_users
    seeded = admin(
        emulator,
        "POST",
        "/ips",
        params={"user_id": b.user_id},
        json={"primary_ip": "198.51.100.200", "primary_ip_updated_at": "2026-04-01T09:00:00"},
    )
    assert seeded["user_id"] == b.user_id and seeded["ips"]["primary_ip"] == "198.51.100.200"
    assert emulator.state.ips.primary_ip == A_IPS[0]
    configured = admin(
        emulator, "POST", "/config", json={"user_id": b.user_id, "ip_access": "not_allowed"}
    )
    assert configured["ip_access"] == "not_allowed"
    assert error_codes(raw(emulator, "GET", "/v2/user/ip", b.access_token)) == ["UDAPI1179"]
    assert admin(emulator, "GET", "/state")["ip_access"] == "ok"  # A's
    users = admin(emulator, "GET", "/users")
    assert [u["user_id"] for u in users] == ["EMU001", "EMU002"]
    assert {u["config"]["client_secret"] for u in users} == {"(set)"}

    with httpx.Client(base_url=f"{emulator.base_url}/_emulator", timeout=5.0) as http:
        assert http.get("/state", params={"user_id": "NOPE"}).status_code == 404
        assert http.post("/tokens", json={"user_id": "NOPE"}).status_code == 404
        unknown_fault = http.post(
            "/faults", json={"faults": [{"route": "*", "status": 500, "user_id": "NOPE"}]}
        )
        assert unknown_fault.status_code == 404
        assert http.post("/users", json=user_body("EMU002")).status_code == 409
        clash = http.post("/users", json=user_body("EMU003", client_id=b.client_id))
        assert clash.status_code == 409 and "EMU002" in clash.json()["detail"]
        app_clash = http.post(
            "/apps",
            json={"client_id": b.client_id, "client_secret": "s", "redirect_uri": "http://x"},
        )
        assert app_clash.status_code == 400
    assert emulator.state.faults == []

    admin(emulator, "POST", "/reset")
    assert [u["user_id"] for u in admin(emulator, "GET", "/users")] == ["EMU001"]
    assert raw(emulator, "GET", "/v2/user/ip", b.access_token).status_code == 401


def test_users_given_at_start_survive_a_reset() -> None:
    with emulator_with_users(user_body("EMU002", primary_ip="198.51.100.5")) as emulator:
        emulator.state.reset()
        token = admin(emulator, "POST", "/tokens", json={"user_id": "EMU002"})["access_token"]
        assert ips(emulator, token)["primary_ip"] == "198.51.100.5"


def test_cli_reads_more_users_from_a_file(tmp_path: Path) -> None:
    users = tmp_path / "users.json"
    users.write_text(
        json.dumps([user_body("EMU002", primary_ip="198.51.100.8", seed_token="b-seed-token")])
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.upstox.emulator", "--port", "0", "--users", str(users)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout

    def pump() -> None:
        for line in stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    try:
        url = token = ""
        while not (url and token):
            line = lines.get(timeout=15).strip()
            if line.startswith("UPSTOX_BASE_URL="):
                url = line.removeprefix("UPSTOX_BASE_URL=")
            elif line.startswith("seed access token for EMU002: "):
                token = line.removeprefix("seed access token for EMU002: ")
        assert token == "b-seed-token"
        with httpx.Client(base_url=url, timeout=5.0) as http:
            answer = http.get("/v2/user/ip", headers={"Authorization": f"Bearer {token}"})
        assert answer.json()["data"] == {"user_id": "EMU002", "primary_ip": "198.51.100.8"}
    finally:
        process.send_signal(signal.SIGINT)
        try:
            assert process.wait(timeout=10) == 0
        finally:
            process.kill()


def test_cli_refuses_a_clashing_users_file(tmp_path: Path) -> None:
    users = tmp_path / "users.json"
    users.write_text(json.dumps([user_body("EMU002", client_id="emulator-api-key")]))
    result = subprocess.run(
        [sys.executable, "-m", "bot.upstox.emulator", "--port", "0", "--users", str(users)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "emulator-api-key" in result.stderr and "EMU001" in result.stderr
