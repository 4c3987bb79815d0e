"""The "change window reopened" note: once per lock period, when someone is waiting for it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.service.watch import window_reopened_condition
from bot.service.week_window import ChangeWindow
from bot.slack.blocks.watch import window_reopened
from bot.store.models import ChangeRequest

if TYPE_CHECKING:
    from bot.runtime import Runtime


async def check_window(
    runtime: Runtime,
    window: ChangeWindow,
    *,
    waiting: Sequence[ChangeRequest],
    drift_ip: str | None,
) -> None:
    condition = window_reopened_condition(
        window, runtime.clock(), request_waiting=bool(waiting), drifting=drift_ip is not None
    )
    if condition is None:
        return
    text, blocks = window_reopened(window, waiting=list(waiting), drift_ip=drift_ip)
    if await runtime.alerts.start(condition, text, blocks):
        runtime.refresh_home()
