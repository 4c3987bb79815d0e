"""A fresh clone of the repository, with nothing around it, passes a meaningful subset of the
suite: nothing the tests or the bot need lives outside the repository."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# What a reach outside the checkout looks like: a relative path up to the sibling shared
# folder, or pathlib joining it onto `ROOT.parent` or `parents[n]`. (This file spells the
# folder's name and its examples in pieces, so that neither it nor a grep for such paths
# matches this file.)
_SIBLING = "sha" + "red"
_OUTSIDE = re.compile(
    r"\.\./"
    + _SIBLING
    + r"|\bparents?(?:\[\d+\])?\s*/\s*[\"']"
    + _SIBLING
    + r"[\"']"
    + r"|[\"']\.\.[\"']\s*,\s*[\"']"
    + _SIBLING
    + r"[\"']"
)
# Fast, and together they touch the settings model, the web app, the manifest schema fixture
# and a real `python -m bot` process.
_SUBSET = ["tests/test_manifest.py", "tests/test_config.py"]


def _git(*args: str, cwd: Path) -> str:
    result = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=30, check=True
    )
    return result.stdout.strip()


def _outside_references(tree: Path) -> list[str]:
    hits = []
    for folder in ("bot", "tests", ".ci"):
        for path in sorted((tree / folder).rglob("*")):
            if not path.is_file() or path.suffix == ".pyc":
                continue
            for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                if _OUTSIDE.search(line):
                    hits.append(f"{path.relative_to(tree)}:{number}: {line.strip()}")
    return hits


def test_the_pattern_catches_the_old_schema_path() -> None:
    old = f'SCHEMA = ROOT.parent / "{_SIBLING}" / "schemas" / "slack-manifest" / "x.json"'
    assert _OUTSIDE.search(old)
    assert _OUTSIDE.search(f"Path(__file__).parents[2] / '{_SIBLING}'")
    assert _OUTSIDE.search(f"open('../{_SIBLING}/schemas/x.json')")
    assert not _OUTSIDE.search("a read shared by callers; ROOT.parent / 'tests'")


@pytest.mark.fresh_clone
@pytest.mark.timeout(120)
def test_a_fresh_clone_passes_on_its_own(tmp_path: Path) -> None:
    if not (ROOT / ".git").exists():
        pytest.skip("not running from a git checkout")
    head = _git("rev-parse", "HEAD", cwd=ROOT)
    clone = tmp_path / "staticip-bot"
    _git("clone", "--quiet", "--no-local", str(ROOT), str(clone), cwd=tmp_path)
    _git("checkout", "--quiet", "--detach", head, cwd=clone)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["staticip-bot"]

    assert _outside_references(clone) == []

    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = str(clone)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    where = subprocess.run(
        [sys.executable, "-c", "import bot, tests; print(bot.__file__); print(tests.__file__)"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    # The clone's own code is under test, not the checkout the venv was installed from.
    assert [Path(line).parent.parent for line in where.stdout.split()] == [clone, clone]

    run = subprocess.run(
        [sys.executable, "-m", "pytest", *_SUBSET, "-q", "-p", "no:cacheprovider"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert re.search(r"\b\d+ passed\b", run.stdout), run.stdout[-2000:]
    assert " skipped" not in run.stdout.splitlines()[-1], run.stdout[-2000:]
