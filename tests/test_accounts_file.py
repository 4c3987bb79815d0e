"""STATICIP_CONFIG: several accounts from a TOML file; every mistake is one line and exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from bot.accounts_file import ACCOUNT_VARIABLES
from bot.config import DEFAULT_ACCOUNT, Settings, SettingsError, load_settings
from tests.support.bot_runner import BotProcess, bot_env

ROOT = Path(__file__).resolve().parent.parent
CALLBACK = "http://127.0.0.1:3000/upstox/callback"
DESK_SECRET = "desk-secret-from-env"
FAMILY_SECRET = "family-secret-from-env"
DESK_KEY = "desk-token-key-0123456789"
PROP_SEED = "prop-seed-token-from-env"
INLINE_SECRET = "prop-algo-inline-secret"


def _env() -> dict[str, str]:
    """A valid environment without the per-account variables (the file holds those)."""
    env = bot_env(
        slack_api_url="http://127.0.0.1:9/api/",
        upstox_base_url="http://127.0.0.1:9",
        database_url="sqlite:///x.db",
    )
    return {k: v for k, v in env.items() if k.lower() not in ACCOUNT_VARIABLES}


def _write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def _load(path: Path, **extra: str) -> Settings:
    values = {k.lower(): v for k, v in _env().items()}
    values.update(extra)
    return load_settings(_env_file=None, staticip_config=str(path), **values)


def _problems(path: Path, **extra: str) -> list[str]:
    with pytest.raises(SettingsError) as raised:
        _load(path, **extra)
    return raised.value.problems


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESK_SECRET", DESK_SECRET)
    monkeypatch.setenv("FAMILY_SECRET", FAMILY_SECRET)
    monkeypatch.setenv("DESK_KEY", DESK_KEY)
    monkeypatch.setenv("PROP_SEED", PROP_SEED)


def _three_accounts(token_dir: Path) -> str:
    return f"""
[slack]
approval_channel = "CAPPROVALS"
approvers = ["UAPPROVER1", "SAPPROVERS"]
requesters = ["UREQUEST01"]

[[accounts]]
name = "desk"
upstox_user_id = "DESK01"
  [[accounts.apps]]
  client_id = "desk-id"
  client_secret = "env:DESK_SECRET"
  redirect_uri = "{CALLBACK}"
  token_api_keys = ["env:DESK_KEY"]

[[accounts]]
name = "family"
approval_channel = "CFAMILY01"
approvers = ["UPARENT01"]
requesters = []
  [[accounts.apps]]
  name = "algo"
  client_id = "family-algo-id"
  client_secret = "family-algo-secret-inline"
  redirect_uri = "{CALLBACK}"
  [[accounts.apps]]
  name = "default"
  client_id = "family-id"
  client_secret = "env:FAMILY_SECRET"
  redirect_uri = "{CALLBACK}"

[[accounts]]
name = "prop-2"
upstox_access_token = "env:PROP_SEED"
  [[accounts.apps]]
  client_id = "prop-id"
  client_secret = "prop-secret-inline"
  redirect_uri = "{CALLBACK}"
  [[accounts.apps]]
  name = "trading"
  client_id = "prop-trading-id"
  client_secret = "{INLINE_SECRET}"
  redirect_uri = "{CALLBACK}"
  token_file = "{token_dir}/token.json"
"""


def test_three_accounts_with_overrides_env_references_and_the_own_app_first(
    tmp_path: Path, secrets: None
) -> None:
    path = _write(tmp_path / "staticip.toml", _three_accounts(tmp_path))
    settings = _load(path)
    desk, family, prop = settings.accounts
    assert [a.name for a in (desk, family, prop)] == ["desk", "family", "prop-2"]

    # desk: the global Slack people, its secret and key from the environment.
    assert desk.upstox_user_id == "DESK01"
    assert [app.name for app in desk.apps] == ["default"]
    assert desk.apps[0].client_secret.get_secret_value() == DESK_SECRET
    assert [k.get_secret_value() for k in desk.apps[0].token_api_keys] == [DESK_KEY]
    assert desk.slack_approval_channel == "CAPPROVALS"
    assert desk.slack_approvers == ("UAPPROVER1", "SAPPROVERS")
    assert desk.slack_requesters == ("UREQUEST01",)

    # family: its own channel and people; the app named "default" comes first.
    assert [(app.name, app.client_id) for app in family.apps] == [
        ("default", "family-id"),
        ("algo", "family-algo-id"),
    ]
    assert family.apps[0].client_secret.get_secret_value() == FAMILY_SECRET
    assert family.slack_approval_channel == "CFAMILY01"
    assert family.slack_approvers == ("UPARENT01",)
    assert family.slack_requesters == ()

    # prop-2: no app named "default", so the first (unnamed) is the bot's own; a seed token.
    assert [(app.name, app.client_id) for app in prop.apps] == [
        ("default", "prop-id"),
        ("trading", "prop-trading-id"),
    ]
    assert prop.apps[1].token_file == tmp_path / "token.json"
    assert prop.upstox_access_token.get_secret_value() == PROP_SEED
    assert prop.key == "prop-id"

    seen = settings.for_account(family)
    assert seen.account_name == "family"
    assert seen.upstox_client_id == "family-id"
    assert seen.upstox_client_secret.get_secret_value() == FAMILY_SECRET
    assert seen.slack_approvers == ["UPARENT01"]
    assert seen.slack_approval_channel == "CFAMILY01"
    assert [app.name for app in seen.upstox_trading_apps] == ["algo"]
    seen = settings.for_account(prop)
    assert seen.upstox_client_id == "prop-id"
    assert seen.slack_approvers == ["UAPPROVER1", "SAPPROVERS"]
    assert seen.upstox_access_token.get_secret_value() == PROP_SEED

    # The global Slack settings stay on the settings themselves.
    assert settings.slack_approval_channel == "CAPPROVALS"
    # Every secret of the file is redacted from the logs.
    redacted = set(settings.secret_values())
    for secret in (DESK_SECRET, FAMILY_SECRET, DESK_KEY, PROP_SEED, INLINE_SECRET):
        assert secret in redacted
    assert "family-algo-secret-inline" in redacted


def test_without_the_file_the_environment_describes_one_account() -> None:
    env = bot_env(
        slack_api_url="http://127.0.0.1:9/api/",
        upstox_base_url="http://127.0.0.1:9",
        database_url="sqlite:///x.db",
    )
    settings = load_settings(_env_file=None, **{k.lower(): v for k, v in env.items()})
    (account,) = settings.accounts
    assert account.name == DEFAULT_ACCOUNT
    assert account.apps[0].client_id == env["UPSTOX_CLIENT_ID"]
    assert settings.staticip_config is None
    empty = load_settings(
        _env_file=None, staticip_config="", **{k.lower(): v for k, v in env.items()}
    )
    assert [a.name for a in empty.accounts] == [DEFAULT_ACCOUNT]


def _one(name: str = "desk", extra: str = "", app_extra: str = "") -> str:
    return f"""
[[accounts]]
name = "{name}"
{extra}
  [[accounts.apps]]
  client_id = "{name}-id"
  client_secret = "env:DESK_SECRET"
  redirect_uri = "{CALLBACK}"
{app_extra}
"""


SLACK = '[slack]\napproval_channel = "CAPPROVALS"\napprovers = ["UAPPROVER1"]\n'


# The five mistakes the issue names: (file text, mode, the one line expected).
MUST_SHOW = {
    "unknown key": (
        SLACK + _one(extra='colour = "blue"'),
        0o600,
        "STATICIP_CONFIG accounts[0] (desk).colour: unknown key (the keys here are: name, ",
    ),
    "duplicate account name": (
        SLACK + _one() + _one().replace("desk-id", "other-id"),
        0o600,
        "STATICIP_CONFIG accounts[1] (desk).name: 'desk' is also the name of accounts[0] "
        "(desk): every account needs its own name",
    ),
    "missing secret reference": (
        SLACK + _one().replace("env:DESK_SECRET", "env:NOT_SET_ANYWHERE"),
        0o600,
        "STATICIP_CONFIG accounts[0] (desk).apps[0].client_secret: refers to the environment "
        "variable NOT_SET_ANYWHERE, which is not set",
    ),
    "world-readable file with inline secret": (
        SLACK + _one().replace("env:DESK_SECRET", "an-inline-secret"),
        0o644,
        "holds inline secrets (accounts[0].apps[0].client_secret) and is readable by group "
        "or others (mode 0644): chmod 600 ",
    ),
    "account without apps": (
        SLACK + '[[accounts]]\nname = "desk"\n',
        0o600,
        "STATICIP_CONFIG accounts[0] (desk): has no apps: add an [[accounts.apps]] table",
    ),
}


@pytest.mark.parametrize("case", list(MUST_SHOW))
def test_each_named_mistake_is_one_line(tmp_path: Path, secrets: None, case: str) -> None:
    text, mode, expected = MUST_SHOW[case]
    problems = _problems(_write(tmp_path / "staticip.toml", text, mode))
    assert len(problems) == 1, problems
    assert expected in problems[0], problems


def _run_bot(env: dict[str, str], cwd: Path, entry_point: bool) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "staticip-bot"
    command = [str(script)] if entry_point else [sys.executable, "-m", "bot"]
    passthrough = {"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}
    return subprocess.run(
        command,
        env={"PATH": "/usr/bin:/bin", **passthrough, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize("case", list(MUST_SHOW))
def test_each_named_mistake_stops_the_real_process_with_exit_2(tmp_path: Path, case: str) -> None:
    text, mode, expected = MUST_SHOW[case]
    path = _write(tmp_path / "staticip.toml", text, mode)
    env = {**_env(), "STATICIP_CONFIG": str(path), "DESK_SECRET": DESK_SECRET}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'bot.db'}"
    # One case through the installed `staticip-bot` script, the others through `-m bot`.
    result = _run_bot(env, tmp_path, entry_point=case == "unknown key")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("configuration error: STATICIP_CONFIG")
    assert expected in lines[0]
    assert DESK_SECRET not in result.stderr and "an-inline-secret" not in result.stderr
    assert not (tmp_path / "bot.db").exists()


def test_every_problem_of_the_file_is_reported_at_once(tmp_path: Path, secrets: None) -> None:
    text = (
        "[slack]\n"
        'approval_channel = "#general"\n'
        + _one("all")
        + _one("123", app_extra='  token_api_keys = ["short"]')
        + _one("family", extra='approvers = ["bob"]').replace("family-id", "all-id")
        + _one(
            "prop",
            app_extra='  [[accounts.apps]]\n  client_id = "x"\n'
            '  client_secret = "env:DESK_SECRET"\n  redirect_uri = "not a url"\n',
        )
    )
    problems = _problems(_write(tmp_path / "staticip.toml", text))
    expected = [
        "STATICIP_CONFIG slack.approval_channel: must be a channel ID like C0123ABCD",
        'STATICIP_CONFIG accounts[0] (all).name: "all" is a word of the commands',
        "STATICIP_CONFIG accounts[0] (all): has no approvers: list them in [slack] approvers",
        "STATICIP_CONFIG accounts[1] (123).name: must contain a letter",
        "STATICIP_CONFIG accounts[1] (123).apps[0].token_api_keys: every key must be at "
        "least 16 characters",
        "STATICIP_CONFIG accounts[2] (family).approvers: not a user ID (U…/W…) or user-group "
        "ID (S…): bob",
        "STATICIP_CONFIG accounts[2] (family).apps[0].client_id: is also the client_id of "
        "accounts[0] (all).apps[0]",
        "STATICIP_CONFIG accounts[3] (prop).apps[1].name: is required for every app but the "
        "bot's own",
    ]
    for line in expected:
        assert any(p.startswith(line) for p in problems), (line, problems)
    assert len(problems) == len(expected) + 2, problems  # and 123's and prop's approvers
    assert all(p.startswith("STATICIP_CONFIG") for p in problems)


def test_an_invalid_url_and_a_duplicate_app_name_name_their_key(
    tmp_path: Path, secrets: None
) -> None:
    second = (
        '  [[accounts.apps]]\n  name = "algo"\n  client_id = "{id}"\n'
        '  client_secret = "env:DESK_SECRET"\n  redirect_uri = "{uri}"\n'
    )
    text = SLACK + _one(
        app_extra=second.format(id="a1", uri="not a url") + second.format(id="a2", uri=CALLBACK)
    )
    problems = _problems(_write(tmp_path / "staticip.toml", text))
    assert any(
        p.startswith("STATICIP_CONFIG accounts[0] (desk).apps[1].redirect_uri: ") for p in problems
    ), problems
    assert any(
        p.startswith("STATICIP_CONFIG accounts[0] (desk).apps[2].name: 'algo' is also the name")
        for p in problems
    ), problems


def test_toml_syntax_error_gives_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "staticip.toml", SLACK + "[[accounts]]\nname = desk\n")
    (problem,) = _problems(path)
    assert problem.startswith(f"STATICIP_CONFIG: {path} is not valid TOML: ")
    assert "line 5" in problem


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    assert _problems(path) == [f"STATICIP_CONFIG: cannot read {path}: No such file or directory"]


def test_an_unknown_top_level_table_and_no_accounts(tmp_path: Path) -> None:
    path = _write(tmp_path / "staticip.toml", "[slak]\napprovers = []\n")
    assert _problems(path) == [
        "STATICIP_CONFIG slak: unknown key (the keys here are: slack, accounts)"
    ]
    path = _write(tmp_path / "staticip.toml", SLACK)
    assert _problems(path) == [
        f"STATICIP_CONFIG: {path} lists no accounts: add at least one [[accounts]] table"
    ]


def test_the_environment_account_variables_are_refused_beside_the_file(
    tmp_path: Path, secrets: None
) -> None:
    path = _write(tmp_path / "staticip.toml", SLACK + _one())
    problems = _problems(path, upstox_client_id="old-id", slack_approvers="UAPPROVER1")
    assert problems == [
        "UPSTOX_CLIENT_ID is set but STATICIP_CONFIG lists the accounts: unset one "
        "(in the file: accounts[].apps[].client_id)",
        "SLACK_APPROVERS is set but STATICIP_CONFIG lists the accounts: unset one "
        "(in the file: [slack] approvers, or an account's)",
    ]


def test_problems_of_the_environment_are_reported_with_the_files(
    tmp_path: Path, secrets: None
) -> None:
    path = _write(tmp_path / "staticip.toml", SLACK + '[[accounts]]\nname = "desk"\n')
    problems = _problems(path, slack_bot_token="nope")
    assert problems == [
        "STATICIP_CONFIG accounts[0] (desk): has no apps: add an [[accounts.apps]] table with "
        "the bot's own Upstox app (client_id, client_secret, redirect_uri)",
        'SLACK_BOT_TOKEN: must be a bot token starting with "xoxb-"',
    ]


def test_a_reference_may_be_in_the_dotenv_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "staticip.toml", SLACK + _one())
    dotenv = tmp_path / ".env"
    dotenv.write_text(f"DESK_SECRET={DESK_SECRET}\n")
    values = {k.lower(): v for k, v in _env().items()}
    settings = load_settings(_env_file=dotenv, staticip_config=str(path), **values)
    assert settings.accounts[0].apps[0].client_secret.get_secret_value() == DESK_SECRET


def _readme_example() -> str:
    section = (ROOT / "README.md").read_text().split("## Several accounts", 1)[1]
    return section.split("```toml\n", 1)[1].split("```", 1)[0]


def test_the_readme_example_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = _readme_example()
    for name in (
        "DESK_UPSTOX_SECRET",
        "DESK_TOKEN_KEY",
        "FAMILY_UPSTOX_SECRET",
        "PROP_SEED_TOKEN",
        "PROP_UPSTOX_SECRET",
        "PROP_ALGO_SECRET",
    ):
        assert f'"env:{name}"' in text
        monkeypatch.setenv(name, f"{name.lower()}-0123456789abcdef")
    assert "/srv/prop-algo/" in text  # a folder that exists here instead
    path = _write(
        tmp_path / "staticip.toml", text.replace("/srv/prop-algo/", f"{tmp_path}/"), 0o644
    )
    settings = _load(path)
    assert [a.name for a in settings.accounts] == ["desk", "family", "prop"]
    desk, family, prop = settings.accounts
    assert family.slack_approvers == ("U0PARENT01",)
    assert family.slack_approval_channel == "C0FAMILY01"
    assert desk.slack_approvers == ("U0123456789", "S0123456789")
    assert [app.name for app in prop.apps] == ["default", "algo"]
    assert prop.apps[1].token_file == tmp_path / "token.json"


def test_the_real_process_serves_the_accounts_of_the_file(
    env: dict[str, str], tmp_path: Path, http: httpx.Client
) -> None:
    """Started with a file of two accounts (secrets by reference and inline, mode 0600), the
    real process gets ready and logs none of the file's secrets."""
    family_secret = "family-inline-secret-0123456789"
    text = f"""
[slack]
approval_channel = "CAPPROVALS"
approvers = ["UAPPROVER1"]

[[accounts]]
name = "desk"
upstox_user_id = "EMU001"
upstox_access_token = "env:DESK_SEED"
  [[accounts.apps]]
  client_id = "{env["UPSTOX_CLIENT_ID"]}"
  client_secret = "env:DESK_SECRET"
  redirect_uri = "{env["UPSTOX_REDIRECT_URI"]}"

[[accounts]]
name = "family"
approvers = ["UPARENT01"]
  [[accounts.apps]]
  client_id = "family-id"
  client_secret = "{family_secret}"
  redirect_uri = "{env["UPSTOX_REDIRECT_URI"]}"
"""
    path = _write(tmp_path / "staticip.toml", text)
    process_env = {k: v for k, v in env.items() if k.lower() not in ACCOUNT_VARIABLES}
    process_env.update(
        STATICIP_CONFIG=str(path),
        DESK_SECRET=env["UPSTOX_CLIENT_SECRET"],
        DESK_SEED=env["UPSTOX_ACCESS_TOKEN"],
    )
    process = BotProcess(process_env, cwd=tmp_path)
    try:
        process.wait_ready(timeout=15)
        assert http.get(f"{process.base_url}/readyz").status_code == 200
    finally:
        process.kill()
    output = process.output()
    assert "configuration error" not in output
    for secret in (family_secret, env["UPSTOX_CLIENT_SECRET"], env["UPSTOX_ACCESS_TOKEN"]):
        assert secret not in output


def test_token_api_keys_may_be_one_reference_to_a_comma_separated_list(
    tmp_path: Path, secrets: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESK_KEYS", f"{DESK_KEY}, second-key-0123456789abc")
    path = _write(
        tmp_path / "staticip.toml", SLACK + _one(app_extra='  token_api_keys = "env:DESK_KEYS"')
    )
    (app,) = _load(path).accounts[0].apps
    assert [k.get_secret_value() for k in app.token_api_keys] == [
        DESK_KEY,
        "second-key-0123456789abc",
    ]


def test_a_named_first_app_is_not_silently_renamed_into_the_bots_own(tmp_path: Path) -> None:
    """With no app named "default" the first is the bot's own: a name of its own would
    never reach `GET /token/<name>` or `login <name>`, so it is refused."""
    path = _write(
        tmp_path / "staticip.toml",
        SLACK
        + f"""
[[accounts]]
name = "desk"
  [[accounts.apps]]
  name = "bot"
  client_id = "desk-id"
  client_secret = "inline-secret-0123456789"
  redirect_uri = "{CALLBACK}"
""",
    )
    [problem] = _problems(path)
    assert problem.startswith("STATICIP_CONFIG accounts[0] (desk).apps[0].name: the bot's own app")
    assert 'leave its name out, name it "default"' in problem
