"""Rewrite a game between the two ALFWorld grammars of placing.

The current release says ``move X to Y``; older releases (the ones published
ReAct/ETO/IPR prompts were written for) say ``put X in/on Y``. The
``pddl_problem`` is identical; only the grammar text differs.
"""

from __future__ import annotations

from typing import Any, Mapping

_MOVE_TEMPLATE = 'template :: "move {o} to {r}";'
_PUT_TEMPLATE = 'template :: "put {o} in/on {r}";'
_MOVE_FEEDBACK = "You move the {o.name} to the {r.name}."
_PUT_FEEDBACK = "You put the {o.name} in/on the {r.name}."


def to_put_grammar(game: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``game`` whose grammar words placing as ``put X in/on Y`` (older releases)."""
    out = dict(game)
    grammar = str(game["grammar"])
    if _MOVE_TEMPLATE not in grammar and _PUT_TEMPLATE not in grammar:
        raise ValueError("grammar has no 'move {o} to {r}' template to rewrite")
    grammar = grammar.replace(_MOVE_TEMPLATE, _PUT_TEMPLATE).replace(_MOVE_FEEDBACK, _PUT_FEEDBACK)
    grammar = grammar.replace("move (object) to (receptacle):  ", "put (object) in/on (receptacle):")
    out["grammar"] = grammar
    if isinstance(out.get("walkthrough"), list):
        out["walkthrough"] = [_move_to_put(cmd) for cmd in out["walkthrough"]]
    return out


def to_move_grammar(game: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``game`` whose grammar words placing as ``move X to Y`` (current release)."""
    out = dict(game)
    grammar = str(game["grammar"])
    grammar = grammar.replace(_PUT_TEMPLATE, _MOVE_TEMPLATE).replace(_PUT_FEEDBACK, _MOVE_FEEDBACK)
    grammar = grammar.replace("put (object) in/on (receptacle):", "move (object) to (receptacle):  ")
    out["grammar"] = grammar
    if isinstance(out.get("walkthrough"), list):
        out["walkthrough"] = [_put_to_move(cmd) for cmd in out["walkthrough"]]
    return out


def _move_to_put(cmd: str) -> str:
    if cmd.startswith("move ") and " to " in cmd:
        obj, rec = cmd[len("move "):].rsplit(" to ", 1)
        return f"put {obj} in/on {rec}"
    return cmd


def _put_to_move(cmd: str) -> str:
    if cmd.startswith("put ") and " in/on " in cmd:
        obj, rec = cmd[len("put "):].rsplit(" in/on ", 1)
        return f"move {obj} to {rec}"
    return cmd
