"""Helpers for the watcher and App Home tests: running a job now, finding posted alerts."""

from __future__ import annotations

from typing import TypeVar

from tests.support.bot_runner import InProcessBot
from tests.support.fake_slack import FakeSlack, SlackCall

T = TypeVar("T")


def run_job(bot: InProcessBot, name: str) -> bool:
    """One run of a scheduled job, now; True when it succeeded."""
    return bot.run(bot.services.scheduler.run_now(name))


def posts(fake_slack: FakeSlack, *needles: str) -> list[SlackCall]:
    """chat.postMessage calls whose text and blocks contain every needle."""
    return [
        c
        for c in fake_slack.calls_to("chat.postMessage")
        if all(n in c.text_blob() for n in needles)
    ]
