"""Replicas and crashes: real `python -m bot` processes on one database (SQLite file or a
PostgreSQL schema), behind the same fake Slack and Upstox emulator."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.bot_runner import BotProcess
from tests.support.replicas import StoreProbe

StartReplicas = Callable[..., list[BotProcess]]


@pytest.fixture
def replica_env(env: dict[str, str], any_database_url: str) -> dict[str, str]:
    """The test configuration on the shared database (both backends)."""
    return {**env, "DATABASE_URL": any_database_url}


@pytest.fixture
def store(replica_env: dict[str, str]) -> StoreProbe:
    return StoreProbe(replica_env["DATABASE_URL"])


@pytest.fixture
def replicas(replica_env: dict[str, str], tmp_path: Path) -> Iterator[StartReplicas]:
    """`replicas(n)` or `replicas({...}, {...})` (extra environment per replica): start them
    side by side and return them ready; every one is killed at the end of the test."""
    started: list[BotProcess] = []

    def start(*overrides: int | dict[str, str]) -> list[BotProcess]:
        plans: list[dict[str, str]] = []
        for item in overrides:
            plans.extend([{}] * item if isinstance(item, int) else [item])
        procs = []
        for plan in plans:
            env = {**replica_env, **{k.upper(): v for k, v in plan.items()}}
            workdir = tmp_path / f"replica{len(started)}"
            workdir.mkdir(parents=True, exist_ok=True)
            proc = BotProcess(env, cwd=workdir)
            started.append(proc)
            procs.append(proc)
        for proc in procs:
            proc.wait_ready(timeout=30)
        return procs

    yield start
    for proc in started:
        proc.kill()
