"""Refuse malformed Slack bodies before Bolt sees them.

Bolt parses the body — and reads fields such as `user.id` or `actions[0].action_id` out
of it — before it checks the signature, and it raises (an HTTP 500 and a traceback in the
log) on a `payload` that is not JSON, not an object, or has the wrong shapes. Anyone who
can reach /slack/events could cause that, signed or not. Slack itself never sends such
bodies, so refusing them with a 400 loses nothing.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

# Fields Bolt treats as objects when present.
_OBJECT_FIELDS = (
    "user",
    "team",
    "enterprise",
    "channel",
    "container",
    "message",
    "view",
    "event",
    "state",
)
_STRING_FIELDS = ("type", "response_url", "trigger_id", "api_app_id", "token", "callback_id")


def malformed_reason(raw_body: bytes, content_type: str | None) -> str | None:
    """Why Bolt could not safely handle this body, or None when it can."""
    try:
        text = raw_body.decode("utf-8")
    except UnicodeDecodeError:
        return "the body is not UTF-8"
    if "application/json" in (content_type or "") or text.lstrip().startswith("{"):
        return _json_object_problem(text, "the body")
    form = parse_qs(text, keep_blank_values=True)
    if "payload" not in form:
        return None  # a slash command (or nothing Bolt will route): plain form fields
    return _json_object_problem(form["payload"][0], "the payload")


def _json_object_problem(text: str, what: str) -> str | None:
    try:
        data = json.loads(text)
    except ValueError:
        return f"{what} is not JSON"
    if not isinstance(data, dict):
        return f"{what} is not a JSON object"
    return _shape_problem(data)


def _shape_problem(data: dict[str, Any]) -> str | None:
    for name in _OBJECT_FIELDS:
        if name in data and data[name] is not None and not isinstance(data[name], dict):
            return f"`{name}` is not an object"
    for name in _STRING_FIELDS:
        if name in data and data[name] is not None and not isinstance(data[name], str):
            return f"`{name}` is not a string"
    for name in ("user", "team", "channel", "enterprise"):
        inner = data.get(name)
        if isinstance(inner, dict) and "id" in inner and not isinstance(inner["id"], str | None):
            return f"`{name}.id` is not a string"
    actions = data.get("actions")
    if data.get("type") == "block_actions" or actions is not None:
        if not isinstance(actions, list) or not actions:
            return "`actions` is not a non-empty list"
        for action in actions:
            if not isinstance(action, dict):
                return "an action is not an object"
            if not isinstance(action.get("action_id"), str):
                return "an action has no `action_id`"
            for name in ("block_id", "type"):
                if name in action and not isinstance(action[name], str | None):
                    return f"`actions[].{name}` is not a string"
    return None
