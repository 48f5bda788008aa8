"""Parsing agent actions: ``search[keywords]`` and ``click[value]`` (case-insensitive)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from agent_gym.webshop.app import MAX_KEYWORDS_CHARS

_ACTION = re.compile(r"^\s*(search|click)\s*\[(.*)\]\s*$", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class Action:
    """A well-formed action: ``kind`` is ``"search"`` or ``"click"``; ``arg`` is lower-cased and trimmed."""

    kind: str
    arg: str


class ActionError(ValueError):
    """A malformed action; the message is shown to the agent."""


def _preview(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...") + (
        f" ({len(text)} characters)" if len(text) > limit else ""
    )


def parse_action(text: str) -> Action:
    """Parse one action string or raise :class:`ActionError` with a message for the agent."""
    match = _ACTION.match(text)
    if match is None:
        raise ActionError(
            f"could not parse {_preview(text)}: actions look like search[keywords] or click[value], "
            "with exactly one pair of square brackets"
        )
    kind, arg = match.group(1).lower(), " ".join(match.group(2).split()).lower()
    if "[" in arg or "]" in arg:
        raise ActionError(f"unbalanced or nested brackets in {_preview(text)}: use one pair, e.g. click[next >]")
    if kind == "search":
        if not arg:
            raise ActionError("search[] needs keywords, e.g. search[red running shoes]")
        if len(arg) > MAX_KEYWORDS_CHARS:
            raise ActionError(f"search keywords are too long ({len(arg)} characters, at most {MAX_KEYWORDS_CHARS})")
    elif not arg:
        raise ActionError("click[] needs the value of a button, e.g. click[buy now]")
    return Action(kind, arg)
