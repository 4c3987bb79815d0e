"""Splitting `/staticip <subcommand> <args>`; pure, so it can be fuzzed on its own."""

from __future__ import annotations

SUBCOMMANDS = ("show", "set", "cancel", "history", "status", "login", "help")


def split_subcommand(text: str | None) -> tuple[str, str]:
    """Return (subcommand, rest). Empty text means `show`; case and spacing don't matter."""
    stripped = (text or "").strip()
    if not stripped:
        return "show", ""
    head, _, rest = stripped.partition(" ")
    return head.lower(), rest.strip()
