"""Slack's Block Kit limits, checked before a message or view leaves the bot (and in tests).

Slack rejects an over-long text or one block too many with `invalid_blocks`, and the user
sees nothing; slack_sdk's models catch most field limits but not the per-message block
count. So every builder's output can go through one checker:

    from bot.slack.limits import check_message, check_view, message_problems

    check_message({"text": "fallback", "blocks": [...]})   # raises BlockKitLimitError
    check_view({"type": "modal", "title": ..., "blocks": [...]})
    message_problems(payload)   # the same checks, as a list of strings (empty = fine)
    view_problems(view)

What is checked (https://docs.slack.dev/reference/block-kit/blocks):

- message: a non-empty top-level `text` fallback (≤ 40,000), ≤ 50 blocks;
- view (`modal` or `home`): ≤ 100 blocks; modal `title` (required), `submit`, `close`
  ≤ 24; `private_metadata` ≤ 3000; `callback_id`, `external_id` ≤ 255;
- every block: a known type; `block_id` ≤ 255; section `text` ≤ 3000 and `fields` ≤ 10
  items of ≤ 2000 each (a section needs text or fields); header text ≤ 150 and plain
  text; context ≤ 10 elements; actions ≤ 25 elements; no empty text object;
- every element, wherever it is: `action_id` ≤ 255 (unique within its block); button
  text ≤ 75, value ≤ 2000, url ≤ 3000, style `primary`/`danger`; confirm title 100,
  text 300, confirm/deny 30; option text 75 / value 150; ≤ 100 options per select;
- then each block is parsed with `slack_sdk.models.blocks.Block.parse` and validated
  with `to_dict()` (and a view with `slack_sdk.models.views.View`), which adds the SDK's
  own rules.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

MESSAGE_BLOCKS = 50
VIEW_BLOCKS = 100
MESSAGE_TEXT = 40_000
SECTION_TEXT = 3000
SECTION_FIELDS = 10
FIELD_TEXT = 2000
HEADER_TEXT = 150
CONTEXT_ELEMENTS = 10
ACTIONS_ELEMENTS = 25
ID_LENGTH = 255
BUTTON_TEXT = 75
BUTTON_VALUE = 2000
BUTTON_URL = 3000
CONFIRM_LIMITS = {"title": 100, "text": 300, "confirm": 30, "deny": 30}
OPTION_TEXT = 75
OPTION_VALUE = 150
OPTIONS_PER_SELECT = 100
MODAL_TEXT = 24
PRIVATE_METADATA = 3000

KNOWN_BLOCKS = frozenset(
    {
        "actions",
        "context",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "rich_text",
        "section",
        "video",
        "call",
        "markdown",
    }
)


class BlockKitLimitError(ValueError):
    """A payload Slack would reject; `problems` lists every reason, one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def check_message(payload: Mapping[str, Any]) -> None:
    """Raise BlockKitLimitError unless `payload` (text + blocks) is a valid message."""
    problems = message_problems(payload)
    if problems:
        raise BlockKitLimitError(problems)


def check_view(view: Mapping[str, Any]) -> None:
    """Raise BlockKitLimitError unless `view` is a valid modal or Home tab."""
    problems = view_problems(view)
    if problems:
        raise BlockKitLimitError(problems)


def message_problems(payload: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    text = payload.get("text")
    if not isinstance(text, str) or not text.strip():
        problems.append("message: a non-empty top-level `text` fallback is required")
    elif len(text) > MESSAGE_TEXT:
        problems.append(f"message: text is {len(text)} chars (max {MESSAGE_TEXT})")
    blocks = payload.get("blocks") or []
    if not isinstance(blocks, list):
        return [*problems, "message: blocks must be a list"]
    if len(blocks) > MESSAGE_BLOCKS:
        problems.append(f"message: {len(blocks)} blocks (max {MESSAGE_BLOCKS})")
    problems += _blocks_problems(blocks)
    return problems


def view_problems(view: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    kind = view.get("type")
    if kind not in ("modal", "home"):
        problems.append(f"view: type must be modal or home, not {kind!r}")
    blocks = view.get("blocks") or []
    if not isinstance(blocks, list):
        return [*problems, "view: blocks must be a list"]
    if len(blocks) > VIEW_BLOCKS:
        problems.append(f"view: {len(blocks)} blocks (max {VIEW_BLOCKS})")
    if kind == "modal" and "title" not in view:
        problems.append("view: a modal needs a title")
    for key in ("title", "submit", "close"):
        if key in view:
            problems += _text_problems(f"view.{key}", view[key], MODAL_TEXT)
    metadata = view.get("private_metadata")
    if isinstance(metadata, str) and len(metadata) > PRIVATE_METADATA:
        problems.append(f"view: private_metadata is {len(metadata)} chars (max 3000)")
    for key in ("callback_id", "external_id"):
        value = view.get(key)
        if isinstance(value, str) and len(value) > ID_LENGTH:
            problems.append(f"view: {key} is {len(value)} chars (max {ID_LENGTH})")
    problems += _blocks_problems(blocks)
    if not problems:
        try:
            View(**dict(view)).to_dict()
        except (SlackObjectFormationError, TypeError, ValueError) as exc:
            problems.append(f"view: slack_sdk rejects it: {exc}")
    return problems


def _blocks_problems(blocks: list[Any]) -> list[str]:
    problems: list[str] = []
    for index, block in enumerate(blocks):
        where = f"blocks[{index}]"
        if not isinstance(block, Mapping):
            problems.append(f"{where}: not an object")
            continue
        found = _block_problems(where, block)
        if not found:
            found = _sdk_problems(where, block)
        problems += found
    return problems


def _block_problems(where: str, block: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    kind = block.get("type")
    where = f"{where} ({kind})"
    if kind not in KNOWN_BLOCKS:
        return [f"{where}: unknown block type"]
    problems += _id_problem(where, "block_id", block.get("block_id"))
    if kind == "section":
        if "text" not in block and not block.get("fields"):
            problems.append(f"{where}: a section needs text or fields")
        if "text" in block:
            problems += _text_problems(f"{where}.text", block["text"], SECTION_TEXT)
        fields = block.get("fields") or []
        if len(fields) > SECTION_FIELDS:
            problems.append(f"{where}: {len(fields)} fields (max {SECTION_FIELDS})")
        for i, item in enumerate(fields):
            problems += _text_problems(f"{where}.fields[{i}]", item, FIELD_TEXT)
        if "accessory" in block:
            problems += _element_problems(f"{where}.accessory", block["accessory"])
    elif kind == "header":
        text = block.get("text")
        problems += _text_problems(f"{where}.text", text, HEADER_TEXT)
        if isinstance(text, Mapping) and text.get("type") != "plain_text":
            problems.append(f"{where}: header text must be plain_text")
    elif kind == "context":
        elements = block.get("elements") or []
        if not elements or len(elements) > CONTEXT_ELEMENTS:
            problems.append(f"{where}: {len(elements)} elements (1 to {CONTEXT_ELEMENTS})")
        for i, element in enumerate(elements):
            if isinstance(element, Mapping) and element.get("type") in ("mrkdwn", "plain_text"):
                problems += _text_problems(f"{where}.elements[{i}]", element, SECTION_TEXT)
    elif kind == "actions":
        elements = block.get("elements") or []
        if not elements or len(elements) > ACTIONS_ELEMENTS:
            problems.append(f"{where}: {len(elements)} elements (1 to {ACTIONS_ELEMENTS})")
        action_ids = [e.get("action_id") for e in elements if isinstance(e, Mapping)]
        present = [a for a in action_ids if a]
        if len(present) != len(set(present)):
            problems.append(f"{where}: action_id values must be unique within the block")
        for i, element in enumerate(elements):
            problems += _element_problems(f"{where}.elements[{i}]", element)
    elif kind == "input":
        problems += _text_problems(f"{where}.label", block.get("label"), 2000)
        if "element" in block:
            problems += _element_problems(f"{where}.element", block["element"])
    return problems


def _element_problems(where: str, element: Any) -> list[str]:
    if not isinstance(element, Mapping):
        return [f"{where}: not an object"]
    problems = _id_problem(where, "action_id", element.get("action_id"))
    kind = element.get("type")
    if kind == "button":
        problems += _text_problems(f"{where}.text", element.get("text"), BUTTON_TEXT)
        for key, limit in (("value", BUTTON_VALUE), ("url", BUTTON_URL)):
            value = element.get(key)
            if isinstance(value, str) and len(value) > limit:
                problems.append(f"{where}: button {key} is {len(value)} chars (max {limit})")
        style = element.get("style")
        if style is not None and style not in ("primary", "danger"):
            problems.append(f"{where}: button style must be primary or danger")
    if "confirm" in element:
        confirm = element["confirm"]
        if not isinstance(confirm, Mapping):
            problems.append(f"{where}.confirm: not an object")
        else:
            for key, limit in CONFIRM_LIMITS.items():
                if key in confirm:
                    problems += _text_problems(f"{where}.confirm.{key}", confirm[key], limit)
    options = element.get("options")
    if isinstance(options, list):
        if len(options) > OPTIONS_PER_SELECT:
            problems.append(f"{where}: {len(options)} options (max {OPTIONS_PER_SELECT})")
        for i, option in enumerate(options):
            problems += _option_problems(f"{where}.options[{i}]", option)
    return problems


def _option_problems(where: str, option: Any) -> list[str]:
    if not isinstance(option, Mapping):
        return [f"{where}: not an object"]
    problems = _text_problems(f"{where}.text", option.get("text"), OPTION_TEXT)
    value = option.get("value")
    if isinstance(value, str) and len(value) > OPTION_VALUE:
        problems.append(f"{where}: value is {len(value)} chars (max {OPTION_VALUE})")
    return problems


def _text_problems(where: str, text: Any, limit: int) -> list[str]:
    value: Any = None
    if isinstance(text, str):  # plain strings are accepted in a few places (e.g. titles)
        value = text
    elif isinstance(text, Mapping) and text.get("type") in ("mrkdwn", "plain_text"):
        value = text.get("text")
        if not isinstance(value, str):
            return [f"{where}: text object without a text string"]
    else:
        return [f"{where}: missing or not a text object"]
    if not value:
        return [f"{where}: empty text"]
    if len(value) > limit:
        return [f"{where}: {len(value)} chars (max {limit})"]
    return []


def _id_problem(where: str, key: str, value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, str) or not value:
        return [f"{where}: {key} must be a non-empty string"]
    if len(value) > ID_LENGTH:
        return [f"{where}: {key} is {len(value)} chars (max {ID_LENGTH})"]
    return []


def _sdk_problems(where: str, block: Mapping[str, Any]) -> list[str]:
    try:
        parsed = Block.parse(dict(block))
    except (SlackObjectFormationError, TypeError, ValueError, KeyError) as exc:
        return [f"{where}: slack_sdk cannot parse it: {exc}"]
    if parsed is None:
        return [f"{where}: slack_sdk does not know this block"]
    try:
        parsed.to_dict()
    except SlackObjectFormationError as exc:
        return [f"{where}: slack_sdk rejects it: {exc}"]
    return []


def iter_texts(payload: Mapping[str, Any]) -> Iterator[str]:
    """Every string in a payload (text, blocks, nested), for tests that look for content."""
    stack: list[Any] = [payload]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
