"""No Docker engine here: check the Dockerfile's properties by parsing it."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    result = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def _all(keyword: str) -> list[str]:
    return [rest for kw, rest in _instructions() if kw == keyword]


def test_slim_python_base() -> None:
    (base,) = _all("FROM")
    assert base.startswith("python:3.1") and "slim" in base


def test_runs_as_non_root() -> None:
    users = _all("USER")
    assert users and users[-1] not in ("root", "0")
    assert any("useradd" in run for run in _all("RUN"))


def test_installs_from_pyproject_like_the_readme() -> None:
    runs = " ".join(_all("RUN"))
    assert "python -m venv" in runs and "pip install '.[postgres]'" in runs
    assert any("pyproject.toml" in c for c in _all("COPY"))


def test_healthcheck_port_volume_and_command() -> None:
    (health,) = _all("HEALTHCHECK")
    assert "/healthz" in health
    assert _all("EXPOSE") == ["3000"]
    (volume,) = _all("VOLUME")
    data_dir = json.loads(volume)[0]
    assert any(f"sqlite:///{data_dir}/" in env for env in _all("ENV"))
    assert json.loads(_all("CMD")[-1]) == ["staticip-bot"]
