"""The PostgreSQL driver is an extra: the base install stays SQLite-only, the test extra, CI
and the Docker image still get it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _project() -> dict[str, Any]:
    project: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return project


def _names(requirements: list[str]) -> list[str]:
    return [re.split(r"[\[<>=;! ]", r, maxsplit=1)[0].lower() for r in requirements]


def test_psycopg_is_only_in_the_postgres_extra() -> None:
    project = _project()
    assert "psycopg" not in _names(project["dependencies"])
    assert _names(project["optional-dependencies"]["postgres"]) == ["psycopg"]


def test_the_test_extra_pulls_in_the_postgres_extra() -> None:
    project = _project()
    test = project["optional-dependencies"]["test"]
    assert f"{project['name']}[postgres]" in test or "psycopg" in _names(test)


def test_ci_installs_the_test_extra() -> None:
    assert "pip install --quiet -e '.[test]'" in (ROOT / ".ci" / "run").read_text()
