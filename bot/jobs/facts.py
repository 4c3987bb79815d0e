"""Services other parts of the bot provide, looked up by interface.

Issue-5's `runtime.requests` and issue-6's `runtime.login` may be absent (or not started)
in a given build; each check then degrades to "skip" instead of failing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.runtime import Runtime


def optional_service(runtime: Runtime, name: str) -> Any:
    """`runtime.<name>` if another part of the bot provides it (and it is started), else None."""
    try:
        return getattr(runtime, name, None)
    except Exception:  # a NotStartedError from a property
        return None
