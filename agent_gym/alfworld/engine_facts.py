"""The engine's fact bookkeeping and display names of ALFWorld objects.

:class:`FactState` keeps the current facts with the same add/remove semantics as
textworld's ``PddlState``; :func:`demangle_names` names objects like alfworld's
``AlfredDemangler``; :class:`LazyFacts` is the facts list a grammar context carries.
(:mod:`agent_gym.alfworld.facts` reads facts out of a running game as plain tuples.)
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from agent_gym.errors import require

require("textworld", "alfworld")

import textworld.logic  # noqa: E402
from textworld.logic import Proposition  # noqa: E402


class FactLogic:
    """Minimal stand-in for textworld's pddl ``GameLogic`` as seen by a fact state."""

    def __init__(self, domain: str, types: textworld.logic.TypeHierarchy):
        self.domain = domain
        self.types = types


class FactState(textworld.logic.State):
    """textworld's fact bookkeeping (same add/remove semantics as ``PddlState``).

    Carries ``pddl_problem`` and ``_logic.domain`` like ``PddlState`` so that
    :func:`agent_gym.alfworld.facts.live_facts` accepts it.
    """

    def __init__(self, logic: FactLogic, pddl_problem: str):  # noqa: D107 - no type check on logic
        self._logic = logic
        self.pddl_problem = pddl_problem
        self._facts: defaultdict[Any, set[Proposition]] = defaultdict(set)
        self._vars_by_name: dict[str, Any] = {}
        self._vars_by_type: defaultdict[str, set[Any]] = defaultdict(set)
        self._var_counts: Counter[str] = Counter()
        self._sorted: dict[Any, list[Proposition]] = {}

    # textworld sorts a signature's facts on every grammar query; keep them sorted
    # per signature (sorting a sorted list is linear; the order is the same).
    def facts_with_signature(self, sig: Any) -> list[Proposition]:  # type: ignore[override]
        facts = self._sorted.get(sig)
        if facts is None:
            facts = self._sorted[sig] = sorted(self._facts.get(sig, ()))
        return facts

    def add_fact(self, prop: Proposition) -> None:
        super().add_fact(prop)
        self._sorted.pop(prop.signature, None)

    def remove_fact(self, prop: Proposition) -> None:
        super().remove_fact(prop)
        self._sorted.pop(prop.signature, None)

    def copy(self) -> FactState:
        other = FactState.__new__(FactState)
        other._logic = self._logic
        other.pddl_problem = self.pddl_problem
        other._facts = defaultdict(set, {k: v.copy() for k, v in self._facts.items()})
        other._vars_by_name = self._vars_by_name.copy()
        other._vars_by_type = defaultdict(set, {k: v.copy() for k, v in self._vars_by_type.items()})
        other._var_counts = self._var_counts.copy()
        other._sorted = dict(self._sorted)  # lists are never mutated, only replaced
        return other


# --------------------------------------------------------------------------- names
_ESCAPES = (("_bar_", "|"), ("_minus_", "-"), ("_plus_", "+"), ("_dot_", "."), ("_comma_", ","))


def demangle_names(ids: Iterable[str]) -> dict[str, str]:
    """Display names of PDDL object ids, numbered like alfworld's ``AlfredDemangler``.

    ``CounterTop_bar__minus_00_dot_08...`` -> ``countertop 1``: within a class, ids
    are numbered by sorted id, the first sorted id getting the highest number;
    ids without an instance part keep their text plus a trailing space
    (alfworld's own quirk). alfworld itself is not imported: importing it
    rewrites ``ALFWORLD_DATA``.
    """
    ordered = sorted(ids)
    counts: Counter[str] = Counter()
    for oid in ordered:
        parts = oid.split("_bar_", 1)
        if len(parts) > 1:
            name = parts[0] + ("basin" if "basin" in oid else "")
            counts[name] += 1
    numbers = {name: list(range(1, count + 1)) for name, count in counts.most_common()}
    out: dict[str, str] = {}
    for oid in ordered:
        text = oid
        for old, new in _ESCAPES:
            text = text.replace(old, new)
        parts = text.split("|", 1)
        if len(parts) == 1:
            out[oid] = f"{text} "
        else:
            name = parts[0] + ("basin" if "basin" in oid else "")
            out[oid] = f"{name} {numbers[name].pop()}"
    return out


class LazyFacts(Sequence):
    """``list(state.facts)`` made on first use (grammar contexts carry it but ALFWorld never reads it)."""

    def __init__(self, state: textworld.logic.State):
        self._state = state
        self._list: list[Proposition] | None = None

    def _items(self) -> list[Proposition]:
        if self._list is None:
            self._list = list(self._state.facts)
        return self._list

    def __getitem__(self, index):  # type: ignore[override]
        return self._items()[index]

    def __len__(self) -> int:
        return len(self._items())
