"""bot/slack/blocks.py: the parts clip outside text to Slack's limits, and the validation
every builder goes through catches what Slack would reject (slack_sdk's rules and the ones
it does not check)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.slack import blocks as bk
from bot.slack.blocks import InvalidBlocks, validate_message, validate_view

# -- the checker itself ----------------------------------------------------------------


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _button(**overrides: Any) -> dict[str, Any]:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": "Approve"},
        "action_id": "approve",
        "value": "approval:1",
        **overrides,
    }


VALID = {"text": "fallback", "blocks": [_section("hello")]}


def test_a_valid_message_passes() -> None:
    validate_message(VALID)


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ({"blocks": [_section("x")]}, "fallback"),
        ({"text": " ", "blocks": []}, "fallback"),
        ({"text": "t", "blocks": [_section("x")] * 51}, "51 blocks (max 50)"),
        ({"text": "t", "blocks": [_section("x" * 3001)]}, "cannot exceed 3000 characters"),
        ({"text": "t", "blocks": [_section("")]}, "empty text"),
        (
            {"text": "t", "blocks": [{"type": "section"}]},
            "text or fields attribute",
        ),
        (
            {
                "text": "t",
                "blocks": [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}],
            },
            "cannot exceed 10 items",
        ),
        (
            {
                "text": "t",
                "blocks": [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2001}]}],
            },
            "2001 chars (max 2000)",
        ),
        (
            {
                "text": "t",
                "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}],
            },
            "cannot exceed 150 characters",
        ),
        (
            {"text": "t", "blocks": [{"type": "header", "text": {"type": "mrkdwn", "text": "h"}}]},
            "plain_text",
        ),
        (
            {
                "text": "t",
                "blocks": [{"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11}],
            },
            "cannot exceed 10 elements",
        ),
        (
            {
                "text": "t",
                "blocks": [
                    {
                        "type": "actions",
                        "elements": [_button(text={"type": "plain_text", "text": "b" * 76})],
                    }
                ],
            },
            "cannot exceed 75 characters",
        ),
        (
            {"text": "t", "blocks": [{"type": "actions", "elements": [_button(value="v" * 2001)]}]},
            "value attribute cannot exceed 2000",
        ),
        (
            {
                "text": "t",
                "blocks": [
                    {"type": "actions", "elements": [_button(url="https://x/" + "u" * 3000)]}
                ],
            },
            "url attribute cannot exceed 3000",
        ),
        (
            {
                "text": "t",
                "blocks": [{"type": "actions", "elements": [_button(action_id="a" * 256)]}],
            },
            "action_id attribute cannot exceed 255",
        ),
        (
            {"text": "t", "blocks": [{**_section("x"), "block_id": "b" * 256}]},
            "block_id cannot exceed 255",
        ),
        (
            {"text": "t", "blocks": [{"type": "actions", "elements": [_button(), _button()]}]},
            "unique",
        ),
        (
            {"text": "t", "blocks": [{"type": "actions", "elements": [_button(style="green")]}]},
            "style",
        ),
        (
            {
                "text": "t",
                "blocks": [
                    {
                        "type": "actions",
                        "elements": [
                            _button(
                                confirm={
                                    "title": {"type": "plain_text", "text": "t"},
                                    "text": {"type": "plain_text", "text": "x" * 301},
                                    "confirm": {"type": "plain_text", "text": "Yes"},
                                    "deny": {"type": "plain_text", "text": "No"},
                                }
                            )
                        ],
                    }
                ],
            },
            "cannot exceed 300 characters",
        ),
        ({"text": "t", "blocks": [{"type": "nonsense"}]}, "unknown block type"),
        ({"text": "t", "blocks": [{"type": "carousel"}]}, "slack_sdk rejects it"),
    ],
)
def test_the_checker_catches_each_limit(payload: dict[str, Any], problem: str) -> None:
    with pytest.raises(InvalidBlocks) as caught:
        validate_message(payload)
    assert any(problem in p for p in caught.value.problems), caught.value.problems


def _modal(**overrides: Any) -> dict[str, Any]:
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Change static IPs"},
        "submit": {"type": "plain_text", "text": "Request"},
        "blocks": [_section("x")],
        **overrides,
    }


def test_views() -> None:
    validate_view(_modal())
    validate_view({"type": "home", "blocks": [_section("x")] * 100})
    cases = [
        (_modal(title={"type": "plain_text", "text": "t" * 25}), "between 1 and 24 characters"),
        (_modal(close={"type": "plain_text", "text": "c" * 25}), "close cannot exceed 24"),
        (_modal(private_metadata="m" * 3001), "private_metadata"),
        (_modal(callback_id="c" * 256), "callback_id"),
        (_modal(blocks=[_section("x")] * 101), "101 blocks (max 100)"),
        ({"type": "modal", "blocks": [_section("x")]}, "needs a title"),
        ({"type": "dialog", "blocks": [_section("x")]}, "modal or home"),
    ]
    for view, problem in cases:
        with pytest.raises(InvalidBlocks) as caught:
            validate_view(view)
        assert any(problem in p for p in caught.value.problems), (problem, caught.value)


def test_slack_sdk_rules_are_applied_too() -> None:
    # An image block without alt_text passes our own table but not slack_sdk's model.
    payload = {"text": "t", "blocks": [{"type": "image", "image_url": "https://x/y.png"}]}
    with pytest.raises(InvalidBlocks) as caught:
        validate_message(payload)
    assert "slack_sdk" in caught.value.problems[0]


# -- the parts and the builders' entry points --------------------------------------------

UPSTOX_RANT = "Upstox says: " + "<&> " * 5000  # 20,000 characters of outside text


def test_long_outside_text_is_clipped_and_the_message_stays_valid() -> None:
    payload = bk.message(
        UPSTOX_RANT,
        [
            bk.header(UPSTOX_RANT),
            bk.section(UPSTOX_RANT),
            bk.fields(UPSTOX_RANT, UPSTOX_RANT),
            bk.context(UPSTOX_RANT, UPSTOX_RANT),
            bk.actions(
                bk.button(
                    UPSTOX_RANT,
                    "a",
                    value="v",
                    confirm=bk.confirm(UPSTOX_RANT, UPSTOX_RANT, yes=UPSTOX_RANT, no="No"),
                )
            ),
        ],
    )
    validate_message(payload)
    header, section, fields, context, actions = payload["blocks"]
    assert len(header["text"]["text"]) == bk.HEADER_TEXT
    assert len(section["text"]["text"]) == bk.SECTION_TEXT
    assert section["text"]["text"].endswith("…")
    assert all(len(f["text"]) == bk.FIELD_TEXT for f in fields["fields"])
    assert all(len(e["text"]) == bk.SECTION_TEXT for e in context["elements"])
    button = actions["elements"][0]
    assert len(button["text"]["text"]) == bk.BUTTON_TEXT
    assert len(button["confirm"]["text"]["text"]) == bk.CONFIRM_TEXT
    assert len(button["confirm"]["confirm"]["text"]) == bk.CONFIRM_BUTTON


def test_a_long_fallback_text_is_clipped() -> None:
    payload = bk.message("x" * 50_000, [bk.section("hi")])
    assert len(payload["text"]) == bk.MESSAGE_TEXT


def test_a_long_view_title_is_clipped_and_the_view_stays_valid() -> None:
    view = bk.view("modal", [bk.section(UPSTOX_RANT)], title=UPSTOX_RANT, close="Close")
    validate_view(view)
    assert len(view["title"]["text"]) == bk.VIEW_TITLE


def test_the_builders_entry_points_raise_on_an_invalid_message() -> None:
    with pytest.raises(InvalidBlocks, match="51 blocks"):
        bk.message("t", [bk.section("x")] * 51)
    with pytest.raises(InvalidBlocks, match="fallback"):
        bk.text_and_blocks(" ", [bk.section("x")])
    with pytest.raises(InvalidBlocks, match="empty text"):
        bk.message("t", [bk.section("")])
    with pytest.raises(InvalidBlocks, match="unique"):
        bk.message("t", [bk.actions(bk.button("a", "same"), bk.button("b", "same"))])
    with pytest.raises(InvalidBlocks, match="101 blocks"):
        bk.view("home", [bk.divider()] * 101)
    with pytest.raises(InvalidBlocks, match="needs a title"):
        bk.view("modal", [bk.section("x")])


def test_plain_dict_blocks_are_validated_too() -> None:
    # Some callers pass on blocks another builder already turned into dicts.
    inner = bk.text_and_blocks("t", [bk.section("x")])[1]
    assert bk.view("modal", inner, title="t")["blocks"] == inner
    with pytest.raises(InvalidBlocks, match="cannot exceed 3000"):
        bk.view("modal", [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}])
