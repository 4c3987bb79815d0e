"""deploy/: no container engine here, so parse compose.yml, the Caddyfile and the systemd unit
and check them against the settings model and the app's routes."""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from bot.web import create_app
from tests.support.bot_runner import bot_env, settings_from_env
from tests.support.settings_env import refused_env_names, settings_env_names

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
PUBLIC_PATHS = {"/slack/events", "/upstox/callback", "/upstox/notifier"}
_REFERENCE = re.compile(r"\$\{(\w+)(?::?[?-][^}]*)?\}")


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yml").read_text())
    return loaded


def _env_lines(path: Path) -> dict[str, str]:
    pairs = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


def _substitute(value: str) -> str:
    """What compose makes of `${VAR:?message}` with deploy/.env.example as deploy/.env."""
    variables = _env_lines(DEPLOY / ".env.example")
    return _REFERENCE.sub(lambda m: variables[m.group(1)], value)


def _references(value: str) -> list[str]:
    return [m.group(1) for m in _REFERENCE.finditer(value)]


def _bots() -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = _compose()["services"]
    return {name: s for name, s in services.items() if "build" in s}


def _environment(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    assert isinstance(environment, dict), "use the mapping form of environment"
    return {k: str(v) for k, v in environment.items()}


def _env_files(service: dict[str, Any]) -> list[Path]:
    files = service.get("env_file") or []
    return [DEPLOY / f for f in ([files] if isinstance(files, str) else files)]


def _example_of(env_file: Path) -> Path:
    """deploy/bot.env is git-ignored; deploy/bot.env.example is what gets committed."""
    return env_file.with_name(env_file.name + ".example")


def _merged_env(service: dict[str, Any]) -> dict[str, str]:
    env: dict[str, str] = {}
    for env_file in _env_files(service):
        env.update(_env_lines(_example_of(env_file)))
    env.update({k: _substitute(v) for k, v in _environment(service).items()})
    return env


def test_two_bot_replicas_built_from_the_repository() -> None:
    bots = _bots()
    assert len(bots) == 2
    for service in bots.values():
        assert (DEPLOY / service["build"]["context"]).resolve() == ROOT
    first, second = bots.values()
    assert first == second, "the replicas differ"


def test_replicas_share_one_secret_key_source_never_inline() -> None:
    sources = []
    for name, service in _bots().items():
        environment = _environment(service)
        if "BOT_SECRET_KEY" in environment:
            value = environment["BOT_SECRET_KEY"]
            assert _references(value) and _REFERENCE.fullmatch(value), f"{name}: inline key"
            sources.append(("variable", *_references(value)))
        else:
            files = [f for f in _env_files(service) if "BOT_SECRET_KEY" in _env_lines(f)]
            assert files, f"{name}: BOT_SECRET_KEY from nowhere"
            sources.append(("env_file", *map(str, files)))
    assert len(set(sources)) == 1, sources


def test_database_url_is_the_postgres_service() -> None:
    services = _compose()["services"]
    for name, service in _bots().items():
        url = _environment(service)["DATABASE_URL"]
        parsed = urlparse(_substitute(url))
        assert parsed.scheme in {"postgresql", "postgres"}, name
        db = services[parsed.hostname]
        assert db["image"].startswith("postgres:")
        db_env = _environment(db)
        assert parsed.username == db_env["POSTGRES_USER"]
        assert parsed.path == "/" + db_env["POSTGRES_DB"]
        # The password is the same variable the database is initialised with.
        assert _references(url) == _references(db_env["POSTGRES_PASSWORD"]) != []
        assert "postgres" in service["depends_on"]


def test_every_variable_the_bots_get_is_a_setting() -> None:
    settings = set(settings_env_names()) - refused_env_names()
    for name, service in _bots().items():
        for env_file in _env_files(service):
            assert _example_of(env_file).is_file(), f"{name}: no {_example_of(env_file).name}"
        unknown = set(_merged_env(service)) - settings
        assert not unknown, f"{name}: not settings of bot.config.Settings: {unknown}"


def test_the_example_deployment_is_a_valid_configuration() -> None:
    # The operator replaces the key placeholder with what its comment says to run.
    key = secrets.token_hex(32)  # `openssl rand -hex 32`
    for service in _bots().values():
        settings = settings_from_env({**_merged_env(service), "BOT_SECRET_KEY": key})
        assert settings.is_postgres and not settings.socket_mode
        assert settings.bot_secret_key is not None
        host = _env_lines(DEPLOY / ".env.example")["BOT_HOST"]
        assert str(settings.upstox_redirect_uri) == f"https://{host}/upstox/callback"


def test_example_secrets_are_placeholders() -> None:
    examples = {**_env_lines(DEPLOY / ".env.example"), **_env_lines(DEPLOY / "bot.env.example")}
    for key in ("POSTGRES_PASSWORD", "BOT_SECRET_KEY", "SLACK_SIGNING_SECRET"):
        assert "replace-with" in examples[key], key
    assert examples["SLACK_BOT_TOKEN"].startswith("xoxb-replace-with")
    assert examples["UPSTOX_CLIENT_SECRET"].startswith("replace-with")


def test_health_checks_hit_readyz_on_the_bots_port() -> None:
    for name, service in _bots().items():
        check = " ".join(service["healthcheck"]["test"])
        port = _merged_env(service)["PORT"]
        assert f"127.0.0.1:{port}/readyz" in check, name
    assert "health_uri /readyz" in _caddyfile()


def _caddyfile() -> str:
    services = _compose()["services"]
    (proxy,) = [s for s in services.values() if str(s.get("image", "")).startswith("caddy")]
    mounts = [v.split(":") for v in proxy["volumes"]]
    (source,) = [src for src, target, *_ in mounts if target == "/etc/caddy/Caddyfile"]
    return (DEPLOY / source).read_text()


def test_proxy_routes_the_three_public_paths_to_both_replicas() -> None:
    text = _caddyfile()
    matcher = re.search(r"@(\w+) path ([^\n]+)", text)
    assert matcher, "no path matcher"
    name, paths = matcher.group(1), set(matcher.group(2).split())
    assert paths == PUBLIC_PATHS
    handled = re.search(rf"handle @{name} \{{(.*?)\n\t\}}", text, re.S)
    assert handled, f"nothing handles @{name}"
    upstreams = re.search(r"reverse_proxy ([^{\n]+)", handled.group(1))
    assert upstreams
    expected = {f"{n}:{_merged_env(s)['PORT']}" for n, s in _bots().items()}
    assert set(upstreams.group(1).split()) == expected


def test_the_routed_paths_are_routes_of_the_app() -> None:
    env = bot_env(
        slack_api_url="http://127.0.0.1:9/api/",
        upstox_base_url="http://127.0.0.1:9",
        database_url="sqlite:///unused.db",
    )
    app = create_app(settings_from_env(env))
    paths = {route.path for route in app.routes}  # type: ignore[attr-defined]
    assert paths >= PUBLIC_PATHS | {"/readyz"}


def test_caddy_accepts_the_caddyfile_when_installed(tmp_path: Path) -> None:
    caddy = shutil.which("caddy")
    if caddy is None:
        pytest.skip("caddy is not installed")
    host = _env_lines(DEPLOY / ".env.example")["BOT_HOST"]
    result = subprocess.run(
        [caddy, "adapt", "--config", str(DEPLOY / "Caddyfile"), "--adapter", "caddyfile"],
        env={"BOT_HOST": host, "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert host in result.stdout and "/readyz" in result.stdout


def test_systemd_unit_runs_the_entry_point_and_keeps_config_errors_down() -> None:
    unit = (DEPLOY / "staticip-bot.service").read_text()
    settings = dict(
        line.split("=", 1) for line in unit.splitlines() if "=" in line and line[0] != "#"
    )
    assert settings["ExecStart"].endswith("/bin/staticip-bot")
    assert settings["RestartPreventExitStatus"] == "2"  # a configuration error exits 2
    assert settings["StateDirectory"] == "staticip-bot"
    assert settings["WorkingDirectory"] == "/var/lib/staticip-bot"
    assert "/var/lib/staticip-bot/" in settings["Environment"]


def test_local_env_files_are_not_committed() -> None:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    for name in ("deploy/.env", "deploy/bot.env"):
        ignored = subprocess.run(["git", "check-ignore", "-q", name], cwd=ROOT, timeout=30)
        assert ignored.returncode == 0, f"{name} is not git-ignored"
