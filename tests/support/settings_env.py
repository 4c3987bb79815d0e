"""The environment variables the settings model reads, derived from the model itself."""

from __future__ import annotations

from pydantic import AliasChoices

from bot.config import Settings


def settings_env_names() -> dict[str, str]:
    """Environment variable name (upper case) → field name, for every field of Settings."""
    config = Settings.model_config
    assert not config.get("case_sensitive"), "names below are upper-cased"
    prefix = config.get("env_prefix", "")
    names: dict[str, str] = {}
    for field_name, field in Settings.model_fields.items():
        alias = field.validation_alias or field.alias
        if alias is None:
            choices = [f"{prefix}{field_name}"]  # pydantic-settings: prefix + field name
        elif isinstance(alias, str):
            choices = [alias]  # an alias replaces the prefixed name
        elif isinstance(alias, AliasChoices):
            choices = [c for c in alias.choices if isinstance(c, str)]
        else:
            raise AssertionError(f"{field_name}: alias {alias!r} not understood")
        for choice in choices:
            names[choice.upper()] = field_name
    return names


def refused_env_names() -> set[str]:
    """Variables the model reads only to refuse them (excluded from the settings' dump)."""
    fields = {name for name, field in Settings.model_fields.items() if field.exclude}
    return {env for env, field in settings_env_names().items() if field in fields}
