"""The change-request form's views: the form itself and the result it turns into.

The listeners (`bot.requests.listeners`) open it and handle its submission.
"""

from __future__ import annotations

from typing import Any

from bot.requests.service import MAX_REASON

CALLBACK_ID = "staticip_set"
FIELDS = ("primary", "secondary", "reason", "apply_at")
_ACTION = "value"

View = dict[str, Any]


def _input(block_id: str, label: str, *, optional: bool, hint: str, **element: Any) -> View:
    return {
        "type": "input",
        "block_id": block_id,
        "optional": optional,
        "label": {"type": "plain_text", "text": label},
        "hint": {"type": "plain_text", "text": hint},
        "element": {"type": "plain_text_input", "action_id": _ACTION, **element},
    }


def change_request_modal() -> View:
    return {
        "type": "modal",
        "callback_id": CALLBACK_ID,
        "title": {"type": "plain_text", "text": "Change static IPs"},
        "submit": {"type": "plain_text", "text": "Request"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": ":warning: Upstox allows one change per calendar week, and a "
                        "change logs out every Upstox session. An approver decides in the "
                        "approvals channel.",
                    }
                ],
            },
            _input(
                "primary",
                "New primary IP",
                optional=False,
                hint="The public IP your trading host uses, e.g. 8.8.8.8",
                placeholder={"type": "plain_text", "text": "8.8.8.8"},
                max_length=64,
            ),
            _input(
                "secondary",
                "New secondary IP (optional)",
                optional=True,
                hint="Leave empty to keep the registered secondary",
                max_length=64,
            ),
            _input(
                "reason",
                "Reason",
                optional=False,
                hint="Why the IPs must change; the approver sees this",
                multiline=True,
                max_length=MAX_REASON,
            ),
            _input(
                "apply_at",
                "Apply at (IST, optional)",
                optional=True,
                hint="Leave empty to apply on approval; e.g. 2026-12-05 16:00 to schedule it",
                placeholder={"type": "plain_text", "text": "2026-12-05 16:00"},
                max_length=20,
            ),
        ],
    }


REJECT_CALLBACK_ID = "staticip_reject"
REJECT_FIELD = "reject_reason"


def reject_modal(request_id: str, summary: str) -> View:
    """Reject with an optional reason; the request id rides in private_metadata (and is
    checked again on submission like any click)."""
    return {
        "type": "modal",
        "callback_id": REJECT_CALLBACK_ID,
        "private_metadata": request_id,
        "title": {"type": "plain_text", "text": "Reject the change"},
        "submit": {"type": "plain_text", "text": "Reject"},
        "close": {"type": "plain_text", "text": "Back"},
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": summary}},
            _input(
                REJECT_FIELD,
                "Reason (optional)",
                optional=True,
                hint="Shown on the card and in the history",
                multiline=True,
                max_length=MAX_REASON,
            ),
        ],
    }


def rejected_reason(view: View) -> str:
    values = (view.get("state") or {}).get("values") or {}
    value = (values.get(REJECT_FIELD) or {}).get(_ACTION) or {}
    return str(value.get("value") or "")


def result_modal(text: str) -> View:
    return {
        "type": "modal",
        "callback_id": f"{CALLBACK_ID}_result",
        "title": {"type": "plain_text", "text": "Change static IPs"},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
    }


def submitted_values(view: View) -> dict[str, str]:
    values = (view.get("state") or {}).get("values") or {}
    found = {}
    for field in FIELDS:
        value = (values.get(field) or {}).get(_ACTION) or {}
        found[field] = str(value.get("value") or "")
    return found
