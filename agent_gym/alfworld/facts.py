"""Read the live PDDL facts of a running ALFWorld game.

textworld's ``PddlEnv`` keeps its current state in ``env._pddl_state`` (a
``textworld.envs.pddl.logic.PddlState``).  Fast Downward's translator lowercases
every name, so the facts it exposes say ``cancontain`` and
``sink_bar__minus_01_dot_11...``.  :func:`live_facts` maps them back to the
spelling of the game's own ``pddl_problem`` / ``pddl_domain`` so that callers can
compare them with ids parsed from the game file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

#: One fact: ``(predicate, (object_id, ...))`` spelled as in the game file.
Fact = tuple[str, tuple[str, ...]]

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_\-]*")
_CASE_CACHE: dict[tuple[int, ...], tuple[tuple[str, ...], dict[str, str]]] = {}


def _case_map(*texts: str) -> dict[str, str]:
    """lowercase name -> original spelling for every identifier in ``texts`` (cached per text object)."""
    key = tuple(id(t) for t in texts)
    hit = _CASE_CACHE.get(key)
    if hit is not None and all(a is b for a, b in zip(hit[0], texts)):
        return hit[1]
    names: dict[str, str] = {}
    for text in texts:
        for name in _NAME.findall(text):
            names.setdefault(name.lower(), name)
    if len(_CASE_CACHE) > 256:
        _CASE_CACHE.clear()
        _PROP_MEMO.clear()
    _CASE_CACHE[key] = (texts, names)  # keeps the texts alive, so their ids stay unique
    return names


def _find_pddl_state(state: Any) -> Any:
    """Accept a ``PddlState``, a ``PddlEnv`` or a textworld wrapper around one."""
    for _ in range(8):
        if hasattr(state, "pddl_problem") and hasattr(state, "facts"):
            return state
        inner = state.__dict__.get("_pddl_state") if hasattr(state, "__dict__") else None
        if inner is None and hasattr(state, "__dict__"):
            inner = state.__dict__.get("_wrapped_env")
        if inner is None:
            break
        state = inner
    raise TypeError(
        f"live_facts() expects textworld's PddlState (PddlEnv._pddl_state) or a PddlEnv, got {type(state).__name__}"
    )


def live_facts(state: Any) -> frozenset[Fact]:
    """The current facts of a textworld PDDL game state, with ids as in the game's ``pddl_problem``.

    ``state`` is the ``PddlState`` that textworld's ``PddlEnv`` keeps as
    ``_pddl_state`` (a ``PddlEnv`` or a wrapper around one is accepted too).
    Static facts (``objectType``, ``receptacleAtLocation``, ``canContain``...)
    are included, exactly like the planner sees them.
    """
    pddl_state = _find_pddl_state(state)
    logic = getattr(pddl_state, "_logic", None)
    domain = getattr(logic, "domain", "") or ""
    names = _case_map(pddl_state.pddl_problem, domain)
    return facts_from_propositions(pddl_state.facts, names)


def facts_from_propositions(propositions: Iterable[Any], names: dict[str, str] | None = None) -> frozenset[Fact]:
    """Convert textworld ``Proposition`` objects to :data:`Fact` tuples (``names`` restores spelling).

    Conversions are memoised per proposition object (most facts are static and
    the state keeps the same objects), which keeps this well under a millisecond.
    """
    names = names if names is not None else {}
    memo = _PROP_MEMO.setdefault(id(names), (names, {}))[1] if names else {}
    out = []
    for prop in propositions:
        hit = memo.get(id(prop))
        if hit is not None and hit[0] is prop:
            out.append(hit[1])
            continue
        args = tuple(names.get(v.name.strip(), v.name.strip()) for v in prop.arguments)
        fact = (names.get(prop.name, prop.name), args)
        if len(memo) > 200_000:
            memo.clear()
        memo[id(prop)] = (prop, fact)
        out.append(fact)
    return frozenset(out)


_PROP_MEMO: dict[int, tuple[dict[str, str], dict[int, tuple[Any, Fact]]]] = {}


def parse_problem_facts(pddl_problem: str) -> frozenset[Fact]:
    """The ``:init`` facts of a ``pddl_problem`` text (ids as written there)."""
    start = pddl_problem.find("(:init")
    end = pddl_problem.find("(:goal")
    if start < 0:
        raise ValueError("pddl_problem has no (:init ...) section")
    body = pddl_problem[start + len("(:init") : end if end > 0 else len(pddl_problem)]
    out = set()
    for match in re.finditer(r"\(\s*([A-Za-z][\w\-]*)((?:\s+[^\s()]+)*)\s*\)", body):
        out.add((match.group(1), tuple(match.group(2).split())))
    return frozenset(out)
