"""Refuse malformed Slack bodies before Bolt sees them.

The signature has already been checked on the raw body (bot.edge), so only Slack — or
whoever holds the signing secret — gets this far, and a body that is not UTF-8 never does.
What is left is Bolt's own parsing: it reads fields such as `user.id`,
`authorizations[0]` or `actions[0].action_id` and raises (an HTTP 500 and a traceback)
on the wrong shapes, and `json` raises `RecursionError` on deep nesting. Slack never sends
such bodies, so refusing them with a 400 loses nothing.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

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
    text = raw_body.decode("utf-8", errors="replace")
    if "application/json" in (content_type or "") or text.lstrip().startswith("{"):
        return _json_object_problem(text, "the body")
    form = parse_qs(text, keep_blank_values=True)
    if "payload" not in form:
        # A slash command (or nothing Bolt will route): plain form fields.
        urls = form.get("response_url") or []
        return _response_url_problem(urls[-1] if urls else None)
    if len(form["payload"]) > 1:
        return "more than one `payload`"  # checked here, but Bolt would use the last one
    return _json_object_problem(form["payload"][0], "the payload")


def _json_object_problem(text: str, what: str) -> str | None:
    try:
        data = json.loads(text)
    except ValueError:
        return f"{what} is not JSON"
    except RecursionError:
        return f"{what} is nested too deeply"
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
    url_problem = _response_url_problem(data.get("response_url"))
    if url_problem is not None:
        return url_problem
    for name in ("user", "team", "channel", "enterprise"):
        inner = data.get(name)
        if isinstance(inner, dict) and "id" in inner and not isinstance(inner["id"], str | None):
            return f"`{name}.id` is not a string"
    authorizations = data.get("authorizations")
    if authorizations is not None and not (
        isinstance(authorizations, list) and all(isinstance(a, dict) for a in authorizations)
    ):
        return "`authorizations` is not a list of objects"
    event = data.get("event")
    if isinstance(event, dict):
        for name in ("type", "channel", "user"):
            if name in event and not isinstance(event[name], str | None):
                return f"`event.{name}` is not a string"
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


def _response_url_problem(value: object) -> str | None:
    """Slack's response_url is always an https URL of its own; anything that is not even a
    plain http(s) URL would make the answer itself fail (a traceback instead of a reply)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not value.isascii() or not value.isprintable():
        return "`response_url` is not a URL"
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.netloc or " " in value:
        return "`response_url` is not a URL"
    return None
