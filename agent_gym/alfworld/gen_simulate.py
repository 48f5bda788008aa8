"""A small fact-level model of the ALFWorld PDDL domain, for checking generated games fast.

It applies the effects of the domain's actions (go to, open, take, put, clean,
heat, cool, use) to a set of facts with the same preconditions, and evaluates
a ``pddl_problem`` goal (existential conjunctions, ``not``, ``=``) directly, by
a backtracking join over the facts. It is independent of the oracle's own goal
reading, so "the oracle reaches the PDDL goal here" is a real check; the tests
confirm generated games on the stock engine as well.
"""

from __future__ import annotations

import functools
import itertools
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from agent_gym.alfworld.facts import Fact
from agent_gym.alfworld.oracle import AGENT, goal_text, parse_sexpr

_TOOLS = {"clean": ("SinkBasinType", "SinkType"), "heat": ("MicrowaveType",), "cool": ("FridgeType",)}
_EFFECT = {"clean": ("isClean", None), "heat": ("isHot", "isCool"), "cool": ("isCool", "isHot")}


class ActionFailed(RuntimeError):
    """A simulated action's precondition does not hold."""


class FactWorld:
    """Mutable facts with the ALFWorld action semantics."""

    def __init__(self, facts: Iterable[Fact]):
        self.facts: set[Fact] = set(facts)

    def _one(self, pred: str, first: str) -> str | None:
        for p, args in self.facts:
            if p == pred and args[0] == first:
                return args[1]
        return None

    def _has(self, pred: str, *args: str) -> bool:
        return (pred, tuple(args)) in self.facts

    def _at(self, rec: str) -> str:
        here = self._one("atLocation", AGENT)
        loc = self._one("receptacleAtLocation", rec)
        if loc is None or loc != here:
            raise ActionFailed(f"agent is not at {rec}")
        return loc

    def _usable(self, rec: str) -> None:
        if self._has("openable", rec) and not self._has("opened", rec):
            raise ActionFailed(f"{rec} is closed")

    def apply(self, kind: str, args: tuple[str, ...]) -> None:
        """Apply one oracle step ``(kind, ids)``; raises :class:`ActionFailed` on a broken precondition."""
        f = self.facts
        if kind == "goto":
            loc = self._one("receptacleAtLocation", args[0])
            if loc is None:
                raise ActionFailed(f"{args[0]} has no location")
            here = self._one("atLocation", AGENT)
            f.discard(("atLocation", (AGENT, here)))
            f.add(("atLocation", (AGENT, loc)))
        elif kind == "open":
            self._at(args[0])
            if not self._has("openable", args[0]) or self._has("opened", args[0]):
                raise ActionFailed(f"cannot open {args[0]}")
            f.add(("opened", (args[0],)))
            f.add(("checked", (args[0],)))
        elif kind == "take":
            obj, rec = args
            loc = self._at(rec)
            self._usable(rec)
            if (
                not self._has("pickupable", obj)
                or not self._has("inReceptacle", obj, rec)
                or self._has("holdsAny", AGENT)
            ):
                raise ActionFailed(f"cannot take {obj} from {rec}")
            f.discard(("inReceptacle", (obj, rec)))
            f.discard(("objectAtLocation", (obj, loc)))
            f.add(("holds", (AGENT, obj)))
            f.add(("holdsAny", (AGENT,)))
        elif kind == "put":
            obj, rec = args
            loc = self._at(rec)
            self._usable(rec)
            ot, rt = self._one("objectType", obj), self._one("receptacleType", rec)
            if not self._has("holds", AGENT, obj) or not self._has("canContain", rt or "", ot or ""):
                raise ActionFailed(f"cannot put {obj} in {rec}")
            f.add(("inReceptacle", (obj, rec)))
            f.add(("objectAtLocation", (obj, loc)))
            f.discard(("holds", (AGENT, obj)))
            f.discard(("holdsAny", (AGENT,)))
        elif kind in _TOOLS:
            obj, rec = args
            self._at(rec)
            able = {"clean": "cleanable", "heat": "heatable", "cool": "coolable"}[kind]
            if (
                not self._has(able, obj)
                or self._one("receptacleType", rec) not in _TOOLS[kind]
                or not self._has("holds", AGENT, obj)
            ):
                raise ActionFailed(f"cannot {kind} {obj} with {rec}")
            add, remove = _EFFECT[kind]
            f.add((add, (obj,)))
            if remove:
                f.discard((remove, (obj,)))
        elif kind == "use":
            lamp = args[0]
            lamp_rec = self._one("inReceptacle", lamp)
            if lamp_rec is None or not self._has("toggleable", lamp):
                raise ActionFailed(f"cannot use {lamp}")
            self._at(lamp_rec)
            if self._has("isOn", lamp):
                f.discard(("isOn", (lamp,)))
            else:
                f.add(("isOn", (lamp,)))
            f.add(("isToggled", (lamp,)))
        else:
            raise ActionFailed(f"unknown action kind {kind!r}")


# ---------------------------------------------------------------------------- goal evaluation
@functools.lru_cache(maxsize=256)
def _compiled_goal(pddl_problem: str) -> tuple[tuple, tuple]:
    """(positive atoms, negated atoms) of the goal, with scoped variable names."""
    pos: list = []
    neg: list = []
    _flatten(parse_sexpr(goal_text(pddl_problem))[0][1], {}, itertools.count(), pos, neg)
    return tuple(pos), tuple(neg)


def _flatten(node: Any, scope: dict[str, str], counter: itertools.count, pos: list, neg: list) -> None:
    head = node[0]
    if head == "and":
        for child in node[1:]:
            _flatten(child, scope, counter, pos, neg)
    elif head == "exists":
        inner = dict(scope)
        for tok in node[1]:
            if isinstance(tok, str) and tok.startswith("?"):
                inner[tok] = f"{tok}#{next(counter)}"
        for child in node[2:]:
            _flatten(child, inner, counter, pos, neg)
    elif head == "not":
        sub = node[1]
        neg.append((sub[0], tuple(scope.get(a, a) for a in sub[1:])))
    elif isinstance(head, str) and all(isinstance(a, str) for a in node[1:]):
        pos.append((head, tuple(scope.get(a, a) for a in node[1:])))
    else:
        raise ValueError(f"unsupported goal construct: {head}")


def goal_holds(pddl_problem: str, facts: Iterable[Fact]) -> bool:
    """Whether the ``(:goal ...)`` of ``pddl_problem`` holds in ``facts`` (existential conjunctions)."""
    pos, neg = _compiled_goal(pddl_problem)
    fact_set = facts if isinstance(facts, (set, frozenset)) else set(facts)
    preds = {p for p, _ in pos}
    by_pred: dict[str, list[tuple[str, ...]]] = defaultdict(list)
    by_first: dict[tuple[str, str], list[tuple[str, ...]]] = defaultdict(list)
    for pred, args in fact_set:
        if pred in preds:
            by_pred[pred].append(args)
            if args:
                by_first[(pred, args[0])].append(args)

    def value(a: str, binding: dict[str, str]) -> str | None:
        return binding.get(a) if a.startswith("?") else a

    def check_negs(binding: dict[str, str]) -> bool:
        for pred, args in neg:
            vals = tuple(binding.get(a, a) for a in args)
            if pred == "=":
                if vals[0] == vals[1]:
                    return False
            elif (pred, vals) in fact_set:
                return False
        return True

    def solve(remaining: tuple[int, ...], binding: dict[str, str]) -> bool:
        if not remaining:
            return check_negs(binding)
        # the atom with most bound arguments next
        best = max(remaining, key=lambda i: sum(value(a, binding) is not None for a in pos[i][1]))
        rest = tuple(i for i in remaining if i != best)
        pred, args = pos[best]
        first = value(args[0], binding) if args else None
        cands = by_first.get((pred, first), ()) if first is not None else by_pred.get(pred, ())
        for cand in cands:
            if len(cand) != len(args):
                continue
            new = dict(binding)
            ok = True
            for a, v in zip(args, cand):
                if a.startswith("?"):
                    if new.setdefault(a, v) != v:
                        ok = False
                        break
                elif a != v:
                    ok = False
                    break
            if ok and solve(rest, new):
                return True
        return False

    return solve(tuple(range(len(pos))), {})
