"""`python -m bot.upstox.emulator` runs a usable server and prints how to reach it."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading

import httpx


def test_cli_serves_on_a_free_port_with_a_seed_token() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bot.upstox.emulator",
            "--port",
            "0",
            "--primary-ip",
            "203.0.113.1",
            "--client-id",
            "cli-key",
        ],
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
        printed: dict[str, str] = {}
        while len(printed) < 2:
            line = lines.get(timeout=15).strip()
            if line.startswith("UPSTOX_BASE_URL="):
                printed["url"] = line.removeprefix("UPSTOX_BASE_URL=")
            elif line.startswith("seed access token: "):
                printed["token"] = line.removeprefix("seed access token: ")
        # The socket is bound before the URL is printed, so the first request connects.
        with httpx.Client(base_url=printed["url"], timeout=5.0) as http:
            response = http.get(
                "/v2/user/ip", headers={"Authorization": f"Bearer {printed['token']}"}
            )
            state = http.get("/_emulator/state").json()
        assert response.json()["data"]["primary_ip"] == "203.0.113.1"
        assert state["config"]["client_id"] == "cli-key"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            assert process.wait(timeout=10) == 0
        finally:
            process.kill()
