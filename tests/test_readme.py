"""The README's emulator quick start works on 127.0.0.1 with no tunnel, and its links and
install commands point at things that exist."""

from __future__ import annotations

import queue
import re
import shlex
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx

from bot.upstox.emulator.state import AppConfig
from tests.support.bot_runner import settings_from_env

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _quick_start() -> tuple[list[str], dict[str, str]]:
    """The emulator's arguments and the bot's environment, from the README's sh block."""
    section = README.split("## Try everything with the Upstox emulator", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0].replace("\\\n", " ")
    commands = [line for line in block.splitlines() if line.strip() and line[0] != "#"]
    emulator, bot = commands
    words = shlex.split(emulator)
    assert words[:2] == [".venv/bin/staticip-bot", "emulator"]
    env_words = shlex.split(bot.replace("<the seed token it printed>", "SEED"))
    assert env_words[-1] == ".venv/bin/staticip-bot"
    env = dict(word.split("=", 1) for word in env_words[:-1])
    return words[2:], env


def _option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_the_quick_start_stays_on_this_machine() -> None:
    args, env = _quick_start()
    defaults = AppConfig()
    # The emulator runs with its default app; the bot is given exactly that app.
    assert "--client-id" not in args and "--redirect-uri" not in args
    assert env["UPSTOX_CLIENT_ID"] == defaults.client_id
    assert env["UPSTOX_CLIENT_SECRET"] == defaults.client_secret
    assert env["UPSTOX_REDIRECT_URI"] == defaults.redirect_uri
    bot_at = f"http://{env['HOST']}:{env['PORT']}"
    assert env["UPSTOX_REDIRECT_URI"] == f"{bot_at}/upstox/callback"
    assert _option(args, "--notifier-url") == f"{bot_at}/upstox/notifier"
    assert env["UPSTOX_BASE_URL"] == f"http://127.0.0.1:{_option(args, '--port')}"
    # Socket Mode: Slack needs no public URL either.
    settings = settings_from_env(
        {
            **env,
            "SLACK_APP_TOKEN": "xapp-1-A0FAKE-1-abcdef",
            "SLACK_BOT_TOKEN": "xoxb-readme",
            "SLACK_APPROVAL_CHANNEL": "CAPPROVALS",
            "SLACK_APPROVERS": "UAPPROVER1",
        }
    )
    assert settings.socket_mode
    assert urlparse(str(settings.upstox_redirect_uri)).hostname == "127.0.0.1"


def test_the_quick_start_emulator_redirects_to_the_bot_on_localhost() -> None:
    args, env = _quick_start()
    args[args.index("--port") + 1] = "0"
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "emulator", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(
        target=lambda: [lines.put(x) for x in process.stdout or ()], daemon=True
    ).start()
    try:
        base_url = ""
        while not base_url:
            line = lines.get(timeout=30)
            if line.startswith("UPSTOX_BASE_URL="):
                base_url = line.strip().split("=", 1)[1]
        with httpx.Client(base_url=base_url, timeout=10) as client:
            dialog = client.get(
                "/v2/login/authorization/dialog",
                params={
                    "response_type": "code",
                    "client_id": env["UPSTOX_CLIENT_ID"],
                    "redirect_uri": env["UPSTOX_REDIRECT_URI"],
                    "state": "readme",
                },
            )
            assert dialog.status_code in (302, 303), dialog.text
            location = urlparse(dialog.headers["location"])
            assert (
                f"{location.scheme}://{location.netloc}{location.path}"
                == (env["UPSTOX_REDIRECT_URI"])
            )
            assert parse_qs(location.query)["state"] == ["readme"]
            state = client.get("/_emulator/state").json()
            assert state["config"]["notifier_url"] == _option(args, "--notifier-url")
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_links_and_install_commands() -> None:
    for target in re.findall(r"\]\(((?!https?:)[^)#]+)\)", README):
        assert (ROOT / target).is_file(), target
    assert ".venv/bin/pip install -e . && .venv/bin/staticip-bot" in README
    assert ".venv/bin/pip install -e '.[test]' && .venv/bin/pytest" in README
    assert "start-up to /readyz 200" not in README, "the tables live in docs/performance.md"
    assert "ack p99 @c50" in (ROOT / "docs" / "performance.md").read_text()
