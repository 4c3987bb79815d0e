"""Block Kit parts built on `slack_sdk.models.blocks`, and the check every message and view
goes through when it is built (in production, not only in tests).

    from bot.slack import blocks as bk

    bk.message("fallback", [bk.header("Title"), bk.section(text), bk.context(note)])
    bk.view("modal", [bk.section(text)], title="staticip", close="Close")

The part builders clip outside text to Slack's field limits (a long Upstox message can
never make a message invalid). `message()` and `view()` turn the parts into the dicts the
Slack API takes and validate them: slack_sdk's own rules (`to_dict()` checks every field
limit it knows) plus what it does not check — ≤ 50 blocks per message, ≤ 100 per view, a
non-empty fallback text, no empty text object, header text in plain text, section fields
≤ 2000 characters, unique action_ids within a block. A payload that fails is a bug in a
builder: `InvalidBlocks` says every reason, and the tests that render each variant catch it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

__all__ = [
    "ActionsBlock",
    "Block",
    "ButtonElement",
    "InvalidBlocks",
    "Part",
    "SectionBlock",
    "actions",
    "button",
    "clip",
    "confirm",
    "context",
    "divider",
    "fields",
    "header",
    "message",
    "mrkdwn",
    "plain",
    "section",
    "text_and_blocks",
    "text_input",
    "validate_message",
    "validate_view",
    "view",
]

BlockDict = dict[str, Any]
Part = Block | Mapping[str, Any]

MESSAGE_BLOCKS = 50
VIEW_BLOCKS = 100
MESSAGE_TEXT = 40_000
SECTION_TEXT = 3000
FIELD_TEXT = 2000
HEADER_TEXT = 150
BUTTON_TEXT = 75
CONFIRM_TITLE = 100
CONFIRM_TEXT = 300
CONFIRM_BUTTON = 30
VIEW_TITLE = 24
LABEL_TEXT = 2000


class InvalidBlocks(ValueError):
    """A message or view Slack would reject; `problems` lists every reason, one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def clip(text: str, limit: int) -> str:
    """`text`, cut to at most `limit` characters (the cut marked with "…")."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- parts -------------------------------------------------------------------------------


def mrkdwn(text: str, limit: int = SECTION_TEXT) -> MarkdownTextObject:
    return MarkdownTextObject(text=clip(text, limit))


def plain(text: str, limit: int) -> PlainTextObject:
    return PlainTextObject(text=clip(text, limit))


def section(text: str, *, block_id: str | None = None) -> SectionBlock:
    return SectionBlock(text=mrkdwn(text), block_id=block_id)


def fields(*texts: str) -> SectionBlock:
    return SectionBlock(fields=[mrkdwn(t, FIELD_TEXT) for t in texts])


def context(*texts: str) -> ContextBlock:
    return ContextBlock(elements=[mrkdwn(t) for t in texts])


def header(text: str) -> HeaderBlock:
    return HeaderBlock(text=plain(text, HEADER_TEXT))


def divider() -> DividerBlock:
    return DividerBlock()


def actions(*elements: ButtonElement, block_id: str | None = None) -> ActionsBlock:
    return ActionsBlock(elements=list(elements), block_id=block_id)


def confirm(title: str, text: str, *, yes: str, no: str) -> ConfirmObject:
    return ConfirmObject(
        title=plain(title, CONFIRM_TITLE),
        text=mrkdwn(text, CONFIRM_TEXT),
        confirm=plain(yes, CONFIRM_BUTTON),
        deny=plain(no, CONFIRM_BUTTON),
    )


def button(
    text: str,
    action_id: str,
    *,
    value: str | None = None,
    url: str | None = None,
    style: str | None = None,
    confirm: ConfirmObject | None = None,
) -> ButtonElement:
    return ButtonElement(
        text=plain(text, BUTTON_TEXT),
        action_id=action_id,
        value=value,
        url=url,
        style=style,
        confirm=confirm,
    )


def text_input(
    block_id: str,
    label: str,
    *,
    action_id: str,
    optional: bool,
    hint: str,
    placeholder: str | None = None,
    multiline: bool = False,
    max_length: int | None = None,
) -> InputBlock:
    return InputBlock(
        block_id=block_id,
        label=plain(label, LABEL_TEXT),
        hint=plain(hint, LABEL_TEXT),
        optional=optional,
        element=PlainTextInputElement(
            action_id=action_id,
            placeholder=plain(placeholder, 150) if placeholder else None,
            multiline=multiline or None,
            max_length=max_length,
        ),
    )


def select_input(
    block_id: str,
    label: str,
    *,
    action_id: str,
    options: Sequence[str],
    initial: str | None = None,
) -> InputBlock:
    """A required pick of one of `options` (each shown and sent as itself)."""
    choices = [Option(value=o, text=plain(o, 75)) for o in options]
    chosen = next((c for c in choices if c.value == initial), None)
    return InputBlock(
        block_id=block_id,
        label=plain(label, LABEL_TEXT),
        element=StaticSelectElement(action_id=action_id, options=choices, initial_option=chosen),
    )


# -- whole messages and views ----------------------------------------------------------


def message(text: str, blocks: Sequence[Part]) -> BlockDict:
    """`{"text": fallback, "blocks": [...]}` for chat.postMessage and friends, validated."""
    payload = {"text": clip(text, MESSAGE_TEXT), "blocks": _dicts(blocks)}
    # A part built from slack_sdk's models was checked by its own `to_dict()` just now:
    # only the rules the SDK leaves out are left for it (parsing it back costs as much again).
    built = [isinstance(part, Block) for part in blocks]
    _raise_if_invalid(_message_problems(payload, built))
    return payload


def text_and_blocks(text: str, blocks: Sequence[Part]) -> tuple[str, list[BlockDict]]:
    """`message()` as the `(text, blocks)` pair many callers pass on."""
    payload = message(text, blocks)
    return payload["text"], payload["blocks"]


def view(
    kind: str,
    blocks: Sequence[Part],
    *,
    title: str | None = None,
    submit: str | None = None,
    close: str | None = None,
    callback_id: str | None = None,
) -> BlockDict:
    """A `modal` or `home` view as a dict for views.open/update/publish, validated."""
    built: BlockDict = {"type": kind, "blocks": _dicts(blocks)}
    for key, value in (("title", title), ("submit", submit), ("close", close)):
        if value is not None:
            built[key] = plain(value, VIEW_TITLE).to_dict()
    if callback_id is not None:
        built["callback_id"] = callback_id
    validate_view(built)
    return built


def validate_message(payload: Mapping[str, Any]) -> None:
    """Raise InvalidBlocks unless `payload` (text + blocks) is a message Slack accepts."""
    _raise_if_invalid(_message_problems(payload, ()))


def _raise_if_invalid(problems: list[str]) -> None:
    if problems:
        raise InvalidBlocks(problems)


def _message_problems(payload: Mapping[str, Any], built: Sequence[bool]) -> list[str]:
    problems: list[str] = []
    text = payload.get("text")
    if not isinstance(text, str) or not text.strip():
        problems.append("message: a non-empty top-level `text` fallback is required")
    elif len(text) > MESSAGE_TEXT:
        problems.append(f"message: text is {len(text)} chars (max {MESSAGE_TEXT})")
    blocks = payload.get("blocks") or []
    if len(blocks) > MESSAGE_BLOCKS:
        problems.append(f"message: {len(blocks)} blocks (max {MESSAGE_BLOCKS})")
    return problems + _blocks_problems(blocks, built)


def validate_view(view: Mapping[str, Any]) -> None:
    """Raise InvalidBlocks unless `view` is a modal or Home tab Slack accepts."""
    problems: list[str] = []
    kind = view.get("type")
    if kind not in ("modal", "home"):
        problems.append(f"view: type must be modal or home, not {kind!r}")
    if kind == "modal" and not view.get("title"):
        problems.append("view: a modal needs a title")
    blocks = view.get("blocks") or []
    if len(blocks) > VIEW_BLOCKS:
        problems.append(f"view: {len(blocks)} blocks (max {VIEW_BLOCKS})")
    problems += _blocks_problems(blocks)
    if not problems:
        try:
            View(**dict(view)).to_dict()
        except (SlackObjectFormationError, TypeError, ValueError) as exc:
            problems.append(f"view: slack_sdk rejects it: {exc}")
    if problems:
        raise InvalidBlocks(problems)


def _dicts(blocks: Sequence[Part]) -> list[BlockDict]:
    return [b.to_dict() if isinstance(b, Block) else dict(b) for b in blocks]


def _blocks_problems(blocks: Sequence[Any], built: Sequence[bool] = ()) -> list[str]:
    """What is wrong with each block; `built[i]`: block i came from a slack_sdk model whose
    `to_dict()` has already applied the SDK's checks."""
    problems: list[str] = []
    for index, block in enumerate(blocks):
        if not isinstance(block, Mapping):
            problems.append(f"blocks[{index}]: not an object")
            continue
        where = f"blocks[{index}] ({block.get('type')})"
        found = [f"{where}: {problem}" for problem in _unchecked_by_sdk(block)]
        checked = index < len(built) and built[index]
        if not found and not checked:  # slack_sdk's own message for these would be obscure
            try:
                parsed = Block.parse(dict(block))
                if parsed is None:
                    raise ValueError("unknown block type")
                parsed.to_dict()
            except (SlackObjectFormationError, TypeError, ValueError, KeyError) as exc:
                found.append(f"{where}: slack_sdk rejects it: {exc}")
        problems += found
    return problems


def _unchecked_by_sdk(block: Mapping[str, Any]) -> Iterator[str]:
    kind = block.get("type")
    for path, item in _text_objects(block):
        if not str(item.get("text") or "").strip():
            yield f"{path}: empty text"
    if kind == "header" and (block.get("text") or {}).get("type") != "plain_text":
        yield "header text must be plain_text"
    if kind == "section":
        for i, item in enumerate(block.get("fields") or []):
            if len(str(item.get("text", ""))) > FIELD_TEXT:
                yield f"fields[{i}]: {len(item['text'])} chars (max {FIELD_TEXT})"
    if kind == "actions":
        ids = [e.get("action_id") for e in block.get("elements") or [] if e.get("action_id")]
        if len(ids) != len(set(ids)):
            yield "action_id values must be unique within the block"


def _text_objects(item: Any, path: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    if isinstance(item, Mapping):
        if item.get("type") in ("mrkdwn", "plain_text"):
            yield path or "text", item
            return
        for key, value in item.items():
            yield from _text_objects(value, f"{path}.{key}" if path else key)
    elif isinstance(item, list):
        for i, value in enumerate(item):
            yield from _text_objects(value, f"{path}[{i}]")
