"""The two pages a person sees after the Upstox login — logged in, and refused — opened in
headless Chromium at phone width: rendered, readable (no sideways scrolling, text inside the
screen with a margin, a legible size), no console errors. Screenshots are kept in
STATICIP_ARTIFACTS (default: test-artifacts/ at the top of the repository).

Chromium is Debian's `chromium` package; `.ci/run` installs it and sets
STATICIP_REQUIRE_CHROMIUM=1 so that CI cannot skip these."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.upstox.emulator import EmulatorServer
from tests.login.conftest import MakeBot
from tests.login.helpers import confirmations, login_url, slash
from tests.support.bot_runner import REPO_ROOT
from tests.support.browser import CHROMIUM, Chromium, PageReport
from tests.support.fake_slack import FakeSlack

PHONE = {"width": 390, "height": 844}

if CHROMIUM is None:
    pytestmark = pytest.mark.skipif(
        os.environ.get("STATICIP_REQUIRE_CHROMIUM") != "1",
        reason="chromium is not installed (apt-get install chromium)",
    )


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    if CHROMIUM is None:
        pytest.fail("STATICIP_REQUIRE_CHROMIUM=1 but chromium is not installed")
    browser = Chromium(tmp_path_factory.mktemp("chromium-profile"))
    yield browser
    browser.close()


def _artifact(name: str) -> Path:
    folder = Path(os.environ.get("STATICIP_ARTIFACTS", REPO_ROOT / "test-artifacts"))
    return folder / name


def _assert_readable_at_phone_width(report: PageReport) -> None:
    layout = report.layout
    assert layout["hasViewportMeta"]
    assert layout["scrollWidth"] <= layout["viewportWidth"], layout  # no sideways scrolling
    assert layout["leftmost"] >= 8, layout  # the text does not touch the screen's edges
    assert layout["rightmost"] <= layout["viewportWidth"] - 8, layout
    assert layout["fontSizePx"] >= 14, layout
    assert report.console_errors == []
    assert report.screenshot is not None and report.screenshot.stat().st_size > 1000


def test_logged_in_page_in_chromium(
    chromium: Chromium,
    make_bot: MakeBot,
    http: httpx.Client,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
) -> None:
    bot = make_bot()
    answer = slash(http, bot, fake_slack, "login", key="login")
    # The whole login in the browser: the Upstox dialog redirects to the bot's callback.
    report = chromium.open(login_url(answer), **PHONE, screenshot=_artifact("logged-in.png"))
    assert report.status == 200
    assert report.layout["title"] == "Logged in"
    assert "Logged in to Upstox as EMU001. You can close this tab." in report.layout["text"]
    _assert_readable_at_phone_width(report)
    fake_slack.wait_for(lambda _: confirmations(fake_slack), timeout=10)


def test_refusal_page_in_chromium(chromium: Chromium, make_bot: MakeBot) -> None:
    bot = make_bot()
    url = f"{bot.base_url}/upstox/callback?code=abc&state=not-a-state"
    report = chromium.open(url, **PHONE, screenshot=_artifact("refused.png"))
    assert report.status is not None and 400 <= report.status < 500
    assert report.layout["title"] == "Not logged in"
    assert "/staticip login" in report.layout["text"]
    _assert_readable_at_phone_width(report)
