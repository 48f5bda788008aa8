"""Rewrite a game between the two ALFWorld grammars of placing.

The current release says ``move X to Y``; older releases (the ones published
ReAct/ETO/IPR prompts were written for) say ``put X in/on Y``. The
``pddl_problem`` is identical; only the grammar text differs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

_MOVE_TEMPLATE = 'template :: "move {o} to {r}";'
_PUT_TEMPLATE = 'template :: "put {o} in/on {r}";'
#: (current wording, older wording) pairs of the grammar text, applied in this order.
_WORDINGS = (
    (_MOVE_TEMPLATE, _PUT_TEMPLATE),
    ("You move the {o.name} to the {r.name}.", "You put the {o.name} in/on the {r.name}."),
    ("move (object) to (receptacle):  ", "put (object) in/on (receptacle):"),
)


def to_put_grammar(game: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``game`` whose grammar words placing as ``put X in/on Y`` (older releases)."""
    grammar = str(game["grammar"])
    if _MOVE_TEMPLATE not in grammar and _PUT_TEMPLATE not in grammar:
        raise ValueError("grammar has no 'move {o} to {r}' template to rewrite")
    return _rewrite(game, _WORDINGS, _move_to_put)


def to_move_grammar(game: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``game`` whose grammar words placing as ``move X to Y`` (current release)."""
    return _rewrite(game, [(old, new) for new, old in _WORDINGS], _put_to_move)


def _rewrite(
    game: Mapping[str, Any], replacements: Iterable[tuple[str, str]], command: Callable[[str], str]
) -> dict[str, Any]:
    """A copy of ``game`` with ``replacements`` applied to its grammar and ``command`` to its walkthrough."""
    out = dict(game)
    grammar = str(game["grammar"])
    for old, new in replacements:
        grammar = grammar.replace(old, new)
    out["grammar"] = grammar
    if isinstance(out.get("walkthrough"), list):
        out["walkthrough"] = [command(cmd) for cmd in out["walkthrough"]]
    return out


def _move_to_put(cmd: str) -> str:
    if cmd.startswith("move ") and " to " in cmd:
        obj, rec = cmd[len("move ") :].rsplit(" to ", 1)
        return f"put {obj} in/on {rec}"
    return cmd


def _put_to_move(cmd: str) -> str:
    if cmd.startswith("put ") and " in/on " in cmd:
        obj, rec = cmd[len("put ") :].rsplit(" in/on ", 1)
        return f"move {obj} to {rec}"
    return cmd
